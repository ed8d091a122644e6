/** All ClickHouse SQL of the stream analytics: derived facts, checkpoints, rollups, and the raw positions a recompute reads. */
import type { ClickHouseClient } from '@clickhouse/client'
import { cellOf, type DetectorFix, type EtaOutcome, type Facts, type VehicleState } from './detector.js'

const dt = (ms: number): number => ms // DateTime64(3) takes epoch milliseconds in JSONEachRow
const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** Tables a recompute rewrites, with the column that orders each vehicle's rows in time. */
const REWRITTEN = [
  ['trips', 'start_ts'],
  ['stops', 'start_ts'],
  ['idles', 'start_ts'],
  ['driving_events', 'ts'],
  ['geofence_events', 'ts'],
  ['vehicle_checkpoints', 'ts'],
] as const

export interface StoredPosition extends DetectorFix {
  orgId: string
  vehicleId: string
}

export interface SpeedProfileRow { orgId: string; cell: string; how: number; kmh: number; n: number }

export class AnalyticsRepository {
  constructor(private readonly ch: ClickHouseClient) {}

  /** Writes the facts of one batch or recompute. `version` orders rewrites of the same fact (a later one wins). */
  async writeFacts(f: Facts, version: number): Promise<void> {
    const inserts: Array<Promise<unknown>> = []
    const put = (table: string, values: object[]) => {
      if (values.length > 0) inserts.push(this.ch.insert({ table, format: 'JSONEachRow', values }))
    }
    put('trips', f.trips.map((t) => ({
      org_id: t.orgId, vehicle_id: t.vehicleId, driver_id: t.driverId, start_ts: dt(t.startTs), end_ts: dt(t.endTs),
      start_lat: t.startLat, start_lon: t.startLon, end_lat: t.endLat, end_lon: t.endLon, start_h3: cellOf(t.startLat, t.startLon),
      distance_m: t.distanceM, straight_m: t.straightM, duration_s: (t.endTs - t.startTs) / 1000,
      max_speed_kmh: t.maxSpeedKmh, avg_speed_kmh: t.avgSpeedKmh, version,
    })))
    put('stops', f.stops.map((s) => ({
      org_id: s.orgId, vehicle_id: s.vehicleId, driver_id: s.driverId, start_ts: dt(s.startTs), end_ts: dt(s.endTs),
      lat: s.lat, lon: s.lon, h3: cellOf(s.lat, s.lon), duration_s: (s.endTs - s.startTs) / 1000, version,
    })))
    put('idles', f.idles.map((i) => ({
      org_id: i.orgId, vehicle_id: i.vehicleId, driver_id: i.driverId, start_ts: dt(i.startTs), end_ts: dt(i.endTs),
      lat: i.lat, lon: i.lon, duration_s: (i.endTs - i.startTs) / 1000, version,
    })))
    put('driving_events', f.drivingEvents.map((e) => ({
      org_id: e.orgId, vehicle_id: e.vehicleId, driver_id: e.driverId, kind: e.kind, ts: dt(e.ts), end_ts: dt(e.endTs),
      lat: e.lat, lon: e.lon, value: e.value, threshold: e.threshold, speed_kmh: e.speedKmh, geofence_id: e.geofenceId, version,
    })))
    put('geofence_events', f.geofenceEvents.map((e) => ({
      org_id: e.orgId, vehicle_id: e.vehicleId, driver_id: e.driverId, geofence_id: e.geofenceId, kind: e.kind, ts: dt(e.ts),
      enter_ts: dt(e.enterTs), dwell_s: (e.ts - e.enterTs) / 1000, lat: e.lat, lon: e.lon, version,
    })))
    put('eta_outcomes', f.etaOutcomes.map(etaOutcomeRow))
    put('vehicle_checkpoints', f.checkpoints.map((s) => ({ org_id: s.orgId, vehicle_id: s.vehicleId, ts: dt(s.lastTs), state: JSON.stringify(s), version })))
    await Promise.all(inserts)
  }

