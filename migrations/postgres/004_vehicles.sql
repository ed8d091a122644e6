CREATE TABLE vehicles (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id      uuid NOT NULL REFERENCES organizations (id),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  plate       text CHECK (length(plate) <= 32),
  vin         text CHECK (length(vin) <= 17),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Cursor pagination walks (org_id, created_at, id).
CREATE INDEX vehicles_org_idx ON vehicles (org_id, created_at, id);
