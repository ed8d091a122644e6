-- An organization's areas: a GeoJSON polygon (outer ring first, then holes; each
-- ring closed, [lon, lat]) or a circle. The stream reloads the live ones
-- (deleted_at IS NULL) whenever max(updated_at) changes, so a delete is soft and
-- moves updated_at too.
CREATE TABLE geofences (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id           uuid NOT NULL REFERENCES organizations (id),
  name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind             text NOT NULL CHECK (kind IN ('polygon', 'circle')),
  polygon          jsonb CHECK (jsonb_typeof(polygon) = 'array'),
  center_lat       float8 CHECK (center_lat BETWEEN -90 AND 90),
  center_lon       float8 CHECK (center_lon BETWEEN -180 AND 180),
  radius_m         float8 CHECK (radius_m BETWEEN 10 AND 100000),
  -- Overspeed limit inside this geofence (overrides the organization's).
  speed_limit_kmh  real CHECK (speed_limit_kmh > 0 AND speed_limit_kmh <= 1000),
  -- Alert when a vehicle stays inside longer than this.
  dwell_alert_s    integer CHECK (dwell_alert_s > 0),
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  deleted_at       timestamptz,
  CHECK (CASE kind
    WHEN 'polygon' THEN polygon IS NOT NULL AND center_lat IS NULL AND center_lon IS NULL AND radius_m IS NULL
    ELSE polygon IS NULL AND center_lat IS NOT NULL AND center_lon IS NOT NULL AND radius_m IS NOT NULL
  END)
);
-- Cursor pagination of the live ones, by creation and by name.
CREATE INDEX geofences_org_idx ON geofences (org_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX geofences_org_name_idx ON geofences (org_id, name, id) WHERE deleted_at IS NULL;
-- The stream's change probe: max(updated_at).
CREATE INDEX geofences_updated_idx ON geofences (updated_at);