  /**
   * Deletes vehicles' derived facts and checkpoints, each from its own `fromTs`
   * on (a rebuild writes them again): one statement per table for all of them.
   */
  async deleteFrom(spans: Array<{ orgId: string; vehicleId: string; fromTs: number }>): Promise<void> {
    if (spans.length === 0) return
    const query_params = {
      orgs: [...new Set(spans.map((s) => s.orgId))], ids: spans.map((s) => s.vehicleId), keys: spans.map((s) => s.vehicleId),
      from: spans.map((s) => s.fromTs),
    }
    for (const [table, column] of REWRITTEN) {
      await this.ch.command({
        query: `DELETE FROM ${table} WHERE org_id IN {orgs:Array(UUID)} AND vehicle_id IN {ids:Array(UUID)}
                  AND toUnixTimestamp64Milli(${column}) >= transform(toString(vehicle_id), {keys:Array(String)}, {from:Array(Int64)}, toInt64(0))`,
        query_params,
      })
    }
  }

  /**
   * For many vehicles at once (a start or a rebalance restores hundreds): each
   * one's latest checkpoint before its own `beforeTs`, in one query.
   */
  async checkpointsBefore(items: Array<{ orgId: string; vehicleId: string; beforeTs: number }>): Promise<Map<string, VehicleState>> {
    if (items.length === 0) return new Map()
    const rs = await this.ch.query({
      query: `SELECT argMax(state, ts) AS state FROM vehicle_checkpoints FINAL
               WHERE org_id IN {orgs:Array(UUID)} AND vehicle_id IN {ids:Array(UUID)}
                 AND toUnixTimestamp64Milli(ts) < transform(toString(vehicle_id), {keys:Array(String)}, {before:Array(Int64)}, toInt64(0))
               GROUP BY vehicle_id`,
      query_params: {
        orgs: [...new Set(items.map((i) => i.orgId))], ids: items.map((i) => i.vehicleId), keys: items.map((i) => i.vehicleId),
        before: items.map((i) => Math.min(i.beforeTs, 253_402_300_799_000)),
      },
      format: 'JSONEachRow',
    })
    const states = (await rs.json<{ state: string }>()).map((r) => JSON.parse(r.state) as VehicleState)
    return new Map(states.map((s) => [s.vehicleId, s]))
  }

  /**
   * The stored fixes of many vehicles, each after its own `afterTs`, ordered
   * by vehicle then time, a page at a time (keyset on vehicle and ts).
   */
  async *positionsAfterMany(items: Array<{ orgId: string; vehicleId: string; afterTs: number }>, pageSize = 50_000): AsyncGenerator<StoredPosition[]> {
    if (items.length === 0) return
    const orgOf = new Map(items.map((i) => [i.vehicleId, i.orgId]))
    const params = {
      orgs: [...new Set(items.map((i) => i.orgId))], ids: items.map((i) => i.vehicleId), keys: items.map((i) => i.vehicleId),
      after: items.map((i) => i.afterTs), minAfter: Math.min(...items.map((i) => i.afterTs)), limit: pageSize,
    }
    let from: { vehicle: string; ts: number } | undefined
    for (;;) {
      const rs = await this.ch.query({
        query: `SELECT toString(vehicle_id) AS vehicleId, toUnixTimestamp64Milli(ts) AS ms, lat, lon, speed, heading, ignition, odometer
                  FROM positions FINAL
                 WHERE org_id IN {orgs:Array(UUID)} AND vehicle_id IN {ids:Array(UUID)} AND ts > fromUnixTimestamp64Milli({minAfter:Int64})
                   AND toUnixTimestamp64Milli(ts) > transform(toString(vehicle_id), {keys:Array(String)}, {after:Array(Int64)}, toInt64(0))
                   ${from ? 'AND (vehicle_id > {fromVehicle:UUID} OR (vehicle_id = {fromVehicle:UUID} AND ts > fromUnixTimestamp64Milli({fromTs:Int64})))' : ''}
                 ORDER BY vehicle_id, ts LIMIT {limit:UInt32}`,
        query_params: from ? { ...params, fromVehicle: from.vehicle, fromTs: from.ts } : params,
        format: 'JSONEachRow',
        clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
      })
      const rows = await rs.json<{ vehicleId: string; ms: number; lat: number; lon: number; speed: number | null; heading: number | null; ignition: boolean | null; odometer: number | null }>()
      if (rows.length === 0) return
      yield rows.map((r) => ({
        orgId: orgOf.get(r.vehicleId)!, vehicleId: r.vehicleId, ts: Number(r.ms), lat: r.lat, lon: r.lon,
        speed: r.speed ?? undefined, heading: r.heading ?? undefined, ignition: r.ignition ?? undefined, odometer: r.odometer ?? undefined,
      }))
      if (rows.length < pageSize) return
      const last = rows[rows.length - 1]!
      from = { vehicle: last.vehicleId, ts: Number(last.ms) }
    }
  }

