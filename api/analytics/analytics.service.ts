/**
 * Dashboards over the stream analytics' rollups (never raw positions, except
 * the heatmap, which is about them), trips and events lists, and replays.
 */
import type pg from 'pg'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import { instantOf } from '../dates.js'
import { findInOrg, isoSql, withTransaction } from '../db.js'
import { analyticsUnavailable, AppError } from '../errors.js'
import type { Kpis, Replay } from '../../schemas/analytics.v1.js'
import type { AnalyticsReader, EventRow, KpiRow, TripRow } from './analytics.repository.js'

const DAY_MS = 86_400_000
/** A vehicle with no fix for this long counts as offline. */
export const OFFLINE_AFTER_MS = 10 * 60_000
const MOVING_KMH = 5
const MAX_LIST_RANGE_MS = 92 * DAY_MS
const MAX_HEATMAP_RANGE_MS = 31 * DAY_MS

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString())
const today = () => new Date().toISOString().slice(0, 10)
/** Within ClickHouse's Date range (1970-01-01 to 2149-06-06); ISO dates compare as strings. */
const clampDay = (d: string) => (d < '1970-01-01' ? '1970-01-01' : d > '2149-06-06' ? '2149-06-06' : d)
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits

export function kpisOf(r: KpiRow | undefined): Kpis {
  const n = (x: unknown) => Number(x ?? 0)
  const distanceM = n(r?.distance_m)
  const drivingS = n(r?.driving_s)
  const harsh = n(r?.harsh_events)
  const harshPer100 = distanceM > 0 ? harsh / (distanceM / 100_000) : 0
  const overspeedShare = drivingS > 0 ? Math.min(1, n(r?.overspeed_s) / drivingS) : 0
  return {
    trips: n(r?.trips),
    distanceKm: round(distanceM / 1000),
    drivingHours: round(drivingS / 3600),
    idleHours: round(n(r?.idle_s) / 3600),
    stops: n(r?.stops),
    harshEvents: harsh,
    overspeedEvents: n(r?.overspeed_events),
    overspeedMinutes: round(n(r?.overspeed_s) / 60),
    utilization: round(n(r?.utilization), 4),
    harshPer100Km: round(harshPer100),
    // The README's formula; computed over the whole span, not averaged per day.
    safetyScore: drivingS > 0 ? round(Math.max(0, 100 - 10 * harshPer100 - 50 * overspeedShare), 1) : null,
  }
}

const tripOf = (t: TripRow) => ({
  vehicleId: t.vehicle_id, driverId: t.driver_id, startTs: iso(t.start_ms)!, endTs: iso(t.end_ms)!,
  start: { lat: t.start_lat, lon: t.start_lon }, end: { lat: t.end_lat, lon: t.end_lon },
  distanceKm: round(t.distance_m / 1000, 3), durationMin: round(t.duration_s / 60), maxSpeedKmh: round(t.max_speed_kmh, 1), avgSpeedKmh: round(t.avg_speed_kmh, 1),
})

const eventOf = (e: EventRow) => ({
  vehicleId: e.vehicle_id, driverId: e.driver_id, kind: e.kind, ts: iso(e.ts_ms)!, endTs: iso(e.end_ms),
  lat: e.lat, lon: e.lon, value: e.value === null ? null : round(Number(e.value)), threshold: e.threshold === null ? null : round(Number(e.threshold)),
  geofenceId: e.geofence_id,
})

function range(query: { from?: string | undefined; to?: string | undefined }, defaultMs: number, maxMs: number) {
  const to = query.to ? instantOf(query.to, 'to') : Date.now()
  const from = Math.max(query.from ? instantOf(query.from, 'from') : to - defaultMs, to - maxMs, 0)
  return { from, to }
}

function cursorOf(cursor: string | undefined) {
  if (!cursor) return undefined
  const dot = cursor.indexOf('.')
  return { ms: Number(cursor.slice(0, dot)), vehicleId: cursor.slice(dot + 1) }
}

function pageOf<T, R>(rows: T[], limit: number, map: (r: T) => R, key: (r: T) => string) {
  const more = rows.length > limit
  const items = more ? rows.slice(0, limit) : rows
  return { items: items.map(map), nextCursor: more ? key(items[items.length - 1]!) : null }
}


