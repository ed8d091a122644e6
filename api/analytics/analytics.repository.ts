/** Reads of the stream analytics' tables in ClickHouse (dashboards, lists, heatmap). Every query is scoped by organization. */
import type { ClickHouseClient } from '@clickhouse/client'

export interface KpiRow {
  trips: number; distance_m: number; driving_s: number; idle_s: number; stops: number
  harsh_events: number; overspeed_events: number; overspeed_s: number; utilization: number
}
export interface TripRow {
  vehicle_id: string; driver_id: string | null; start_ms: number; end_ms: number
  start_lat: number; start_lon: number; end_lat: number; end_lon: number
  distance_m: number; duration_s: number; max_speed_kmh: number; avg_speed_kmh: number
}
export interface EventRow {
  vehicle_id: string; driver_id: string | null; kind: string; ts_ms: number; end_ms: number | null
  lat: number; lon: number; value: number | null; threshold: number | null; geofence_id: string | null
}

const KPI_SUMS = `sum(trips) AS trips, sum(distance_m) AS distance_m, sum(driving_s) AS driving_s, sum(idle_s) AS idle_s, sum(stops) AS stops,
  sum(harsh_events) AS harsh_events, sum(overspeed_events) AS overspeed_events, sum(overspeed_s) AS overspeed_s, avg(utilization) AS utilization`

const NUMBERS = { output_format_json_quote_64bit_integers: 0 } as const

export interface ListFilter {
  orgId: string
  vehicleId?: string | undefined
  driverId?: string | undefined
  from: number
  to: number
  after?: { ms: number; vehicleId: string } | undefined
  limit: number
}

export class AnalyticsReader {
  constructor(private readonly ch: ClickHouseClient) {}

  private async rows<T>(query: string, params: Record<string, unknown>): Promise<T[]> {
    const rs = await this.ch.query({ query, query_params: params, format: 'JSONEachRow', clickhouse_settings: NUMBERS })
    return rs.json<T>()
  }

  /** The fleet's KPIs over days (sums; utilization is the mean per vehicle-day). */
  async fleetKpis(orgId: string, from: string, to: string): Promise<KpiRow | undefined> {
    return (await this.rows<KpiRow>(
      `SELECT ${KPI_SUMS} FROM vehicle_daily_kpis FINAL WHERE org_id = {org:UUID} AND day BETWEEN {from:Date} AND {to:Date}`,
      { org: orgId, from, to },
    ))[0]
  }

  async vehicleKpis(orgId: string, vehicleId: string, day: string): Promise<KpiRow | undefined> {
    return (await this.rows<KpiRow>(
      `SELECT ${KPI_SUMS} FROM vehicle_daily_kpis FINAL WHERE org_id = {org:UUID} AND vehicle_id = {v:UUID} AND day = {day:Date}`,
      { org: orgId, v: vehicleId, day },
    ))[0]
  }

  async driverDays(orgId: string, driverId: string, from: string, to: string): Promise<Array<KpiRow & { day: string }>> {
    return this.rows(
      `SELECT toString(d) AS day, ${KPI_SUMS} FROM (SELECT day AS d, * EXCEPT day FROM driver_daily_kpis FINAL
        WHERE org_id = {org:UUID} AND driver_id = {d:UUID} AND day BETWEEN {from:Date} AND {to:Date}) GROUP BY d ORDER BY d`,
      { org: orgId, d: driverId, from, to },
    )
  }

  /** Alerts since `fromMs`: driving events, idles, geofence dwells and exits, device events when that table exists. */
  async alertCounts(orgId: string, fromMs: number): Promise<Record<string, number>> {
    const rows = await this.rows<{ kind: string; n: number }>(
      `SELECT kind, count() AS n FROM (
         SELECT kind FROM driving_events FINAL WHERE org_id = {org:UUID} AND ts >= fromUnixTimestamp64Milli({from:Int64})
         UNION ALL SELECT 'idling' FROM idles FINAL WHERE org_id = {org:UUID} AND start_ts >= fromUnixTimestamp64Milli({from:Int64})
         UNION ALL SELECT concat('geofence_', kind) FROM geofence_events FINAL WHERE org_id = {org:UUID} AND kind != 'enter' AND ts >= fromUnixTimestamp64Milli({from:Int64})
       ) GROUP BY kind`,
      { org: orgId, from: fromMs },
    )
    const counts: Record<string, number> = {}
    for (const r of rows) counts[r.kind] = Number(r.n)
    const device = await this.rows<{ n: number }>(
      `SELECT count() AS n FROM device_events FINAL WHERE org_id = {org:UUID} AND ts >= fromUnixTimestamp64Milli({from:Int64})`,
      { org: orgId, from: fromMs },
    ).catch(() => [])
    if (device[0] && Number(device[0].n) > 0) counts.device_event = Number(device[0].n)
    return counts
  }

  async etaAccuracy(orgId: string, sinceMs: number): Promise<{ arrivals: number; median_pct: number | null }> {
    const rows = await this.rows<{ arrivals: number; median_pct: number | null }>(
      `SELECT count() AS arrivals,
              if(countIf(half_remaining_s > 0) = 0, NULL, quantileExactIf(0.5)(abs(half_error_s) / half_remaining_s * 100, half_remaining_s > 0)) AS median_pct
         FROM eta_outcomes FINAL WHERE org_id = {org:UUID} AND arrived_ts >= fromUnixTimestamp64Milli({since:Int64})`,
      { org: orgId, since: sinceMs },
    )
    return rows[0] ?? { arrivals: 0, median_pct: null }
  }

