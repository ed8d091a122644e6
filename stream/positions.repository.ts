/** All SQL of the positions processors: the ClickHouse fact table and the Postgres latest-position table. */
import type { ClickHouseClient } from '@clickhouse/client'
import { Readable } from 'node:stream'
import type pg from 'pg'
import { h3ToUInt64 } from '../core/geo.js'
import type { PositionV1 } from '../schemas/topics.v1.js'

const POSITION_COLUMNS: [string, ...string[]] = [
  'org_id', 'vehicle_id', 'device_id', 'ts', 'received_at', 'lat', 'lon', 'speed', 'heading', 'alt', 'accuracy', 'odometer', 'ignition', 'seq', 'h3',
]
/** A TabSeparated field (`\N` is NULL); DateTime64(3) takes epoch milliseconds. */
const tsv = (v: number | boolean | undefined): string => (v === undefined ? '\\N' : String(v))

/** A device's last_seen_at is moved at most this often by fixes (it answers "is it alive", to the minute). */
export const LAST_SEEN_RESOLUTION_MS = 30_000
const LAST_SEEN_MEMORY = 100_000

export class PositionsRepository {
  /** When this process last moved each device's last_seen_at (received time, ms). */
  private readonly lastSeenWritten = new Map<string, number>()

  constructor(
    private readonly ch: ClickHouseClient,
    private readonly pool: pg.Pool,
  ) {}

  /**
   * Idempotent: the token makes ClickHouse drop an exact replay of the batch,
   * and the ReplacingMergeTree key (vehicle, ts) collapses any other replay.
   */
  async insertFacts(positions: PositionV1[], dedupToken: string): Promise<void> {
    // TabSeparated built by hand: every value is a UUID, a number, a boolean or
    // NULL, so nothing needs escaping, and it costs a fraction of JSON per row.
    let body = ''
    for (const p of positions) {
      body += `${p.orgId}\t${p.vehicleId}\t${p.deviceId}\t${p.ts}\t${p.receivedAt}\t${p.lat}\t${p.lon}\t${tsv(p.speed)}\t${tsv(p.heading)}\t${tsv(p.alt)}\t${tsv(p.accuracy)}\t${tsv(p.odometer)}\t${tsv(p.ignition)}\t${tsv(p.seq)}\t${h3ToUInt64(p.h3)}\n`
    }
    await this.ch.insert({
      table: 'positions',
      columns: POSITION_COLUMNS,
      format: 'TabSeparated',
      values: Readable.from([body], { objectMode: false }),
      clickhouse_settings: { insert_deduplication_token: dedupToken },
    })
  }

  /**
   * One statement per batch; the WHERE keeps a late, older fix from moving a
   * vehicle back. The same statement moves each sending device's last_seen_at
   * forward (never back), so "last seen" follows fixes, not only connects; at
   * most every LAST_SEEN_RESOLUTION_MS per device, so a busy fleet does not
   * rewrite every device row on every batch.
   */
  async upsertLatest(latest: PositionV1[]): Promise<void> {
    if (latest.length === 0) return
    const col = <T>(f: (p: PositionV1) => T) => latest.map(f)
    const seen = latest.filter((p) => !(p.receivedAt - (this.lastSeenWritten.get(p.deviceId) ?? -Infinity) < LAST_SEEN_RESOLUTION_MS))
    await this.pool.query(
      `WITH seen AS (
         SELECT device_id, max(received_at) AS received_at FROM unnest($15::uuid[], $16::timestamptz[]) AS t(device_id, received_at)
          GROUP BY device_id
       ), touched AS (
         UPDATE devices SET last_seen_at = seen.received_at FROM seen
          WHERE devices.id = seen.device_id AND (devices.last_seen_at IS NULL OR devices.last_seen_at < seen.received_at)
       )
       INSERT INTO vehicle_positions
         (vehicle_id, org_id, device_id, ts, lat, lon, speed, heading, alt, accuracy, odometer, ignition, h3, received_at)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::float8[], $6::float8[],
                            $7::real[], $8::real[], $9::real[], $10::real[], $11::float8[], $12::boolean[], $13::text[],
                            $14::timestamptz[])
       ON CONFLICT (vehicle_id) DO UPDATE SET
         org_id = EXCLUDED.org_id, device_id = EXCLUDED.device_id, ts = EXCLUDED.ts, lat = EXCLUDED.lat,
         lon = EXCLUDED.lon, speed = EXCLUDED.speed, heading = EXCLUDED.heading, alt = EXCLUDED.alt,
         accuracy = EXCLUDED.accuracy, odometer = EXCLUDED.odometer, ignition = EXCLUDED.ignition,
         h3 = EXCLUDED.h3, received_at = EXCLUDED.received_at, updated_at = now()
       WHERE vehicle_positions.ts < EXCLUDED.ts`,
      [
        col((p) => p.vehicleId),
        col((p) => p.orgId),
        col((p) => p.deviceId),
        col((p) => new Date(p.ts).toISOString()),
        col((p) => p.lat),
        col((p) => p.lon),
        col((p) => p.speed ?? null),
        col((p) => p.heading ?? null),
        col((p) => p.alt ?? null),
        col((p) => p.accuracy ?? null),
        col((p) => p.odometer ?? null),
        col((p) => p.ignition ?? null),
        col((p) => p.h3),
        col((p) => new Date(p.receivedAt).toISOString()),
        seen.map((p) => p.deviceId),
        seen.map((p) => new Date(p.receivedAt).toISOString()),
      ],
    )
    if (this.lastSeenWritten.size + seen.length > LAST_SEEN_MEMORY) this.lastSeenWritten.clear()
    for (const p of seen) this.lastSeenWritten.set(p.deviceId, p.receivedAt)
  }
}