  /** Per vehicle, the earliest late fix received since `sinceMs` (a restore deletes and rewrites from there). */
  async lateFixesSince(vehicleIds: string[], sinceMs: number): Promise<Map<string, number>> {
    if (vehicleIds.length === 0) return new Map()
    const rs = await this.ch.query({
      query: `SELECT toString(vehicle_id) AS v, toUnixTimestamp64Milli(min(ts)) AS ts FROM late_fixes
               WHERE vehicle_id IN {ids:Array(UUID)} AND received_at >= fromUnixTimestamp64Milli({since:Int64}) GROUP BY v`,
      query_params: { ids: vehicleIds, since: sinceMs },
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    })
    return new Map((await rs.json<{ v: string; ts: number }>()).map((r) => [r.v, Number(r.ts)]))
  }

  /** Vehicles and days with facts written since `sinceVersion` (a start refreshes their rollups, in case the last owner could not). */
  async touchedSince(sinceVersion: number): Promise<Array<{ orgId: string; vehicleId: string; ts: number }>> {
    const rs = await this.ch.query({
      query: `SELECT DISTINCT toString(org_id) AS orgId, toString(vehicle_id) AS vehicleId, toUnixTimestamp64Milli(toDateTime64(day, 3)) AS ts FROM (
                SELECT org_id, vehicle_id, toDate(start_ts) AS day FROM trips WHERE version >= {v:UInt64}
                UNION ALL SELECT org_id, vehicle_id, toDate(start_ts) FROM stops WHERE version >= {v:UInt64}
                UNION ALL SELECT org_id, vehicle_id, toDate(start_ts) FROM idles WHERE version >= {v:UInt64}
                UNION ALL SELECT org_id, vehicle_id, toDate(ts) FROM driving_events WHERE version >= {v:UInt64})`,
      query_params: { v: sinceVersion },
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    })
    return (await rs.json<{ orgId: string; vehicleId: string; ts: number }>()).map((r) => ({ ...r, ts: Number(r.ts) }))
  }

  async recordLate(fixes: Array<{ orgId: string; vehicleId: string; ts: number; receivedAt: number }>): Promise<void> {
    if (fixes.length === 0) return
    await this.ch.insert({
      table: 'late_fixes', format: 'JSONEachRow',
      values: fixes.map((f) => ({ org_id: f.orgId, vehicle_id: f.vehicleId, ts: dt(f.ts), received_at: dt(f.receivedAt) })),
    })
  }

