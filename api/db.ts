/** Small SQL helpers every repository and service of the API shares. */
import type pg from 'pg'

/** A pool or a client inside a transaction: what a repository method runs its query on. */
export type Db = Pick<pg.Pool, 'query'>

/** RFC 3339 in UTC with milliseconds, the same shape JavaScript's toISOString gives. */
export const isoSql = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/**
 * Runs fn in one transaction on one connection. Never take a second pool
 * connection inside fn: with embedded PGlite the pool has a single connection.
 */
export async function withTransaction<T>(pool: pg.Pool, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const result = await fn(client)
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}

/**
 * One row of an organization's table by id, or undefined: a record of another
 * organization is as absent as a missing one. `lock` takes the row lock for a
 * change in the caller's transaction, so two concurrent changes serialize.
 */
export async function findInOrg<T extends pg.QueryResultRow>(
  db: Db, table: string, columns: string, orgId: string, id: string, lock = false,
): Promise<T | undefined> {
  const { rows } = await db.query<T>(`SELECT ${columns} FROM ${table} WHERE org_id = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`, [orgId, id])
  return rows[0]
}

/**
 * Updates one row of an organization's table and answers it as `columns` read
 * it, in the same statement (RETURNING). `sets` may use $3 onwards: `params`.
 */
export async function updateInOrg<T extends pg.QueryResultRow>(
  db: Db, table: string, columns: string, orgId: string, id: string, sets: string, params: unknown[] = [],
): Promise<T> {
  const { rows } = await db.query<T>(`UPDATE ${table} SET ${sets} WHERE org_id = $1 AND id = $2 RETURNING ${columns}`, [orgId, id, ...params])
  return rows[0]!
}

/** Postgres unique_violation: the caller turns it into a 409. */
export const isUniqueViolation = (err: unknown): boolean => (err as { code?: string } | null)?.code === '23505'
