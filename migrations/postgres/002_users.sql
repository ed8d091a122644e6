CREATE TABLE users (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id             uuid NOT NULL REFERENCES organizations (id),
  email              text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  name               text NOT NULL DEFAULT '',
  password_hash      text NOT NULL,
  role               text NOT NULL,
  is_platform_admin  boolean NOT NULL DEFAULT false,
  active             boolean NOT NULL DEFAULT true,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
-- Login is by email alone, so an email is unique across organizations.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_org_idx ON users (org_id, created_at, id);
