-- One row per (rule, alert) that notified: written in the notification's
-- transaction, so a redelivered alert never notifies twice.
CREATE TABLE alert_rule_firings (
  rule_id   uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
  alert_id  text NOT NULL CHECK (length(alert_id) BETWEEN 1 AND 200),
  fired_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rule_id, alert_id)
);
