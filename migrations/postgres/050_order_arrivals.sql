-- Telemetry on dispatch orders: when the stream saw the order's vehicle arrive
-- at the pickup (while assigned) and at the drop-off (while in transit), and the
-- dwell there (arrival to picked up, arrival to delivered), for the KPIs.
ALTER TABLE orders ADD COLUMN arrived_pickup_at timestamptz;
ALTER TABLE orders ADD COLUMN arrived_dropoff_at timestamptz;
ALTER TABLE orders ADD COLUMN pickup_dwell_s double precision
  GENERATED ALWAYS AS (extract(epoch FROM picked_up_at - arrived_pickup_at)) STORED;
ALTER TABLE orders ADD COLUMN dropoff_dwell_s double precision
  GENERATED ALWAYS AS (extract(epoch FROM delivered_at - arrived_dropoff_at)) STORED;
CREATE INDEX orders_org_delivered_idx ON orders (org_id, delivered_at) WHERE delivered_at IS NOT NULL;
