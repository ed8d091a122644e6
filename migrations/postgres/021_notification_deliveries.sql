-- One row per (event, channel, target): where a notification goes, and how that went.
-- pending -> (retrying ->)* delivered | dead; the job queue holds the next attempt.
CREATE TABLE notification_deliveries (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id              uuid NOT NULL REFERENCES organizations (id),
  event_id            uuid NOT NULL REFERENCES notification_events (id),
  -- The recipient's inbox row; null for the organization's webhook.
  notification_id     uuid REFERENCES notifications (id),
  channel             text NOT NULL CHECK (channel IN ('in_app', 'email', 'sms', 'webhook')),
  -- User id, email address, phone number or webhook URL, as it was when the event was sent.
  target              text NOT NULL,
  status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'retrying', 'delivered', 'dead')),
  attempts            integer NOT NULL DEFAULT 0,
  max_attempts        integer NOT NULL CHECK (max_attempts >= 1),
  next_attempt_at     timestamptz,
  last_response_code  integer,
  last_error          text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  delivered_at        timestamptz
);
CREATE INDEX notification_deliveries_event_idx ON notification_deliveries (event_id);
CREATE INDEX notification_deliveries_open_idx ON notification_deliveries (org_id, status) WHERE status IN ('pending', 'retrying', 'dead');

-- The delivery log: one row per attempt.
CREATE TABLE notification_delivery_attempts (
  id             bigserial PRIMARY KEY,
  delivery_id    uuid NOT NULL REFERENCES notification_deliveries (id),
  attempt        integer NOT NULL CHECK (attempt >= 1),
  status         text NOT NULL CHECK (status IN ('delivered', 'failed')),
  response_code  integer,
  error          text,
  started_at     timestamptz NOT NULL,
  finished_at    timestamptz NOT NULL DEFAULT now(),
  -- A redelivered job can never log the same attempt twice.
  UNIQUE (delivery_id, attempt)
);
