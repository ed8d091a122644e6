import type pg from 'pg'
import type { Device } from '../../schemas/api.v1.js'
import { findInOrg, isoSql, type Db } from '../db.js'
import { afterCursorSql, CURSOR_MICROS_SQL, type CursorKey } from '../pagination.js'

const COLUMNS = `id, vehicle_id AS "vehicleId", kind, firmware, ${isoSql('last_seen_at')} AS "lastSeenAt",
  ${isoSql('revoked_at')} AS "revokedAt", ${isoSql('secret_rotated_at')} AS "secretRotatedAt", ${isoSql('created_at')} AS "createdAt"`

export class DevicesRepository {
  constructor(private readonly pool: pg.Pool) {}

  async create(db: Db, orgId: string, device: { vehicleId: string | null; kind: string; firmware: string | null; secretHash: string }): Promise<Device> {
    const { rows } = await db.query<Device>(
      `INSERT INTO devices (org_id, vehicle_id, kind, firmware, secret_hash) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
      [orgId, device.vehicleId, device.kind, device.firmware, device.secretHash],
    )
    return rows[0]!
  }

  get(orgId: string, id: string): Promise<Device | undefined> {
    return findInOrg<Device>(this.pool, 'devices', COLUMNS, orgId, id)
  }

  getForUpdate(db: Db, orgId: string, id: string): Promise<Device | undefined> {
    return findInOrg<Device>(db, 'devices', COLUMNS, orgId, id, true)
  }

  async list(orgId: string, limit: number, after: CursorKey | undefined, filter: { vehicleId?: string; kind?: string; revoked?: boolean }) {
    const params: unknown[] = [orgId, limit + 1]
    const where = ['org_id = $1']
    if (filter.vehicleId) where.push(`vehicle_id = $${params.push(filter.vehicleId)}`)
    if (filter.kind) where.push(`kind = $${params.push(filter.kind)}`)
    if (filter.revoked !== undefined) where.push(filter.revoked ? 'revoked_at IS NOT NULL' : 'revoked_at IS NULL')
    if (after) where.push(afterCursorSql(`$${params.push(after.micros)}`, `$${params.push(after.id)}`))
    const { rows } = await this.pool.query<Device & { cursorMicros: string }>(
      `SELECT ${COLUMNS}, ${CURSOR_MICROS_SQL} AS "cursorMicros" FROM devices WHERE ${where.join(' AND ')} ORDER BY created_at, id LIMIT $2`,
      params,
    )
    return rows
  }

  /** Sets the given columns and answers the row after the change. */
  async update(db: Db, orgId: string, id: string, change: {
    vehicleId?: string | null; firmware?: string | null; secretHash?: string; revoke?: true
  }): Promise<Device> {
    const params: unknown[] = [orgId, id]
    const sets: string[] = []
    if (change.vehicleId !== undefined) sets.push(`vehicle_id = $${params.push(change.vehicleId)}`)
    if (change.firmware !== undefined) sets.push(`firmware = $${params.push(change.firmware)}`)
    if (change.secretHash !== undefined) sets.push(`secret_hash = $${params.push(change.secretHash)}`, 'secret_rotated_at = now()')
    if (change.revoke) sets.push('revoked_at = now()')
    const { rows } = await db.query<Device>(`UPDATE devices SET ${sets.join(', ')} WHERE org_id = $1 AND id = $2 RETURNING ${COLUMNS}`, params)
    return rows[0]!
  }
}
