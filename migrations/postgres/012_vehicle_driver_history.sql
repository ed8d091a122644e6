-- Who drove each vehicle when: kept by a trigger on vehicles.driver_id, so the
-- stream (and a replay of an old day) attributes trips and events to the driver
-- assigned at the time, whichever code path changed the assignment.
CREATE TABLE vehicle_driver_history (
  vehicle_id  uuid NOT NULL REFERENCES vehicles (id),
  org_id      uuid NOT NULL,
  driver_id   uuid NOT NULL REFERENCES drivers (id),
  from_ts     timestamptz NOT NULL,
  to_ts       timestamptz,
  PRIMARY KEY (vehicle_id, from_ts)
);
CREATE INDEX vehicle_driver_history_changed_idx ON vehicle_driver_history (coalesce(to_ts, from_ts));

INSERT INTO vehicle_driver_history (vehicle_id, org_id, driver_id, from_ts)
SELECT id, org_id, driver_id, now() FROM vehicles WHERE driver_id IS NOT NULL;

CREATE FUNCTION vehicle_driver_history_track() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.driver_id IS NOT DISTINCT FROM NEW.driver_id THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.driver_id IS NOT NULL THEN
    UPDATE vehicle_driver_history SET to_ts = clock_timestamp() WHERE vehicle_id = OLD.id AND to_ts IS NULL;
  END IF;
  IF NEW.driver_id IS NOT NULL THEN
    INSERT INTO vehicle_driver_history (vehicle_id, org_id, driver_id, from_ts) VALUES (NEW.id, NEW.org_id, NEW.driver_id, clock_timestamp());
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER vehicle_driver_history_track AFTER INSERT OR UPDATE OF driver_id ON vehicles
  FOR EACH ROW EXECUTE FUNCTION vehicle_driver_history_track();
