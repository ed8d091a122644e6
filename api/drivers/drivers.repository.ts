import type pg from 'pg'
import type { Driver, DriverListQuery, DriverState, UpdateDriverBody } from '../../schemas/api.v1.js'
import { findInOrg, isoSql, type Db } from '../db.js'
import { sortedPage } from '../pagination.js'

const TRAINING = `COALESCE((SELECT json_agg(json_build_object('module', t.module, 'assignedAt', ${isoSql('t.assigned_at')},
  'completedAt', ${isoSql('t.completed_at')}) ORDER BY t.module) FROM driver_training t WHERE t.driver_id = drivers.id), '[]'::json)`

const COLUMNS = `id, name, email, phone, licence_number AS "licenceNumber", state, background_check AS "backgroundCheck",
  state_reason AS "stateReason", user_id AS "userId", ${TRAINING} AS training,
  ${isoSql('created_at')} AS "createdAt", ${isoSql('updated_at')} AS "updatedAt"`

const UPDATABLE = { name: 'name', email: 'email', phone: 'phone', licenceNumber: 'licence_number' } as const

export class DriversRepository {
  constructor(private readonly pool: pg.Pool) {}

  async create(db: Db, orgId: string, body: { name: string; email?: string; phone?: string; licenceNumber?: string }): Promise<Driver> {
    const { rows } = await db.query<Driver>(
      `INSERT INTO drivers (org_id, name, email, phone, licence_number) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
      [orgId, body.name, body.email ?? null, body.phone ?? null, body.licenceNumber ?? null],
    )
    return rows[0]!
  }

  get(orgId: string, id: string, db: Db = this.pool): Promise<Driver | undefined> {
    return findInOrg<Driver>(db, 'drivers', COLUMNS, orgId, id)
  }

  getForUpdate(db: Db, orgId: string, id: string): Promise<Driver | undefined> {
    return findInOrg<Driver>(db, 'drivers', COLUMNS, orgId, id, true)
  }

  async getByUser(orgId: string, userId: string): Promise<Driver | undefined> {
    const { rows } = await this.pool.query<Driver>(`SELECT ${COLUMNS} FROM drivers WHERE org_id = $1 AND user_id = $2`, [orgId, userId])
    return rows[0]
  }

  /** The driver waiting for this background-check reference (any organization: the vendor knows only the reference). */
  async findByCheckReference(db: Db, reference: string): Promise<{ id: string; orgId: string } | undefined> {
    const { rows } = await db.query<{ id: string; orgId: string }>(
      'SELECT id, org_id AS "orgId" FROM drivers WHERE background_check_ref = $1 FOR UPDATE', [reference])
    return rows[0]
  }

  async update(db: Db, orgId: string, id: string, change: UpdateDriverBody & {
    state?: DriverState; stateReason?: string | null; backgroundCheck?: 'pending' | 'passed' | 'failed'; backgroundCheckRef?: string; userId?: string
  }): Promise<Driver> {
    const params: unknown[] = [orgId, id]
    const sets = ['updated_at = now()']
    const set = (column: string, value: unknown) => sets.push(`${column} = $${params.push(value)}`)
    for (const [field, column] of Object.entries(UPDATABLE)) {
      const value = change[field as keyof UpdateDriverBody]
      if (value !== undefined) set(column, value)
    }
    if (change.state !== undefined) set('state', change.state)
    if (change.stateReason !== undefined) set('state_reason', change.stateReason)
    if (change.backgroundCheck !== undefined) set('background_check', change.backgroundCheck)
    if (change.backgroundCheckRef !== undefined) set('background_check_ref', change.backgroundCheckRef)
    if (change.userId !== undefined) set('user_id', change.userId)
    const { rows } = await db.query<Driver>(`UPDATE drivers SET ${sets.join(', ')} WHERE org_id = $1 AND id = $2 RETURNING ${COLUMNS}`, params)
    return rows[0]!
  }

  async assignModules(db: Db, driverId: string, modules: string[]): Promise<void> {
    await db.query(
      `INSERT INTO driver_training (driver_id, module) SELECT $1, m FROM unnest($2::text[]) AS m ON CONFLICT (driver_id, module) DO NOTHING`,
      [driverId, modules],
    )
  }

  /** Marks a module done; false when the driver was not assigned it. */
  async completeModule(db: Db, driverId: string, module: string): Promise<boolean> {
    const { rowCount } = await db.query(
      'UPDATE driver_training SET completed_at = COALESCE(completed_at, now()) WHERE driver_id = $1 AND module = $2', [driverId, module])
    return (rowCount ?? 0) > 0
  }

  list(orgId: string, query: DriverListQuery) {
    return sortedPage<Driver>(this.pool, { table: 'drivers', columns: COLUMNS, searchColumns: ['name', 'email', 'licence_number'] }, orgId, query)
  }

}
