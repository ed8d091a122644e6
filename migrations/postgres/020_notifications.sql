-- One row per notify() call: what happened, and to whom it was addressed (a user, or a role at send time).
CREATE TABLE notification_events (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id             uuid NOT NULL REFERENCES organizations (id),
  kind               text NOT NULL CHECK (length(kind) BETWEEN 3 AND 100),
  entity_type        text NOT NULL CHECK (length(entity_type) BETWEEN 1 AND 64),
  entity_id          text NOT NULL CHECK (length(entity_id) BETWEEN 1 AND 200),
  title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  body               text NOT NULL CHECK (length(body) <= 4000),
  data               jsonb NOT NULL DEFAULT '{}',
  recipient_user_id  uuid REFERENCES users (id),
  recipient_role     text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CHECK ((recipient_user_id IS NULL) <> (recipient_role IS NULL))
);
CREATE INDEX notification_events_org_idx ON notification_events (org_id, created_at);

-- A user's inbox: one row per recipient, resolved when the event was sent.
CREATE TABLE notifications (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id       uuid NOT NULL REFERENCES organizations (id),
  event_id     uuid NOT NULL REFERENCES notification_events (id),
  user_id      uuid NOT NULL REFERENCES users (id),
  kind         text NOT NULL,
  entity_type  text NOT NULL,
  entity_id    text NOT NULL,
  title        text NOT NULL,
  body         text NOT NULL,
  read_at      timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (event_id, user_id)
);
-- The inbox is read newest first, by cursor over (created_at, id); "unread" is the common filter.
CREATE INDEX notifications_inbox_idx ON notifications (org_id, user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (org_id, user_id, created_at DESC, id DESC) WHERE read_at IS NULL;
