-- Driver onboarding: applicant -> background_check (pending | passed | failed) -> training
-- -> approved | rejected -> active <-> suspended.
CREATE TABLE drivers (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id                uuid NOT NULL REFERENCES organizations (id),
  name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  email                 text CHECK (length(email) <= 254),
  phone                 text CHECK (length(phone) <= 32),
  licence_number        text CHECK (length(licence_number) <= 64),
  state                 text NOT NULL DEFAULT 'applicant'
                        CHECK (state IN ('applicant', 'background_check', 'training', 'approved', 'rejected', 'active', 'suspended')),
  background_check      text CHECK (background_check IN ('pending', 'passed', 'failed')),
  background_check_ref  text UNIQUE CHECK (length(background_check_ref) <= 200),
  state_reason          text CHECK (length(state_reason) <= 1000),
  user_id               uuid UNIQUE REFERENCES users (id),
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX drivers_org_idx ON drivers (org_id, created_at, id);
CREATE INDEX drivers_org_name_idx ON drivers (org_id, name, id);

CREATE TABLE driver_training (
  driver_id     uuid NOT NULL REFERENCES drivers (id),
  module        text NOT NULL CHECK (length(module) BETWEEN 1 AND 100),
  assigned_at   timestamptz NOT NULL DEFAULT now(),
  completed_at  timestamptz,
  PRIMARY KEY (driver_id, module)
);

ALTER TABLE vehicles ADD COLUMN driver_id uuid REFERENCES drivers (id);
CREATE INDEX vehicles_driver_idx ON vehicles (driver_id) WHERE driver_id IS NOT NULL;
