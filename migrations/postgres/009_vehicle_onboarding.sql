-- Vehicle onboarding: draft -> in_review -> approved | rejected -> active <-> inactive -> retired.
-- Vehicles that existed before the workflow were already in use: they start active.
ALTER TABLE vehicles ADD COLUMN state text NOT NULL DEFAULT 'active'
  CHECK (state IN ('draft', 'in_review', 'approved', 'rejected', 'active', 'inactive', 'retired'));
ALTER TABLE vehicles ALTER COLUMN state SET DEFAULT 'draft';
ALTER TABLE vehicles ADD COLUMN reject_reason text CHECK (length(reject_reason) <= 1000);
ALTER TABLE vehicles ADD COLUMN make text CHECK (length(make) <= 64);
ALTER TABLE vehicles ADD COLUMN model text CHECK (length(model) <= 64);
ALTER TABLE vehicles ADD COLUMN year integer CHECK (year BETWEEN 1900 AND 2100);
CREATE INDEX vehicles_org_state_idx ON vehicles (org_id, state, created_at, id);
CREATE INDEX vehicles_org_name_idx ON vehicles (org_id, name, id);

-- Devices: firmware as reported or set, and who revoked or rotated last.
ALTER TABLE devices ADD COLUMN firmware text CHECK (length(firmware) <= 64);
ALTER TABLE devices ADD COLUMN secret_rotated_at timestamptz;
CREATE INDEX devices_org_idx ON devices (org_id, created_at, id);
