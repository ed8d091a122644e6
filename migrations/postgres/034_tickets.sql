-- Tickets from the driver app (or opened by support staff, or by the system for a dashcam event):
-- open -> in_progress -> resolved -> closed, and reopen.
CREATE TABLE tickets (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id           uuid NOT NULL REFERENCES organizations (id),
  status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
  category         text NOT NULL CHECK (category IN ('vehicle_issue', 'accident', 'delivery_issue', 'app_issue', 'safety', 'other')),
  priority         text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
  description      text NOT NULL CHECK (length(description) BETWEEN 1 AND 4000),
  source           text NOT NULL CHECK (source IN ('driver', 'staff', 'system')),
  opened_by        uuid REFERENCES users (id),
  -- The driver it is about (the driver who opened it from the app): that driver sees it.
  driver_id        uuid REFERENCES drivers (id),
  assignee_id      uuid REFERENCES users (id),
  vehicle_id       uuid REFERENCES vehicles (id),
  order_id         uuid REFERENCES orders (id),
  -- A dashcam event reference (the stream's alert id): free text, not a foreign key.
  event_ref        text CHECK (length(event_ref) BETWEEN 1 AND 200),
  resolved_at      timestamptz,
  closed_at        timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_org_idx ON tickets (org_id, created_at, id);
CREATE INDEX tickets_org_status_idx ON tickets (org_id, status, created_at, id);
CREATE INDEX tickets_driver_idx ON tickets (org_id, driver_id, created_at, id) WHERE driver_id IS NOT NULL;
-- One automatic ticket per event, however often the alert is replayed.
CREATE UNIQUE INDEX tickets_event_idx ON tickets (org_id, event_ref) WHERE source = 'system';

-- A ticket's timeline: opened, status steps, assignments, comments, photos. Append-only.
CREATE TABLE ticket_events (
  id           bigserial PRIMARY KEY,
  org_id       uuid NOT NULL REFERENCES organizations (id),
  ticket_id    uuid NOT NULL REFERENCES tickets (id),
  actor_type   text NOT NULL CHECK (actor_type IN ('user', 'system')),
  actor_id     uuid,
  actor_email  text,
  kind         text NOT NULL CHECK (kind IN ('opened', 'status', 'assigned', 'comment', 'photo')),
  from_status  text,
  to_status    text,
  body         text CHECK (length(body) <= 4000),
  data         jsonb NOT NULL DEFAULT '{}',
  at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_events_ticket_idx ON ticket_events (org_id, ticket_id, id);

CREATE FUNCTION ticket_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ticket_events is append-only';
END;
$$;
CREATE TRIGGER ticket_events_no_update BEFORE UPDATE OR DELETE ON ticket_events
  FOR EACH ROW EXECUTE FUNCTION ticket_events_append_only();
CREATE TRIGGER ticket_events_no_truncate BEFORE TRUNCATE ON ticket_events
  FOR EACH STATEMENT EXECUTE FUNCTION ticket_events_append_only();