interface ReplayRow {
  id: string; status: Replay['status']; vehicles: number; vehicles_done: number; fixes_read: string; from_ts: string; to_ts: string
  error: string | null; created_at: string; started_at: string | null; finished_at: string | null
}

const replayOf = (r: ReplayRow): Replay => ({
  id: r.id, status: r.status, vehicles: r.vehicles, vehiclesDone: r.vehicles_done, fixesRead: Number(r.fixes_read),
  from: r.from_ts, to: r.to_ts, error: r.error, createdAt: r.created_at, startedAt: r.started_at, finishedAt: r.finished_at,
})

const REPLAY_COLUMNS = `id, status, cardinality(vehicle_ids) AS vehicles, vehicles_done, fixes_read::text, ${isoSql('from_ts')} AS from_ts,
  ${isoSql('to_ts')} AS to_ts, error, ${isoSql('created_at')} AS created_at, ${isoSql('started_at')} AS started_at, ${isoSql('finished_at')} AS finished_at`

/** Orders delivered in [from, to), optionally of one vehicle: Postgres, where the orders are. */
async function orderKpis(pool: pg.Pool, orgId: string, from: Date, to: Date, vehicleId?: string) {
  const { rows } = await pool.query<{ delivered: number; on_time: number | null; pickup: number | null; dropoff: number | null; load: number | null }>(
    `SELECT count(*)::int AS delivered, avg(CASE WHEN on_time THEN 1 ELSE 0 END)::float8 AS on_time,
            avg(pickup_dwell_s)::float8 / 60 AS pickup, avg(dropoff_dwell_s)::float8 / 60 AS dropoff, avg(load_factor)::float8 AS load
       FROM orders WHERE org_id = $1 AND status = 'delivered' AND delivered_at >= $2 AND delivered_at < $3 AND ($4::uuid IS NULL OR vehicle_id = $4)`,
    [orgId, from, to, vehicleId ?? null],
  )
  const r = rows[0]!
  const r2 = (x: number | null, d = 2) => (x === null ? null : round(Number(x), d))
  return { delivered: r.delivered, onTimeRate: r2(r.on_time, 4), pickupDwellMin: r2(r.pickup), dropoffDwellMin: r2(r.dropoff), loadFactor: r2(r.load, 4) }
}

