/** All SQL of the positions processors: the ClickHouse fact table and the Postgres latest-position table. */
import type { ClickHouseClient } from '@clickhouse/client'
import type pg from 'pg'
import { h3ToUInt64 } from '../core/geo.js'
import type { PositionV1 } from '../schemas/topics.v1.js'


export class PositionsRepository {
  constructor(
    private readonly ch: ClickHouseClient,
    private readonly pool: pg.Pool,
  ) {}

  /**
   * Idempotent: the token makes ClickHouse drop an exact replay of the batch,
   * and the ReplacingMergeTree key (vehicle, ts) collapses any other replay.
   */
  async insertFacts(positions: PositionV1[], dedupToken: string): Promise<void> {
    await this.ch.insert({
      table: 'positions',
      format: 'JSONEachRow',
      values: positions.map((p) => ({
        org_id: p.orgId,
        vehicle_id: p.vehicleId,
        device_id: p.deviceId,
        ts: p.ts,
        received_at: p.receivedAt,
        lat: p.lat,
        lon: p.lon,
        speed: p.speed ?? null,
        heading: p.heading ?? null,
        alt: p.alt ?? null,
        accuracy: p.accuracy ?? null,
        odometer: p.odometer ?? null,
        ignition: p.ignition ?? null,
        seq: p.seq ?? null,
        h3: h3ToUInt64(p.h3),
      })),
      clickhouse_settings: { insert_deduplication_token: dedupToken },
    })
  }

  /**
   * One statement per batch; the WHERE keeps a late, older fix from moving a
   * vehicle back. The same statement moves each sending device's last_seen_at
   * forward (never back), so "last seen" follows fixes, not only connects.
   */
  async upsertLatest(latest: PositionV1[]): Promise<void> {
    if (latest.length === 0) return
    const col = <T>(f: (p: PositionV1) => T) => latest.map(f)
    await this.pool.query(
      `WITH seen AS (
         SELECT device_id, max(received_at) AS received_at FROM unnest($3::uuid[], $14::timestamptz[]) AS t(device_id, received_at)
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
      ],
    )
  }
}
