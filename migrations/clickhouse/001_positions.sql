-- Every accepted fix. ReplacingMergeTree keyed by vehicle and fix time makes a
-- replayed batch collapse into one row per fix whatever its batch boundaries
-- (reads that must be exact use FINAL); the per-batch insert_deduplication_token
-- drops exact replays at insert time already.
CREATE TABLE IF NOT EXISTS positions (
  org_id       UUID,
  vehicle_id   UUID,
  device_id    UUID,
  ts           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
  received_at  DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
  lat          Float64 CODEC(Gorilla, ZSTD(1)),
  lon          Float64 CODEC(Gorilla, ZSTD(1)),
  speed        Nullable(Float32),
  heading      Nullable(Float32),
  alt          Nullable(Float32),
  accuracy     Nullable(Float32),
  odometer     Nullable(Float64),
  ignition     Nullable(Bool),
  seq          Nullable(UInt32),
  h3           UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (org_id, vehicle_id, ts)
SETTINGS non_replicated_deduplication_window = 10000;
