/** Analytics reads from ClickHouse. */
import type { ClickHouseClient } from '@clickhouse/client'
import type { TrackPoint } from '../../schemas/api.v1.js'

interface TrackRow {
  ts_ms: string
  lat: number
  lon: number
  speed: number | null
  heading: number | null
  alt: number | null
  odometer: number | null
  ignition: boolean | null
  seq: number | null
  h3: string
}

export interface VehicleMetricsRow {
  fixes: string
  distance_m: number
  engine_s: number
  max_speed: number | null
  first_ms: string | null
  last_ms: string | null
}

/** Consecutive fixes further apart than this are a gap (device off): no engine time is counted across it. */
export const ENGINE_GAP_S = 300

export class TrackRepository {
  constructor(private readonly ch: ClickHouseClient) {}

  /**
   * Distance (great-circle between consecutive fixes), engine time (time after
   * a fix with ignition on, up to ENGINE_GAP_S per step) and speed over a range,
   * in one pass with window functions, FINAL so a replay counts once.
   */
  async metrics(orgId: string, vehicleId: string, from: Date, to: Date): Promise<VehicleMetricsRow> {
    const rs = await this.ch.query({
      query: `
        SELECT toString(count()) AS fixes,
               sum(step_m) AS distance_m,
               sumIf(step_s, prev_ignition = 1 AND step_s <= {gap:UInt32}) AS engine_s,
               max(speed) AS max_speed,
               if(count() = 0, NULL, toString(toUnixTimestamp64Milli(min(ts)))) AS first_ms,
               if(count() = 0, NULL, toString(toUnixTimestamp64Milli(max(ts)))) AS last_ms
          FROM (
            SELECT ts, speed,
                   geoDistance(lagInFrame(lon, 1, lon) OVER w, lagInFrame(lat, 1, lat) OVER w, lon, lat) AS step_m,
                   dateDiff('millisecond', lagInFrame(ts, 1, ts) OVER w, ts) / 1000 AS step_s,
                   lagInFrame(ignition, 1, ignition) OVER w AS prev_ignition
              FROM positions FINAL
             WHERE org_id = {org:UUID} AND vehicle_id = {vehicle:UUID}
               AND ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts <= fromUnixTimestamp64Milli({to:Int64})
            WINDOW w AS (ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
          )`,
      query_params: { org: orgId, vehicle: vehicleId, from: from.getTime(), to: to.getTime(), gap: ENGINE_GAP_S },
      format: 'JSONEachRow',
    })
    return (await rs.json<VehicleMetricsRow>())[0]!
  }

  /** FINAL: a replayed batch must not show a fix twice. */
  /** Fixes in [from, to], after the fix at `afterMs` when given (ts is unique per vehicle: the table's key). */
  async track(orgId: string, vehicleId: string, from: Date, to: Date, limit: number, afterMs?: number): Promise<TrackPoint[]> {
    const rs = await this.ch.query({
      query: `
        SELECT toString(toUnixTimestamp64Milli(ts)) AS ts_ms, lat, lon, speed, heading, alt, odometer, ignition, seq,
               lower(hex(h3)) AS h3
          FROM positions FINAL
         WHERE org_id = {org:UUID} AND vehicle_id = {vehicle:UUID}
           AND ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts <= fromUnixTimestamp64Milli({to:Int64})
           AND ts > fromUnixTimestamp64Milli({after:Int64})
         ORDER BY ts
         LIMIT {limit:UInt32}`,
      query_params: { org: orgId, vehicle: vehicleId, from: from.getTime(), to: to.getTime(), limit, after: afterMs ?? -1 },
      format: 'JSONEachRow',
    })
    const rows = await rs.json<TrackRow>()
    return rows.map((r) => ({
      ts: new Date(Number(r.ts_ms)).toISOString(),
      lat: r.lat,
      lon: r.lon,
      speed: r.speed,
      heading: r.heading,
      alt: r.alt,
      odometer: r.odometer,
      ignition: r.ignition,
      seq: r.seq === null ? null : Number(r.seq),
      // hex() pads to 16 digits; H3's canonical form has no leading zeros.
      h3: r.h3.replace(/^0+/, ''),
    }))
  }
}
