-- Where a vehicle is heading, for the stream's ETA. One per vehicle; deleting the
-- row clears it. The stream polls max(updated_at) and count(*) to see changes.
CREATE TABLE vehicle_destinations (
  vehicle_id  uuid PRIMARY KEY REFERENCES vehicles (id),
  org_id      uuid NOT NULL REFERENCES organizations (id),
  lat         float8 NOT NULL CHECK (lat BETWEEN -90 AND 90),
  lon         float8 NOT NULL CHECK (lon BETWEEN -180 AND 180),
  radius_m    float8 NOT NULL DEFAULT 100 CHECK (radius_m BETWEEN 10 AND 100000),
  -- Set by dispatch orders; the REST route sets NULL. No foreign key yet: orders land in their own migration.
  order_id    uuid,
  set_at      timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vehicle_destinations_org_idx ON vehicle_destinations (org_id);