  /**
   * Recomputes the daily rollups of the given vehicles and days from the facts
   * (a day whose facts are all gone gets a row of zeros), and those of the
   * drivers that drove them on those days.
   */
  async refreshDailyKpis(touched: Array<{ orgId: string; vehicleId: string; ts: number }>): Promise<void> {
    const pairs = new Map<string, { org: string; vehicle: string; day: string }>()
    for (const t of touched) {
      const day = dayOf(t.ts)
      pairs.set(`${t.vehicleId}/${day}`, { org: t.orgId, vehicle: t.vehicleId, day })
    }
    if (pairs.size === 0) return
    const list = [...pairs.values()]
    const params = { orgs: list.map((p) => p.org), vehicles: list.map((p) => p.vehicle), days: list.map((p) => p.day) }
    const facts = (key: 'vehicle_id' | 'driver_id', filter: (col: string) => string) => `
      SELECT org_id, ${key} AS k, toDate(start_ts) AS day, count() AS trips, sum(distance_m) AS distance_m, sum(duration_s) AS driving_s,
             0. AS idle_s, 0 AS stops, 0 AS harsh, 0 AS os_events, 0. AS os_s
        FROM trips FINAL WHERE ${filter('start_ts')} GROUP BY org_id, k, day
      UNION ALL
      SELECT org_id, ${key}, toDate(start_ts), 0, 0., 0., sum(duration_s), 0, 0, 0, 0. FROM idles FINAL WHERE ${filter('start_ts')} GROUP BY org_id, ${key}, toDate(start_ts)
      UNION ALL
      SELECT org_id, ${key}, toDate(start_ts), 0, 0., 0., 0., count(), 0, 0, 0. FROM stops FINAL WHERE ${filter('start_ts')} GROUP BY org_id, ${key}, toDate(start_ts)
      UNION ALL
      SELECT org_id, ${key}, toDate(ts), 0, 0., 0., 0., 0, countIf(kind != 'overspeed'), countIf(kind = 'overspeed'),
             sumIf(dateDiff('millisecond', ts, end_ts) / 1000, kind = 'overspeed')
        FROM driving_events FINAL WHERE ${filter('ts')} GROUP BY org_id, ${key}, toDate(ts)`
    const rollup = (key: 'vehicle_id' | 'driver_id', table: string, base: string, filter: (col: string) => string) => `
      INSERT INTO ${table} (org_id, day, ${key}, trips, distance_m, driving_s, idle_s, stops, harsh_events, overspeed_events, overspeed_s,
                            utilization, harsh_per_100km, safety_score, updated_at)
      SELECT org_id, day, assumeNotNull(k), sum(trips), sum(distance_m) AS dist, sum(driving_s) AS drive, sum(idle_s) AS idle, sum(stops), sum(harsh) AS h,
             sum(os_events), sum(os_s) AS os,
             least(1, (drive + idle) / 86400),
             if(dist > 0, h / (dist / 100000), 0),
             greatest(0, 100 - 10 * if(dist > 0, h / (dist / 100000), 0) - 50 * if(drive > 0, least(1, os / drive), 0)),
             now64(3)
        FROM (${base} UNION ALL ${facts(key, filter)})
       GROUP BY org_id, day, k`
    const vehicleFilter = (col: string) =>
      `(org_id, vehicle_id, toDate(${col})) IN (SELECT tupleElement(p, 1), tupleElement(p, 2), tupleElement(p, 3) FROM (SELECT arrayJoin(arrayZip({orgs:Array(UUID)}, {vehicles:Array(UUID)}, {days:Array(Date)})) AS p))`
    const zeros = `SELECT tupleElement(p, 1) AS org_id, tupleElement(p, 2) AS k, tupleElement(p, 3) AS day, 0 AS trips, 0. AS distance_m, 0. AS driving_s,
                          0. AS idle_s, 0 AS stops, 0 AS harsh, 0 AS os_events, 0. AS os_s
                     FROM (SELECT arrayJoin(arrayZip({orgs:Array(UUID)}, {vehicles:Array(UUID)}, {days:Array(Date)})) AS p)`
    await this.ch.command({ query: rollup('vehicle_id', 'vehicle_daily_kpis', zeros, vehicleFilter), query_params: params })

    // Drivers: every driver with facts on those vehicles and days, recomputed over all their vehicles that day.
    const rs = await this.ch.query({
      query: `SELECT DISTINCT org_id, driver_id, day FROM (
                SELECT org_id, driver_id, toDate(start_ts) AS day FROM trips FINAL WHERE driver_id IS NOT NULL AND ${vehicleFilter('start_ts')}
                UNION ALL SELECT org_id, driver_id, toDate(start_ts) FROM idles FINAL WHERE driver_id IS NOT NULL AND ${vehicleFilter('start_ts')}
                UNION ALL SELECT org_id, driver_id, toDate(ts) FROM driving_events FINAL WHERE driver_id IS NOT NULL AND ${vehicleFilter('ts')})`,
      query_params: params,
      format: 'JSONEachRow',
    })
    const drivers = await rs.json<{ org_id: string; driver_id: string; day: string }>()
    if (drivers.length === 0) return
    const dparams = { orgs: drivers.map((d) => d.org_id), drivers: drivers.map((d) => d.driver_id), days: drivers.map((d) => d.day) }
    const driverFilter = (col: string) =>
      `driver_id IS NOT NULL AND (org_id, assumeNotNull(driver_id), toDate(${col})) IN (SELECT tupleElement(p, 1), tupleElement(p, 2), tupleElement(p, 3) FROM (SELECT arrayJoin(arrayZip({orgs:Array(UUID)}, {drivers:Array(UUID)}, {days:Array(Date)})) AS p))`
    const dzeros = zeros.replace('{vehicles:Array(UUID)}', '{drivers:Array(UUID)}')
    await this.ch.command({
      query: rollup('driver_id', 'driver_daily_kpis', dzeros, driverFilter),
      query_params: dparams,
    })
  }

