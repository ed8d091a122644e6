-- A device's id is its MQTT username; its secret is shown once and stored as SHA-256
-- (the secret is 256 random bits, so a slow KDF adds nothing but connect latency).
CREATE TABLE devices (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id        uuid NOT NULL REFERENCES organizations (id),
  vehicle_id    uuid REFERENCES vehicles (id),
  kind          text NOT NULL CHECK (kind IN ('gps', 'dashcam')),
  secret_hash   text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz,
  last_seen_at  timestamptz
);
CREATE INDEX devices_vehicle_idx ON devices (org_id, vehicle_id);