export class AnalyticsService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly reader: AnalyticsReader | undefined,
    private readonly audit: AuditRepository,
  ) {}

  private ch(): AnalyticsReader {
    if (!this.reader) throw analyticsUnavailable()
    return this.reader
  }

  private async vehicleInOrg(who: Principal, vehicleId: string): Promise<void> {
    if (!(await findInOrg(this.pool, 'vehicles', 'id', who.orgId, vehicleId))) throw new AppError('not_found', 'no such vehicle')
  }

  async fleet(who: Principal) {
    const ch = this.ch()
    const { rows } = await this.pool.query<{ total: number; moving: number; idle: number; stopped: number; offline: number }>(
      `SELECT count(*)::int AS total,
              count(*) FILTER (WHERE NOT offline AND speed >= $3)::int AS moving,
              count(*) FILTER (WHERE NOT offline AND coalesce(speed, 0) < $3 AND ignition IS TRUE)::int AS idle,
              count(*) FILTER (WHERE NOT offline AND coalesce(speed, 0) < $3 AND ignition IS NOT TRUE)::int AS stopped,
              count(*) FILTER (WHERE offline)::int AS offline
         FROM (SELECT p.speed, p.ignition, (p.ts IS NULL OR p.ts < now() - make_interval(secs => $2)) AS offline
                 FROM vehicles v LEFT JOIN vehicle_positions p ON p.vehicle_id = v.id
                WHERE v.org_id = $1 AND v.state <> 'retired') x`,
      [who.orgId, OFFLINE_AFTER_MS / 1000, MOVING_KMH],
    )
    const day = today()
    const midnight = Date.parse(`${day}T00:00:00Z`)
    const [kpis, alerts, eta, orders] = await Promise.all([
      ch.fleetKpis(who.orgId, day, day),
      ch.alertCounts(who.orgId, midnight),
      ch.etaAccuracy(who.orgId, Date.now() - 30 * DAY_MS),
      orderKpis(this.pool, who.orgId, new Date(midnight), new Date(midnight + DAY_MS)),
    ])
    return {
      at: new Date().toISOString(),
      vehicles: rows[0]!,
      today: kpisOf(kpis),
      alertsToday: { total: Object.values(alerts).reduce((a, b) => a + b, 0), byKind: alerts },
      ordersToday: orders,
      etaAccuracy: { arrivals: Number(eta.arrivals), medianHalfwayErrorPct: eta.median_pct === null ? null : round(Number(eta.median_pct), 1) },
    }
  }

  async vehicle(who: Principal, vehicleId: string, query: { day?: string | undefined }) {
    const ch = this.ch()
    await this.vehicleInOrg(who, vehicleId)
    const day = clampDay(query.day ?? today())
    const from = Date.parse(`${day}T00:00:00Z`)
    const to = from + DAY_MS - 1
    const [kpis, trips, events, device, latest, orders] = await Promise.all([
      ch.vehicleKpis(who.orgId, vehicleId, day),
      ch.trips({ orgId: who.orgId, vehicleId, from, to, limit: 499 }),
      ch.events({ orgId: who.orgId, vehicleId, from, to, limit: 499 }),
      ch.latestDeviceEvent(who.orgId, vehicleId),
      this.pool.query<{ ts: string; lat: number; lon: number; speed: number | null; ignition: boolean | null }>(
        `SELECT ${isoSql('ts')} AS ts, lat, lon, speed, ignition FROM vehicle_positions WHERE vehicle_id = $1 AND org_id = $2`, [vehicleId, who.orgId]),
      orderKpis(this.pool, who.orgId, new Date(from), new Date(from + DAY_MS), vehicleId),
    ])
    return {
      vehicleId, day, kpis: kpisOf(kpis), orders,
      trips: trips.slice(0, 500).map(tripOf).reverse(),
      events: events.slice(0, 500).map(eventOf).reverse(),
      latestFix: latest.rows[0] ?? null,
      latestDeviceEvent: device ? { ts: iso(device.ts_ms)!, type: device.type, severity: device.severity, clipUrl: device.clip_url } : null,
    }
  }

  async driver(who: Principal, driverId: string, query: { from?: string | undefined; to?: string | undefined }) {
    const ch = this.ch()
    if (!(await findInOrg(this.pool, 'drivers', 'id', who.orgId, driverId))) throw new AppError('not_found', 'no such driver')
    // At most 366 days, ending at `to` (a longer range is shortened, as the answer's `from` says).
    const to = clampDay(query.to ?? today())
    const toMs = Date.parse(`${to}T00:00:00Z`)
    const fromMs = Math.max(query.from ? Date.parse(`${query.from}T00:00:00Z`) : toMs - 29 * DAY_MS, toMs - 365 * DAY_MS)
    const from = clampDay(new Date(fromMs).toISOString().slice(0, 10))
    const days = await ch.driverDays(who.orgId, driverId, from, to)
    const total = days.reduce<KpiRow>((t, d) => ({
      trips: t.trips + Number(d.trips), distance_m: t.distance_m + Number(d.distance_m), driving_s: t.driving_s + Number(d.driving_s),
      idle_s: t.idle_s + Number(d.idle_s), stops: t.stops + Number(d.stops), harsh_events: t.harsh_events + Number(d.harsh_events),
      overspeed_events: t.overspeed_events + Number(d.overspeed_events), overspeed_s: t.overspeed_s + Number(d.overspeed_s),
      utilization: t.utilization + Number(d.utilization) / days.length,
    }), { trips: 0, distance_m: 0, driving_s: 0, idle_s: 0, stops: 0, harsh_events: 0, overspeed_events: 0, overspeed_s: 0, utilization: 0 })
    return { driverId, from, to, total: kpisOf(total), days: days.map((d) => ({ day: d.day, ...kpisOf(d) })) }
  }

  async trips(who: Principal, query: { vehicleId?: string; driverId?: string; from?: string; to?: string; limit?: number; cursor?: string }) {
    const ch = this.ch()
    const { from, to } = range(query, 7 * DAY_MS, MAX_LIST_RANGE_MS)
    const limit = query.limit ?? 100
    const rows = await ch.trips({ orgId: who.orgId, vehicleId: query.vehicleId, driverId: query.driverId, from, to, after: cursorOf(query.cursor), limit })
    return pageOf(rows, limit, tripOf, (t) => `${t.start_ms}.${t.vehicle_id}`)
  }

  async events(who: Principal, query: { vehicleId?: string; driverId?: string; kind?: string; from?: string; to?: string; limit?: number; cursor?: string }) {
    const ch = this.ch()
    const { from, to } = range(query, 7 * DAY_MS, MAX_LIST_RANGE_MS)
    const limit = query.limit ?? 100
    const rows = await ch.events({ orgId: who.orgId, vehicleId: query.vehicleId, driverId: query.driverId, kind: query.kind, from, to, after: cursorOf(query.cursor), limit })
    return pageOf(rows, limit, eventOf, (e) => `${e.ts_ms}.${e.vehicle_id}`)
  }

  async heatmap(who: Principal, query: { minLat: number; minLon: number; maxLat: number; maxLon: number; from?: string; to?: string; resolution?: number }) {
    const ch = this.ch()
    const { from, to } = range(query, DAY_MS, MAX_HEATMAP_RANGE_MS)
    const resolution = query.resolution ?? 7
    // A box with min above max holds nothing (a box across the antimeridian is two requests).
    const empty = query.minLat > query.maxLat || query.minLon > query.maxLon
    const cells = empty ? [] : await ch.heatmap(who.orgId, query, from, to, resolution)
    const truncated = cells.length > 10_000
    return {
      from: iso(from)!, to: iso(to)!, resolution, truncated,
      cells: cells.slice(0, 10_000).map((c) => ({ h3: c.h3, fixes: Number(c.fixes), vehicles: Number(c.vehicles), avgSpeedKmh: c.avg_speed === null ? null : round(Number(c.avg_speed), 1) })),
    }
  }

  async requestReplay(who: Principal, body: { vehicleIds?: string[]; from: string }, meta: RequestMeta): Promise<Replay> {
    const from = instantOf(body.from, 'from')
    const ids = body.vehicleIds
      ?? (await this.pool.query<{ id: string }>('SELECT id FROM vehicles WHERE org_id = $1 ORDER BY id', [who.orgId])).rows.map((r) => r.id)
    if (body.vehicleIds) {
      const { rows } = await this.pool.query<{ id: string }>('SELECT id FROM vehicles WHERE org_id = $1 AND id = ANY($2::uuid[])', [who.orgId, ids])
      const known = new Set(rows.map((r) => r.id))
      const missing = ids.filter((id) => !known.has(id))
      if (missing.length > 0) throw new AppError('not_found', `no such vehicle: ${missing.slice(0, 5).join(', ')}`)
    }
    // The request and its audit row are one transaction: no replay runs unaudited.
    return withTransaction(this.pool, async (db) => {
      const { rows } = await db.query<ReplayRow>(
        `INSERT INTO analytics_replays (org_id, requested_by, vehicle_ids, from_ts, to_ts) VALUES ($1, $2, $3, $4, now()) RETURNING ${REPLAY_COLUMNS}`,
        [who.orgId, who.userId, ids, new Date(from)],
      )
      const replay = replayOf(rows[0]!)
      await this.audit.record({
        orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action: 'analytics.replay_requested', entityType: 'analytics_replay',
        entityId: replay.id, after: { vehicleIds: ids, from: replay.from }, ...meta,
      }, db)
      return replay
    })
  }

  async replay(who: Principal, id: string): Promise<Replay> {
    const { rows } = await this.pool.query<ReplayRow>(`SELECT ${REPLAY_COLUMNS} FROM analytics_replays WHERE id = $1 AND org_id = $2`, [id, who.orgId])
    if (!rows[0]) throw new AppError('not_found', 'no such replay')
    return replayOf(rows[0])
  }
}
