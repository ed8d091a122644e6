import type pg from 'pg'
import { InFlightBatcher } from '../core/batcher.js'

export interface DeviceRecord {
  id: string
  orgId: string
  vehicleId: string | null
  secretHash: string
  revoked: boolean
}

/**
 * Devices as ingest sees them at CONNECT. Lookups and last-seen writes made
 * while a query runs are batched into the next one (`InFlightBatcher`), so a
 * fleet reconnecting at once after a restart does not queue one query per
 * device (on PGlite's single connection, 500 devices took ~25 s one by one).
 */
export class DevicesRepository {
  private readonly lookups: InFlightBatcher<string, DeviceRecord>
  private readonly touches: InFlightBatcher<string, true>

  constructor(pool: pg.Pool) {
    this.lookups = new InFlightBatcher(async (ids) => {
      const { rows } = await pool.query<DeviceRecord>(
        `SELECT id, org_id AS "orgId", vehicle_id AS "vehicleId", secret_hash AS "secretHash",
                revoked_at IS NOT NULL AS revoked
           FROM devices WHERE id = ANY($1::uuid[])`,
        [ids],
      )
      return new Map(rows.map((r) => [r.id, r]))
    })
    this.touches = new InFlightBatcher(async (ids) => {
      await pool.query('UPDATE devices SET last_seen_at = now() WHERE id = ANY($1::uuid[])', [ids])
      return new Map(ids.map((id) => [id, true as const]))
    })
  }

  /** `id` must be a UUID (ingest checks the user name first); any letter case. */
  findById(id: string): Promise<DeviceRecord | undefined> {
    return this.lookups.load(id.toLowerCase())
  }

  /** Called on connect only: per-fix writes would put Postgres on the hot path. */
  async touchLastSeen(id: string): Promise<void> {
    await this.touches.load(id.toLowerCase())
  }
}
