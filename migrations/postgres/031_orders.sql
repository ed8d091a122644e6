-- Dispatch orders: pending -> assigned -> picked_up -> in_transit -> delivered, or cancelled / failed with a reason.
-- Numbers come from one counter row per organization, taken (and so locked) in the creating transaction:
-- concurrent creates queue on it and every committed order gets the next number, without gaps.
CREATE TABLE order_counters (
  org_id       uuid PRIMARY KEY REFERENCES organizations (id),
  last_number  bigint NOT NULL
);

CREATE TABLE orders (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id           uuid NOT NULL REFERENCES organizations (id),
  seq              bigint NOT NULL CHECK (seq > 0),
  number           text NOT NULL,
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'assigned', 'picked_up', 'in_transit', 'delivered', 'cancelled', 'failed')),
  status_reason    text CHECK (length(status_reason) <= 1000),
  customer_ref     text NOT NULL CHECK (length(customer_ref) BETWEEN 1 AND 100),
  notes            text CHECK (length(notes) <= 2000),
  pickup_address   text NOT NULL CHECK (length(pickup_address) BETWEEN 1 AND 500),
  pickup_lat       double precision NOT NULL CHECK (pickup_lat BETWEEN -90 AND 90),
  pickup_lon       double precision NOT NULL CHECK (pickup_lon BETWEEN -180 AND 180),
  pickup_from      timestamptz NOT NULL,
  pickup_to        timestamptz NOT NULL,
  dropoff_address  text NOT NULL CHECK (length(dropoff_address) BETWEEN 1 AND 500),
  dropoff_lat      double precision NOT NULL CHECK (dropoff_lat BETWEEN -90 AND 90),
  dropoff_lon      double precision NOT NULL CHECK (dropoff_lon BETWEEN -180 AND 180),
  dropoff_from     timestamptz NOT NULL,
  dropoff_to       timestamptz NOT NULL,
  -- Computed by the server from the line items, never taken from a client.
  total_weight_kg  numeric NOT NULL DEFAULT 0,
  total_volume_m3  numeric NOT NULL DEFAULT 0,
  total_value      numeric NOT NULL DEFAULT 0,
  item_count       bigint NOT NULL DEFAULT 0,
  driver_id        uuid REFERENCES drivers (id),
  vehicle_id       uuid REFERENCES vehicles (id),
  -- The larger of weight / max weight and volume / max volume at assignment (null: capacity unknown).
  load_factor      numeric,
  assigned_at      timestamptz,
  picked_up_at     timestamptz,
  in_transit_at    timestamptz,
  delivered_at     timestamptz,
  closed_at        timestamptz,
  -- Delivered at or before the end of the drop-off window.
  on_time          boolean,
  created_by       uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, seq),
  UNIQUE (org_id, number),
  CHECK (pickup_from <= pickup_to),
  CHECK (dropoff_from <= dropoff_to),
  CHECK (pickup_from <= dropoff_to)
);
CREATE INDEX orders_org_idx ON orders (org_id, created_at, id);
CREATE INDEX orders_org_status_idx ON orders (org_id, status, created_at, id);
-- The overlap rule reads a driver's and a vehicle's open orders.
CREATE INDEX orders_driver_open_idx ON orders (driver_id) WHERE status IN ('assigned', 'picked_up', 'in_transit');
CREATE INDEX orders_vehicle_open_idx ON orders (vehicle_id) WHERE status IN ('assigned', 'picked_up', 'in_transit');

CREATE TABLE order_items (
  order_id        uuid NOT NULL REFERENCES orders (id),
  position        integer NOT NULL CHECK (position >= 0),
  description     text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
  quantity        integer NOT NULL CHECK (quantity > 0),
  unit_weight_kg  numeric NOT NULL CHECK (unit_weight_kg >= 0),
  unit_volume_m3  numeric NOT NULL CHECK (unit_volume_m3 >= 0),
  unit_value      numeric NOT NULL CHECK (unit_value >= 0),
  PRIMARY KEY (order_id, position)
);
