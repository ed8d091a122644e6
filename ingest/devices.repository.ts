import type pg from 'pg'

export interface DeviceRecord {
  id: string
  orgId: string
  vehicleId: string | null
  secretHash: string
  revoked: boolean
}

export class DevicesRepository {
  constructor(private readonly pool: pg.Pool) {}

  async findById(id: string): Promise<DeviceRecord | undefined> {
    const { rows } = await this.pool.query<DeviceRecord>(
      `SELECT id, org_id AS "orgId", vehicle_id AS "vehicleId", secret_hash AS "secretHash",
              revoked_at IS NOT NULL AS revoked
         FROM devices WHERE id = $1`,
      [id],
    )
    return rows[0]
  }

  /** Called on connect only: per-fix writes would put Postgres on the hot path. */
  async touchLastSeen(id: string): Promise<void> {
    await this.pool.query('UPDATE devices SET last_seen_at = now() WHERE id = $1', [id])
  }
}
