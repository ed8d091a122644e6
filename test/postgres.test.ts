/**
 * The Postgres connector and migrations, on embedded PGlite always and on a
 * PostgreSQL server when DATABASE_URL is set (a fresh database per run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../core/logger.js'
import { migratePostgres } from '../core/migrate.js'
import { createPostgres, type Postgres } from '../core/postgres.js'
import { freshDatabase } from './helpers/services.js'

const logger = createLogger('silent')

const targets: Array<[string, () => Promise<string | undefined>]> = [['PGlite', async () => undefined]]
if (process.env.DATABASE_URL) targets.push(['PostgreSQL', async () => (await freshDatabase()).url])

describe.each(targets)('postgres connector on %s', (_name, databaseUrl) => {
  let pg: Postgres
  beforeAll(async () => {
    pg = await createPostgres({ databaseUrl: await databaseUrl(), pgliteDir: 'memory://', logger })
  })
  afterAll(async () => {
    await pg?.close()
  })

  it('answers many concurrent parameterized queries and transactions correctly', async () => {
    await pg.pool.query('CREATE TABLE t (id int PRIMARY KEY, v text)')
    const writes = Array.from({ length: 100 }, (_, i) => pg.pool.query('INSERT INTO t (id, v) VALUES ($1, $2)', [i, `v${i}`]))
    // Statements of different shapes, so any mix-up between connections shows.
    const reads = Array.from({ length: 100 }, (_, i) =>
      i % 3 === 0
        ? pg.pool.query<{ n: number }>('SELECT $1::int + 1 AS n', [i])
        : i % 3 === 1
          ? pg.pool.query<{ n: number }>('SELECT $1::int + $2::int AS n', [i, 1])
          : pg.pool.query<{ n: number }>('SELECT $1::int + $2::int + $3::int AS n', [i, 1, 0]),
    )
    // Transactions between other connections' extended queries are what broke
    // pglite-socket's multiplexer with more than one connection.
    const txs = Array.from({ length: 20 }, async (_, i) => {
      const client = await pg.pool.connect()
      try {
        await client.query('BEGIN')
        await client.query('INSERT INTO t (id, v) VALUES ($1, $2)', [1000 + i, 'tx'])
        await client.query('SELECT v FROM t WHERE id = $1', [1000 + i])
        await client.query('COMMIT')
      } finally {
        client.release()
      }
    })
    await Promise.all([...writes, ...txs])
    const sums = await Promise.all(reads)
    sums.forEach((r, i) => expect(r.rows[0]!.n).toBe(i + 1))
    const { rows } = await pg.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM t')
    expect(rows[0]!.n).toBe(120)
  })

  it('applies each migration once, and the audit log refuses updates and deletes', async () => {
    const first = await migratePostgres(pg, logger)
    expect(first).toBeGreaterThan(0)
    expect(await migratePostgres(pg, logger)).toBe(0)
    await pg.pool.query(`INSERT INTO audit_log (action, entity_type) VALUES ('test', 'thing')`)
    await expect(pg.pool.query(`UPDATE audit_log SET action = 'changed'`)).rejects.toThrow(/append-only/)
    await expect(pg.pool.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/)
    await expect(pg.pool.query('TRUNCATE audit_log')).rejects.toThrow(/append-only/)
  })
})
