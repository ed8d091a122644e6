/**
 * Applies numbered SQL files (`NNN_name.sql`) from migrations/postgres and
 * migrations/clickhouse once each, in order, recording them in a
 * `schema_migrations` table. Files are never edited after landing: a change is a
 * new file.
 */
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import type { ClickHouse } from './clickhouse.js'
import type { Postgres } from './postgres.js'
import { MIGRATIONS_DIR } from './paths.js'

export interface Migration {
  version: number
  name: string
  sql: string
}

export async function readMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort()
  const seen = new Set<number>()
  const out: Migration[] = []
  for (const file of files) {
    const m = /^(\d+)_([\w-]+)\.sql$/.exec(file)
    if (!m) throw new Error(`migration file name must be NNN_name.sql: ${file}`)
    const version = Number(m[1])
    if (seen.has(version)) throw new Error(`two migrations share version ${version} in ${dir}`)
    seen.add(version)
    out.push({ version, name: m[2]!, sql: await readFile(path.join(dir, file), 'utf8') })
  }
  return out.sort((a, b) => a.version - b.version)
}

// Any fixed number: serializes migrations across processes starting together.
const PG_MIGRATION_LOCK = 727_001

export async function migratePostgres(pg: Postgres, logger: Logger, dir = path.join(MIGRATIONS_DIR, 'postgres')): Promise<number> {
  const migrations = await readMigrations(dir)
  const client = await pg.pool.connect()
  let applied = 0
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PG_MIGRATION_LOCK])
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version))
    for (const m of migrations) {
      if (done.has(m.version)) continue
      try {
        await client.query('BEGIN')
        await client.query(m.sql)
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name])
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK')
        throw new Error(`postgres migration ${m.version}_${m.name} failed: ${(err as Error).message}`, { cause: err })
      }
      applied++
      logger.info({ version: m.version, migration: m.name }, 'postgres migration applied')
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PG_MIGRATION_LOCK]).catch(() => {})
    client.release()
  }
  return applied
}

/** ClickHouse takes one statement per request: files are split on `;` at line ends. */
export function splitStatements(sql: string): string[] {
  return sql
    .replace(/^\s*--.*$/gm, '')
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
}

export async function migrateClickHouse(ch: ClickHouse, logger: Logger, dir = path.join(MIGRATIONS_DIR, 'clickhouse')): Promise<number> {
  const migrations = await readMigrations(dir)
  await ch.client.command({
    query: `CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at DateTime DEFAULT now())
      ENGINE = MergeTree ORDER BY version`,
  })
  const rs = await ch.client.query({ query: 'SELECT version FROM schema_migrations', format: 'JSONEachRow' })
  const done = new Set((await rs.json<{ version: number }>()).map((r) => Number(r.version)))
  let applied = 0
  for (const m of migrations) {
    if (done.has(m.version)) continue
    // ClickHouse DDL is not transactional: statements are written IF NOT EXISTS
    // so that a half-applied file can simply run again.
    for (const statement of splitStatements(m.sql)) {
      try {
        await ch.client.command({ query: statement })
      } catch (err) {
        throw new Error(`clickhouse migration ${m.version}_${m.name} failed: ${(err as Error).message}`, { cause: err })
      }
    }
    await ch.client.insert({ table: 'schema_migrations', values: [{ version: m.version, name: m.name }], format: 'JSONEachRow' })
    applied++
    logger.info({ version: m.version, migration: m.name }, 'clickhouse migration applied')
  }
  return applied
}

/**
 * Raw positions kept `days` days (0 = forever), from POSITIONS_TTL_DAYS: set on
 * the table when it differs from what is there. Parts already written are
 * cleaned by ClickHouse's merges (no rewrite of the whole table at start-up).
 */
export async function applyPositionsTtl(ch: ClickHouse, days: number, logger: Logger): Promise<void> {
  const rs = await ch.client.query({
    query: `SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name = 'positions'`,
    format: 'JSONEachRow',
  })
  const ddl = (await rs.json<{ q: string }>())[0]?.q ?? ''
  const current = /TTL toDateTime\(ts\) \+ toIntervalDay\((\d+)\)/.exec(ddl)
  const currentDays = current ? Number(current[1]) : 0
  if (currentDays === days && (days > 0 || !/\bTTL\b/.test(ddl))) return
  await ch.client.command({
    query: days > 0 ? `ALTER TABLE positions MODIFY TTL toDateTime(ts) + toIntervalDay(${Math.floor(days)})` : 'ALTER TABLE positions REMOVE TTL',
    clickhouse_settings: { materialize_ttl_after_modify: 0 },
  })
  logger.info({ days }, days > 0 ? 'positions TTL set' : 'positions TTL removed')
}
