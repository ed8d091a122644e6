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

export class TrackRepository {
  constructor(private readonly ch: ClickHouseClient) {}

  /** FINAL: a replayed batch must not show a fix twice. */
  async track(orgId: string, vehicleId: string, from: Date, to: Date, limit: number): Promise<TrackPoint[]> {
    const rs = await this.ch.query({
      query: `
        SELECT toString(toUnixTimestamp64Milli(ts)) AS ts_ms, lat, lon, speed, heading, alt, odometer, ignition, seq,
               lower(hex(h3)) AS h3
          FROM positions FINAL
         WHERE org_id = {org:UUID} AND vehicle_id = {vehicle:UUID}
           AND ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts <= fromUnixTimestamp64Milli({to:Int64})
         ORDER BY ts
         LIMIT {limit:UInt32}`,
      query_params: { org: orgId, vehicle: vehicleId, from: from.getTime(), to: to.getTime(), limit },
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
