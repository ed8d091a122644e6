import type pg from 'pg'
import type { Organization } from '../../schemas/api.v1.js'
import { isoSql, type Db } from '../db.js'
import { afterCursorSql, CURSOR_MICROS_SQL, type CursorKey } from '../pagination.js'

const COLUMNS = `id, name, ${isoSql('created_at')} AS "createdAt"`

export class OrganizationsRepository {
  constructor(private readonly pool: pg.Pool) {}

  async create(db: Db, name: string): Promise<Organization> {
    const { rows } = await db.query<Organization>(`INSERT INTO organizations (name) VALUES ($1) RETURNING ${COLUMNS}`, [name])
    return rows[0]!
  }

  async list(limit: number, after: CursorKey | undefined) {
    const params: unknown[] = [limit + 1]
    const where = after ? `WHERE ${afterCursorSql('$2', '$3')}` : ''
    if (after) params.push(after.micros, after.id)
    const { rows } = await this.pool.query<Organization & { cursorMicros: string }>(
      `SELECT ${COLUMNS}, ${CURSOR_MICROS_SQL} AS "cursorMicros" FROM organizations ${where} ORDER BY created_at, id LIMIT $1`,
      params,
    )
    return rows
  }
}
