-- An order's activity: one row per change (created, assigned, each status step), by a user or the system.
CREATE TABLE order_activity (
  id           bigserial PRIMARY KEY,
  org_id       uuid NOT NULL REFERENCES organizations (id),
  order_id     uuid NOT NULL REFERENCES orders (id),
  actor_type   text NOT NULL CHECK (actor_type IN ('user', 'system')),
  actor_id     uuid,
  actor_email  text,
  kind         text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
  from_status  text,
  to_status    text,
  reason       text CHECK (length(reason) <= 1000),
  data         jsonb NOT NULL DEFAULT '{}',
  at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_activity_order_idx ON order_activity (org_id, order_id, id);

-- Append-only, like the audit log.
CREATE FUNCTION order_activity_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'order_activity is append-only';
END;
$$;
CREATE TRIGGER order_activity_no_update BEFORE UPDATE OR DELETE ON order_activity
  FOR EACH ROW EXECUTE FUNCTION order_activity_append_only();
CREATE TRIGGER order_activity_no_truncate BEFORE TRUNCATE ON order_activity
  FOR EACH STATEMENT EXECUTE FUNCTION order_activity_append_only();
