/**
 * What the detector reads about the world, kept in memory and refreshed in the
 * background: per-organization limits, geofences (as an H3 index), vehicle
 * destinations, who drove which vehicle when (Postgres), and the speeds the
 * fleet's trips have shown per place and hour of week (ClickHouse). A change
 * made over REST applies within one refresh interval, without a restart.
 */
import { latLngToCell } from 'h3-js'
import type pg from 'pg'
import type { Logger } from 'pino'
import { h3ToUInt64 } from '../../core/geo.js'
import type { AnalyticsRepository } from './analytics.repository.js'
import type { AnalyticsSettings, Destination, DetectorEnv, GeofenceHit } from './detector.js'
import { GeofenceIndex, type GeofenceDef } from './geofences.js'

export interface SurroundingsOptions {
  settings: AnalyticsSettings
  defaultOverspeedKmh: number
  /** Postgres re-read interval. */
  refreshMs: number
  /** ClickHouse speed profile re-read interval. */
  profileRefreshMs: number
}

const DEFAULT_SPEED_KMH = 30
const DEFAULT_DETOUR = 1.3
const UNDEFINED_TABLE = '42P01'
const FULL_RELOAD_MS = 30_000

const hourOfWeek = (ts: number): number => {
  const d = new Date(ts)
  return ((d.getUTCDay() + 6) % 7) * 24 + d.getUTCHours()
}

interface Mean { sum: number; n: number }
const addTo = (m: Map<string, Mean>, key: string, kmh: number, n: number) => {
  const e = m.get(key) ?? { sum: 0, n: 0 }
  e.sum += kmh * n
  e.n += n
  m.set(key, e)
}

export class Surroundings {
  private limits = new Map<string, number>()
  private geofences = new GeofenceIndex([])
  private geofenceStamp = ''
  private destinations = new Map<string, Destination>()
  private destinationStamp = ''
  private geofencesLoadedAt = 0
  private driversStamp = ''
  private driversLoadedAt = 0
  private destinationsLoadedAt = 0
  /** vehicle -> assignments, oldest first */
  private drivers = new Map<string, Array<{ driverId: string; from: number; to: number }>>()
  private speeds = new Map<string, Mean>()
  private detour = new Map<string, number>()
  private timers: NodeJS.Timeout[] = []
  private readonly log: Logger

