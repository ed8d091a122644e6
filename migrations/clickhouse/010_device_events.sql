-- Every accepted device event (a dashcam's collision, a panic button, ...).
-- ReplacingMergeTree keyed by the event's deterministic id (and its time) makes a
-- replayed batch or a resent event collapse into one row (reads that must be
-- exact use FINAL); the per-batch insert_deduplication_token drops exact replays
-- at insert time already.
CREATE TABLE IF NOT EXISTS device_events (
  org_id           UUID,
  vehicle_id       UUID,
  device_id        UUID,
  id               String,
  ts               DateTime64(3, 'UTC'),
  received_at      DateTime64(3, 'UTC'),
  type             LowCardinality(String),
  severity         LowCardinality(String),
  lat              Nullable(Float64),
  lon              Nullable(Float64),
  speed            Nullable(Float32),
  clip_url         Nullable(String),
  clip_duration_s  Nullable(Float32),
  detail           Nullable(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (org_id, vehicle_id, ts, id)
SETTINGS non_replicated_deduplication_window = 10000;
