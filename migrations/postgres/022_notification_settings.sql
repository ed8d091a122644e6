-- Per organization: which kinds go to which channels, and its webhook endpoint.
CREATE TABLE notification_settings (
  org_id          uuid PRIMARY KEY REFERENCES organizations (id),
  channels        jsonb NOT NULL,
  webhook_url     text,
  -- The HMAC key must be readable to sign with; the API never shows more than its last 4 characters.
  webhook_secret  text,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CHECK ((webhook_url IS NULL) = (webhook_secret IS NULL))
);

-- Per user: contact details the channels need beyond the account's email.
CREATE TABLE notification_preferences (
  user_id     uuid PRIMARY KEY REFERENCES users (id),
  org_id      uuid NOT NULL REFERENCES organizations (id),
  phone       text CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