  constructor(
    private readonly pool: pg.Pool,
    private readonly repository: AnalyticsRepository,
    private readonly options: SurroundingsOptions,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'analytics-surroundings' })
  }

  async start(): Promise<void> {
    await Promise.all([this.refresh(), this.refreshProfile()])
    const every = (ms: number, fn: () => Promise<void>) => {
      const t = setInterval(() => void fn().catch((err: unknown) => this.log.warn({ err }, 'refresh failed; keeping what was loaded')), ms)
      t.unref()
      this.timers.push(t)
    }
    every(this.options.refreshMs, () => this.refresh())
    every(this.options.profileRefreshMs, () => this.refreshProfile())
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t)
    this.timers = []
  }

  /** Re-reads whatever changed in Postgres. */
  async refresh(): Promise<void> {
    await Promise.all([this.loadLimits(), this.loadGeofences(), this.loadDestinations(), this.loadDrivers()])
  }

  async refreshProfile(): Promise<void> {
    const { cells, detour } = await this.repository.speedProfile()
    const speeds = new Map<string, Mean>()
    for (const c of cells) {
      addTo(speeds, `${c.orgId}/${c.cell}/${c.how}`, c.kmh, c.n)
      addTo(speeds, `${c.orgId}/${c.cell}`, c.kmh, c.n)
      addTo(speeds, `${c.orgId}//${c.how}`, c.kmh, c.n)
      addTo(speeds, `${c.orgId}`, c.kmh, c.n)
    }
    this.speeds = speeds
    this.detour = new Map(detour.map((d) => [d.orgId, Math.min(2, Math.max(1, Number(d.factor)))]))
  }

  /** A table another feature creates may not exist yet on an old database: treat it as empty. */
  private async rows<T extends pg.QueryResultRow>(sql: string): Promise<T[] | undefined> {
    try {
      return (await this.pool.query<T>(sql)).rows
    } catch (err) {
      if ((err as { code?: string }).code === UNDEFINED_TABLE) return undefined
      throw err
    }
  }

  private async loadLimits(): Promise<void> {
    const rows = await this.rows<{ org_id: string; overspeed_limit_kmh: number }>('SELECT org_id, overspeed_limit_kmh FROM analytics_settings')
    if (rows) this.limits = new Map(rows.map((r) => [r.org_id, Number(r.overspeed_limit_kmh)]))
  }

  /**
   * Geofences and destinations are re-read when their count or latest change
   * moved, and in full every FULL_RELOAD_MS anyway: updated_at is a
   * transaction's start, so a slow one can commit a change older than the
   * latest already seen.
   */
  private stale(stamp: string, seen: string, loadedAt: number): boolean {
    return stamp !== seen || Date.now() - loadedAt >= FULL_RELOAD_MS
  }

  private async loadGeofences(): Promise<void> {
    const stamp = await this.rows<{ stamp: string }>(`SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') AS stamp FROM geofences`)
    if (!stamp || !this.stale(stamp[0]!.stamp, this.geofenceStamp, this.geofencesLoadedAt)) return
    this.geofencesLoadedAt = Date.now()
    const rows = (await this.rows<{
      id: string; org_id: string; kind: 'polygon' | 'circle'; polygon: number[][][] | null
      center_lat: number | null; center_lon: number | null; radius_m: number | null; speed_limit_kmh: number | null; dwell_alert_s: number | null
    }>(`SELECT id, org_id, kind, polygon, center_lat, center_lon, radius_m, speed_limit_kmh, dwell_alert_s FROM geofences WHERE deleted_at IS NULL`)) ?? []
    const defs: GeofenceDef[] = rows.map((r) => ({
      id: r.id, orgId: r.org_id, kind: r.kind, polygon: r.polygon,
      centerLat: r.center_lat, centerLon: r.center_lon, radiusM: r.radius_m,
      speedLimitKmh: r.speed_limit_kmh === null ? null : Number(r.speed_limit_kmh), dwellAlertS: r.dwell_alert_s,
    }))
    this.geofences = new GeofenceIndex(defs)
    this.geofenceStamp = stamp[0]!.stamp
    this.log.info({ geofences: defs.length }, 'geofences loaded')
  }

  private async loadDestinations(): Promise<void> {
    const stamp = await this.rows<{ stamp: string }>(`SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') AS stamp FROM vehicle_destinations`)
    if (!stamp || !this.stale(stamp[0]!.stamp, this.destinationStamp, this.destinationsLoadedAt)) return
    this.destinationsLoadedAt = Date.now()
    const rows = (await this.rows<{ vehicle_id: string; lat: number; lon: number; radius_m: number; order_id: string | null; set_at: Date }>(
      'SELECT vehicle_id, lat, lon, radius_m, order_id, set_at FROM vehicle_destinations',
    )) ?? []
    this.destinations = new Map(rows.map((r) => [r.vehicle_id, { lat: r.lat, lon: r.lon, radiusM: r.radius_m, orderId: r.order_id, setAt: r.set_at.getTime() }]))
    this.destinationStamp = stamp[0]!.stamp
  }

  private async loadDrivers(): Promise<void> {
    // Read again only when an assignment began or ended (the table only grows and closes rows).
    const stamp = await this.rows<{ stamp: string }>(
      `SELECT count(*) || '/' || coalesce(max(greatest(from_ts, coalesce(to_ts, from_ts)))::text, '') || '/' || count(to_ts) AS stamp FROM vehicle_driver_history`)
    if (!stamp || !this.stale(stamp[0]!.stamp, this.driversStamp, this.driversLoadedAt)) return
    this.driversStamp = stamp[0]!.stamp
    this.driversLoadedAt = Date.now()
    const rows = await this.rows<{ vehicle_id: string; driver_id: string; from_ts: Date; to_ts: Date | null }>(
      'SELECT vehicle_id, driver_id, from_ts, to_ts FROM vehicle_driver_history ORDER BY vehicle_id, from_ts',
    )
    if (!rows) return
    const drivers = new Map<string, Array<{ driverId: string; from: number; to: number }>>()
    for (const r of rows) {
      let list = drivers.get(r.vehicle_id)
      if (!list) drivers.set(r.vehicle_id, (list = []))
      list.push({ driverId: r.driver_id, from: r.from_ts.getTime(), to: r.to_ts ? r.to_ts.getTime() : Infinity })
    }
    this.drivers = drivers
  }

  /** The detector's view; a replay passes `live: false` (no destinations: ETAs are live only). */
  env(live: boolean): DetectorEnv {
    return {
      settings: this.options.settings,
      overspeedLimitKmh: (orgId) => this.limits.get(orgId) ?? this.options.defaultOverspeedKmh,
      geofencesAt: (orgId, lat, lon): GeofenceHit[] => (this.geofences.size === 0 ? [] : this.geofences.at(orgId, lat, lon)),
      destination: (vehicleId) => (live ? this.destinations.get(vehicleId) : undefined),
      expectedSpeedKmh: (orgId, lat, lon, ts) => {
        const cell = h3ToUInt64(latLngToCell(lat, lon, 7))
        const how = hourOfWeek(ts)
        for (const key of [`${orgId}/${cell}/${how}`, `${orgId}/${cell}`, `${orgId}//${how}`, `${orgId}`]) {
          const m = this.speeds.get(key)
          if (m && m.n >= 3) return m.sum / m.n
        }
        const any = this.speeds.get(orgId)
        return any && any.n > 0 ? any.sum / any.n : DEFAULT_SPEED_KMH
      },
      detourFactor: (orgId) => this.detour.get(orgId) ?? DEFAULT_DETOUR,
      driverAt: (vehicleId, ts) => {
        const list = this.drivers.get(vehicleId)
        if (!list) return null
        for (let i = list.length - 1; i >= 0; i--) {
          const a = list[i]!
          if (a.from <= ts && ts < a.to) return a.driverId
        }
        return null
      },
    }
  }
}
