-- Per organization: thresholds the stream's analytics use. No row = the defaults.
CREATE TABLE analytics_settings (
  org_id               uuid PRIMARY KEY REFERENCES organizations (id),
  overspeed_limit_kmh  real NOT NULL DEFAULT 90 CHECK (overspeed_limit_kmh > 0 AND overspeed_limit_kmh <= 1000),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
