-- Replays of the stream analytics, asked for over REST (or the CLI, which calls
-- REST) and run by the stream process that owns the vehicles' state.
CREATE TABLE analytics_replays (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id          uuid NOT NULL REFERENCES organizations (id),
  requested_by    uuid REFERENCES users (id),
  vehicle_ids     uuid[] NOT NULL,
  from_ts         timestamptz NOT NULL,
  to_ts           timestamptz NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
  vehicles_done   integer NOT NULL DEFAULT 0,
  fixes_read      bigint NOT NULL DEFAULT 0,
  error           text,
  claimed_by      text,
  heartbeat_at    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz
);
CREATE INDEX analytics_replays_org_idx ON analytics_replays (org_id, created_at, id);
CREATE INDEX analytics_replays_pending_idx ON analytics_replays (created_at) WHERE status IN ('pending', 'running');

-- Bumped for each vehicle a replay rewrote: a stream process holding that
-- vehicle's state in memory reloads it.
CREATE TABLE vehicle_analytics_epochs (
  vehicle_id  uuid PRIMARY KEY,
  epoch       bigint NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
