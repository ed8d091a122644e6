-- Who is told about which live alerts (live.alerts.v1): the API's alert-rule
-- evaluator matches every alert against its organization's active rules.
CREATE TABLE alert_rules (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id             uuid NOT NULL REFERENCES organizations (id),
  name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- ALERT_KINDS of schemas/topics.v1.ts; a new kind there needs a migration here.
  kind               text NOT NULL CHECK (kind IN ('overspeed', 'harsh_acceleration', 'harsh_braking', 'harsh_cornering', 'idling',
                       'geofence_enter', 'geofence_exit', 'geofence_dwell', 'device_event', 'device_offline')),
  -- Only alerts of this geofence.
  geofence_id        uuid REFERENCES geofences (id),
  -- {"from": "08:00", "to": "18:00", "timeZone": "Europe/Berlin"}: fire only when the alert's time is outside that local window.
  outside_hours      jsonb CHECK (jsonb_typeof(outside_hours) = 'object'),
  min_severity       text NOT NULL DEFAULT 'info' CHECK (min_severity IN ('info', 'warning', 'critical')),
  recipient_role     text CHECK (length(recipient_role) BETWEEN 1 AND 64),
  recipient_user_id  uuid REFERENCES users (id),
  active             boolean NOT NULL DEFAULT true,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CHECK ((recipient_role IS NULL) <> (recipient_user_id IS NULL))
);
CREATE INDEX alert_rules_org_idx ON alert_rules (org_id, created_at, id);
-- The evaluator loads an organization's active rules.
CREATE INDEX alert_rules_active_idx ON alert_rules (org_id) WHERE active;
CREATE INDEX alert_rules_geofence_idx ON alert_rules (geofence_id) WHERE geofence_id IS NOT NULL;
