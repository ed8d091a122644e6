/**
 * Device offline alerts: a vehicle whose last fix arrived more than
 * `offlineAfterMs` ago is announced once on live.alerts.v1 (kind
 * `device_offline`). The check reads the latest positions in Postgres every
 * `checkEveryMs` and announces the vehicles that crossed the line since the
 * previous check; the alert id (vehicle and last arrival) is the same from
 * every stream process, so a consumer keeps one.
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import type { Bus } from '../../core/bus/bus.js'
import { publishAlerts } from '../alerts.js'
import type { LiveAlertV1 } from '../../schemas/topics.v1.js'

const LOOKBACK_MS = 3_600_000

export interface OfflineWatchOptions {
  pool: pg.Pool
  bus: Bus
  logger: Logger
  offlineAfterMs: number
  checkEveryMs: number
}

export function startOfflineWatch(o: OfflineWatchOptions): { stop(): void; check(): Promise<number> } {
  const log = o.logger.child({ component: 'offline-watch' })
  // A process that starts (or restarts) looks an hour back, so vehicles that went
  // quiet while no stream ran are announced too (again, with the same ids, if one did).
  let since = new Date(Date.now() - o.offlineAfterMs - LOOKBACK_MS)
  const check = async (): Promise<number> => {
    const until = new Date(Date.now() - o.offlineAfterMs)
    const { rows } = await o.pool.query<{ vehicle_id: string; org_id: string; received_at: Date; lat: number; lon: number; driver_id: string | null }>(
      `SELECT p.vehicle_id, p.org_id, p.received_at, p.lat, p.lon, v.driver_id
         FROM vehicle_positions p JOIN vehicles v ON v.id = p.vehicle_id
        WHERE p.received_at >= $1 AND p.received_at < $2 AND v.state <> 'retired'`,
      [since, until],
    )
    if (rows.length === 0) {
      since = until
      return 0
    }
    const alerts: LiveAlertV1[] = rows.map((r) => ({
      id: `${r.vehicle_id}:device_offline:${r.received_at.getTime()}`, orgId: r.org_id, vehicleId: r.vehicle_id, kind: 'device_offline',
      severity: 'warning', ts: r.received_at.getTime() + o.offlineAfterMs, lat: r.lat, lon: r.lon,
      message: `No fix for ${Math.round(o.offlineAfterMs / 60_000)} min`, geofenceId: null, driverId: r.driver_id,
    }))
    await publishAlerts(o.bus, alerts)
    since = until
    return alerts.length
  }
  const timer = setInterval(() => void check().catch((err: unknown) => log.warn({ err }, 'offline check failed; the next one covers its span')), o.checkEveryMs)
  timer.unref()
  return { stop: () => clearInterval(timer), check }
}