  /** Trips newest first, keyset-paged on (start, vehicle). */
  async trips(f: ListFilter): Promise<TripRow[]> {
    return this.rows(
      `SELECT vehicle_id, driver_id, toUnixTimestamp64Milli(start_ts) AS start_ms, toUnixTimestamp64Milli(end_ts) AS end_ms,
              start_lat, start_lon, end_lat, end_lon, distance_m, duration_s, max_speed_kmh, avg_speed_kmh
         FROM trips FINAL
        WHERE org_id = {org:UUID} ${filters(f, 'start_ts')}
        ORDER BY start_ts DESC, vehicle_id DESC LIMIT {limit:UInt32}`,
      params(f),
    )
  }

  /** Driving events, idles and geofence events, newest first, keyset-paged on (time, vehicle). */
  async events(f: ListFilter & { kind?: string | undefined }): Promise<EventRow[]> {
    const kind = f.kind ? 'AND kind = {kind:String}' : ''
    return this.rows(
      `SELECT * FROM (
         SELECT vehicle_id, driver_id, kind, toUnixTimestamp64Milli(ts) AS ts_ms, toUnixTimestamp64Milli(end_ts) AS end_ms,
                lat, lon, toFloat64(value) AS value, toFloat64(threshold) AS threshold, geofence_id, ts AS t
           FROM driving_events FINAL WHERE org_id = {org:UUID} ${filters(f, 'ts')}
         UNION ALL
         SELECT vehicle_id, driver_id, 'idling', toUnixTimestamp64Milli(start_ts), toUnixTimestamp64Milli(end_ts),
                lat, lon, duration_s, NULL, NULL, start_ts
           FROM idles FINAL WHERE org_id = {org:UUID} ${filters(f, 'start_ts')}
         UNION ALL
         SELECT vehicle_id, driver_id, concat('geofence_', kind), toUnixTimestamp64Milli(ts), NULL,
                lat, lon, if(kind = 'enter', NULL, dwell_s), NULL, geofence_id, ts
           FROM geofence_events FINAL WHERE org_id = {org:UUID} ${filters(f, 'ts')}
       ) WHERE 1 ${kind}
       ORDER BY t DESC, vehicle_id DESC, kind LIMIT {limit:UInt32}`,
      { ...params(f), kind: f.kind ?? '' },
    )
  }

  /**
   * Fixes per H3 cell in a box and time range (whole hours), from the hourly
   * rollup (at most 10,000 cells). A cell counts when a fix of it is in the box.
   */
  async heatmap(orgId: string, box: { minLat: number; minLon: number; maxLat: number; maxLon: number }, from: number, to: number, resolution: number) {
    return this.rows<{ h3: string; fixes: number; vehicles: number; avg_speed: number | null }>(
      `SELECT h3ToString(c) AS h3, sum(fixes) AS fixes, uniqMerge(vehicles) AS vehicles, if(sum(speed_n) = 0, NULL, sum(speed_sum) / sum(speed_n)) AS avg_speed
         FROM (SELECT if(h3GetResolution(cell) > {res:UInt8}, h3ToParent(cell, {res:UInt8}), cell) AS c, fixes, vehicles, speed_sum, speed_n, lat, lon
                 FROM positions_h3_hourly
                WHERE org_id = {org:UUID}
                  AND hour BETWEEN toStartOfHour(fromUnixTimestamp64Milli({from:Int64})) AND fromUnixTimestamp64Milli({to:Int64}))
        WHERE lat BETWEEN {minLat:Float64} AND {maxLat:Float64} AND lon BETWEEN {minLon:Float64} AND {maxLon:Float64}
        GROUP BY c ORDER BY fixes DESC LIMIT 10001`,
      { org: orgId, res: resolution, from, to, minLat: box.minLat, minLon: box.minLon, maxLat: box.maxLat, maxLon: box.maxLon },
    )
  }

  async latestDeviceEvent(orgId: string, vehicleId: string): Promise<{ ts_ms: number; type: string; severity: string; clip_url: string | null } | undefined> {
    const rows = await this.rows<{ ts_ms: number; type: string; severity: string; clip_url: string | null }>(
      `SELECT toUnixTimestamp64Milli(ts) AS ts_ms, type, severity, clip_url FROM device_events
        WHERE org_id = {org:UUID} AND vehicle_id = {v:UUID} ORDER BY ts DESC LIMIT 1`,
      { org: orgId, v: vehicleId },
    ).catch(() => [])
    return rows[0]
  }
}

function filters(f: ListFilter, col: string): string {
  return [
    f.vehicleId ? 'AND vehicle_id = {vehicle:UUID}' : '',
    f.driverId ? 'AND driver_id = {driver:UUID}' : '',
    `AND ${col} >= fromUnixTimestamp64Milli({from:Int64}) AND ${col} <= fromUnixTimestamp64Milli({to:Int64})`,
    f.after ? `AND (${col}, vehicle_id) < (fromUnixTimestamp64Milli({afterMs:Int64}), {afterVehicle:UUID})` : '',
  ].join(' ')
}

function params(f: ListFilter): Record<string, unknown> {
  return {
    org: f.orgId, vehicle: f.vehicleId ?? '', driver: f.driverId ?? '', from: f.from, to: f.to, limit: f.limit + 1,
    afterMs: f.after?.ms ?? 0, afterVehicle: f.after?.vehicleId ?? '00000000-0000-0000-0000-000000000000',
  }
}
