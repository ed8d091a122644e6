-- Derived facts of the stream analytics (stream/analytics). Each table is a
-- ReplacingMergeTree keyed by vehicle and the fact's own start time, so writing
-- a fact again (a redelivered batch, a recompute) replaces it: read with FINAL.
-- A recompute deletes the facts of the span it rewrites (lightweight DELETE).
CREATE TABLE IF NOT EXISTS trips (
  org_id         UUID,
  vehicle_id     UUID,
  driver_id      Nullable(UUID),
  start_ts       DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
  end_ts         DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
  start_lat      Float64 CODEC(Gorilla, ZSTD(1)),
  start_lon      Float64 CODEC(Gorilla, ZSTD(1)),
  end_lat        Float64 CODEC(Gorilla, ZSTD(1)),
  end_lon        Float64 CODEC(Gorilla, ZSTD(1)),
  start_h3       UInt64,
  distance_m     Float64,
  straight_m     Float64,
  duration_s     Float64,
  max_speed_kmh  Float32,
  avg_speed_kmh  Float32,
  version        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(start_ts)
ORDER BY (org_id, vehicle_id, start_ts);

CREATE TABLE IF NOT EXISTS stops (
  org_id      UUID,
  vehicle_id  UUID,
  driver_id   Nullable(UUID),
  start_ts    DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
  end_ts      DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
  lat         Float64 CODEC(Gorilla, ZSTD(1)),
  lon         Float64 CODEC(Gorilla, ZSTD(1)),
  h3          UInt64,
  duration_s  Float64,
  version     UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(start_ts)
ORDER BY (org_id, vehicle_id, start_ts);

CREATE TABLE IF NOT EXISTS idles (
  org_id      UUID,
  vehicle_id  UUID,
  driver_id   Nullable(UUID),
  start_ts    DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
  end_ts      DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
  lat         Float64 CODEC(Gorilla, ZSTD(1)),
  lon         Float64 CODEC(Gorilla, ZSTD(1)),
  duration_s  Float64,
  version     UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(start_ts)
ORDER BY (org_id, vehicle_id, start_ts);

-- Overspeed (value = top speed, threshold = the limit, km/h) and harsh
-- acceleration, braking and cornering (value = peak m/s², threshold = the setting).
CREATE TABLE IF NOT EXISTS driving_events (
  org_id       UUID,
  vehicle_id   UUID,
  driver_id    Nullable(UUID),
  kind         LowCardinality(String),
  ts           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
  end_ts       DateTime64(3, 'UTC'),
  lat          Float64,
  lon          Float64,
  value        Float32,
  threshold    Float32,
  speed_kmh    Float32,
  geofence_id  Nullable(UUID),
  version      UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (org_id, vehicle_id, ts, kind);

CREATE TABLE IF NOT EXISTS geofence_events (
  org_id       UUID,
  vehicle_id   UUID,
  driver_id    Nullable(UUID),
  geofence_id  UUID,
  kind         LowCardinality(String),
  ts           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
  enter_ts     DateTime64(3, 'UTC'),
  dwell_s      Float64,
  lat          Float64,
  lon          Float64,
  version      UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (org_id, vehicle_id, ts, geofence_id, kind);

-- One row per arrival at a destination: how good the ETA was (live only, not replayed).
CREATE TABLE IF NOT EXISTS eta_outcomes (
  org_id             UUID,
  vehicle_id         UUID,
  order_id           Nullable(UUID),
  set_at             DateTime64(3, 'UTC'),
  start_ts           DateTime64(3, 'UTC'),
  arrived_ts         DateTime64(3, 'UTC'),
  start_remaining_m  Float64,
  half_ts            Nullable(DateTime64(3, 'UTC')),
  half_eta_ts        Nullable(DateTime64(3, 'UTC')),
  -- (estimate at half way - actual arrival), seconds; and the time that was really left then.
  half_error_s       Nullable(Float64),
  half_remaining_s   Nullable(Float64)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(arrived_ts)
ORDER BY (org_id, vehicle_id, set_at);

-- Processor state at the end of each trip: where a recompute or a restart starts from.
CREATE TABLE IF NOT EXISTS vehicle_checkpoints (
  org_id      UUID,
  vehicle_id  UUID,
  ts          DateTime64(3, 'UTC'),
  state       String CODEC(ZSTD(3)),
  version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, vehicle_id, ts);

-- Fixes that arrived after their vehicle's reorder window: stored in positions
-- like any other, listed here, and their span recomputed.
CREATE TABLE IF NOT EXISTS late_fixes (
  org_id       UUID,
  vehicle_id   UUID,
  ts           DateTime64(3, 'UTC'),
  received_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (org_id, vehicle_id, ts);

-- Daily rollups, refreshed by the processor from the facts above for each
-- vehicle and day a batch touched; dashboards read these, never positions.
-- A fact counts on the UTC day it started.
CREATE TABLE IF NOT EXISTS vehicle_daily_kpis (
  org_id            UUID,
  day               Date,
  vehicle_id        UUID,
  trips             UInt32,
  distance_m        Float64,
  driving_s         Float64,
  idle_s            Float64,
  stops             UInt32,
  harsh_events      UInt32,
  overspeed_events  UInt32,
  overspeed_s       Float64,
  utilization       Float64,
  harsh_per_100km   Float64,
  safety_score      Float64,
  updated_at        DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, day, vehicle_id);

CREATE TABLE IF NOT EXISTS driver_daily_kpis (
  org_id            UUID,
  day               Date,
  driver_id         UUID,
  trips             UInt32,
  distance_m        Float64,
  driving_s         Float64,
  idle_s            Float64,
  stops             UInt32,
  harsh_events      UInt32,
  overspeed_events  UInt32,
  overspeed_s       Float64,
  utilization       Float64,
  harsh_per_100km   Float64,
  safety_score      Float64,
  updated_at        DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, day, driver_id);
