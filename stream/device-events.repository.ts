/** All SQL of the device-events processor: the ClickHouse fact table, and who drives the vehicle (Postgres). */
import type { ClickHouseClient } from '@clickhouse/client'
import type pg from 'pg'
import type { DeviceEventV1 } from '../schemas/topics.v1.js'

export interface EventContext {
  /** The reporting device's kind (gps, dashcam), if it still exists. */
  deviceKind: string | null
  driverId: string | null
}

export class DeviceEventsRepository {
  constructor(
    private readonly ch: ClickHouseClient,
    private readonly pool: pg.Pool,
  ) {}

  /**
   * Idempotent: the token makes ClickHouse drop an exact replay of the batch,
   * and the ReplacingMergeTree key (…, ts, id) collapses a resent event.
   */
  async insert(events: DeviceEventV1[], dedupToken: string): Promise<void> {
    await this.ch.insert({
      table: 'device_events',
      format: 'JSONEachRow',
      values: events.map((e) => ({
        org_id: e.orgId,
        vehicle_id: e.vehicleId,
        device_id: e.deviceId,
        id: e.id,
        ts: e.ts,
        received_at: e.receivedAt,
        type: e.type,
        severity: e.severity,
        lat: e.lat,
        lon: e.lon,
        speed: e.speed,
        clip_url: e.clipUrl,
        clip_duration_s: e.clipDurationS,
        clip_start_ts: e.clipStartTs ?? null,
        detail: e.detail,
      })),
      clickhouse_settings: { insert_deduplication_token: dedupToken },
    })
  }

  /**
   * Per event id: its device's kind and who drove the vehicle when the event
   * happened (the driver history; one query per batch), each looked up in the
   * event's own organization only.
   */
  async contextOf(events: DeviceEventV1[]): Promise<Map<string, EventContext>> {
    const { rows } = await this.pool.query<{ id: string; kind: string | null; driver_id: string | null }>(
      `SELECT e.id, d.kind, h.driver_id
         FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[]) AS e (id, org_id, device_id, vehicle_id, ts)
         LEFT JOIN devices d ON d.id = e.device_id AND d.org_id = e.org_id
         LEFT JOIN LATERAL (
           SELECT driver_id FROM vehicle_driver_history
            WHERE vehicle_id = e.vehicle_id AND org_id = e.org_id AND from_ts <= e.ts AND (to_ts IS NULL OR to_ts > e.ts)
            ORDER BY from_ts DESC LIMIT 1
         ) h ON true`,
      [
        events.map((e) => e.id), events.map((e) => e.orgId), events.map((e) => e.deviceId), events.map((e) => e.vehicleId),
        events.map((e) => new Date(e.ts).toISOString()),
      ],
    )
    return new Map(rows.map((r) => [r.id, { deviceKind: r.kind, driverId: r.driver_id }]))
  }
}