  /**
   * What the fleet's finished trips say about speed: per organization, start
   * cell (H3 res 7) and hour of week (0 = Monday 00:00 UTC), over the last 8 weeks.
   */
  async speedProfile(): Promise<{ cells: SpeedProfileRow[]; detour: Array<{ orgId: string; factor: number }> }> {
    const rs = await this.ch.query({
      query: `SELECT toString(org_id) AS orgId, toString(h3ToParent(start_h3, 7)) AS cell,
                     (toDayOfWeek(start_ts) - 1) * 24 + toHour(start_ts) AS how,
                     sum(distance_m) / sum(duration_s) * 3.6 AS kmh, count() AS n
                FROM trips FINAL
               WHERE start_ts > now() - INTERVAL 56 DAY AND duration_s > 0
               GROUP BY orgId, cell, how`,
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    })
    const cells = await rs.json<SpeedProfileRow>()
    const ds = await this.ch.query({
      query: `SELECT toString(org_id) AS orgId, sum(distance_m) / sum(straight_m) AS factor
                FROM trips FINAL WHERE start_ts > now() - INTERVAL 56 DAY AND straight_m > 100 GROUP BY orgId`,
      format: 'JSONEachRow',
    })
    return { cells: cells.map((c) => ({ ...c, how: Number(c.how), n: Number(c.n) })), detour: await ds.json() }
  }
}

function etaOutcomeRow(o: EtaOutcome) {
  return {
    org_id: o.orgId, vehicle_id: o.vehicleId, order_id: o.orderId, set_at: dt(o.setAt), start_ts: dt(o.startTs), arrived_ts: dt(o.arrivedTs),
    start_remaining_m: o.startRemainingM, half_ts: o.halfTs, half_eta_ts: o.halfEtaTs,
    half_error_s: o.halfEtaTs !== null ? (o.halfEtaTs - o.arrivedTs) / 1000 : null,
    half_remaining_s: o.halfTs !== null ? (o.arrivedTs - o.halfTs) / 1000 : null,
  }
}
