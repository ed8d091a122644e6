/** Publishing alerts for the live feed and the alert rules: every producer in the stream does it the same way. */
import type { Bus } from '../core/bus/bus.js'
import { TOPICS, type LiveAlertV1 } from '../schemas/topics.v1.js'

/** Keyed by vehicle; `decoded` spares the in-process bus's consumers parsing them again. */
export function publishAlerts(bus: Bus, alerts: LiveAlertV1[]): Promise<void> {
  if (alerts.length === 0) return Promise.resolve()
  return bus.publish(TOPICS.liveAlerts, alerts.map((a) => ({ key: a.vehicleId, decoded: a })))
}
