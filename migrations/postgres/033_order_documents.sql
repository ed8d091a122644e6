-- Documents also belong to orders (proof of delivery) and tickets (photos).
ALTER TABLE documents DROP CONSTRAINT documents_owner_type_check;
ALTER TABLE documents ADD CONSTRAINT documents_owner_type_check CHECK (owner_type IN ('driver', 'vehicle', 'order', 'ticket'));
ALTER TABLE documents DROP CONSTRAINT documents_kind_check;
ALTER TABLE documents ADD CONSTRAINT documents_kind_check
  CHECK (kind IN ('licence', 'certificate', 'registration', 'insurance', 'inspection', 'other', 'proof_of_delivery', 'photo'));

-- Proof of delivery: the document and who took the goods.
ALTER TABLE orders ADD COLUMN pod_document_id uuid REFERENCES documents (id);
ALTER TABLE orders ADD COLUMN pod_recipient text CHECK (length(pod_recipient) BETWEEN 1 AND 200);
ALTER TABLE orders ADD COLUMN pod_at timestamptz;
