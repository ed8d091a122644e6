-- Where a dashcam clip starts (the device's clip.startTs), which was accepted
-- but not kept before. Null for events without a clip or without a start.
ALTER TABLE device_events ADD COLUMN IF NOT EXISTS clip_start_ts Nullable(DateTime64(3, 'UTC')) AFTER clip_duration_s;
