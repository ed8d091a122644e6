-- Latest fix per vehicle, written by the stream; a late, older fix never replaces a newer one.
CREATE TABLE vehicle_positions (
  vehicle_id   uuid PRIMARY KEY REFERENCES vehicles (id),
  org_id       uuid NOT NULL REFERENCES organizations (id),
  device_id    uuid NOT NULL,
  ts           timestamptz NOT NULL,
  lat          double precision NOT NULL,
  lon          double precision NOT NULL,
  speed        real,
  heading      real,
  alt          real,
  accuracy     real,
  odometer     double precision,
  ignition     boolean,
  h3           text NOT NULL,
  received_at  timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vehicle_positions_org_idx ON vehicle_positions (org_id);
