-- Documents of drivers (licence, certificates) and vehicles (registration, insurance):
-- metadata here, content in the document store (DATA_DIR/documents by default).
CREATE TABLE documents (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id        uuid NOT NULL REFERENCES organizations (id),
  owner_type    text NOT NULL CHECK (owner_type IN ('driver', 'vehicle')),
  owner_id      uuid NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('licence', 'certificate', 'registration', 'insurance', 'inspection', 'other')),
  filename      text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
  content_type  text NOT NULL,
  size_bytes    bigint NOT NULL CHECK (size_bytes > 0),
  sha256        text NOT NULL,
  storage_key   text NOT NULL UNIQUE,
  expires_on    date,
  uploaded_by   uuid,
  reminded_30   boolean NOT NULL DEFAULT false,
  reminded_7    boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_owner_idx ON documents (org_id, owner_type, owner_id, created_at, id);
CREATE INDEX documents_expiry_idx ON documents (expires_on) WHERE expires_on IS NOT NULL AND NOT reminded_7;
