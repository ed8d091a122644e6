/**
 * The one owner of the Postgres pool. Above it, everything speaks `pg`:
 * - `DATABASE_URL` set: a pool on that server;
 * - otherwise: PGlite (Postgres compiled to WASM) under DATA_DIR, served on a
 *   loopback port by pglite-socket, and the same `pg` pool connects to it.
 */
import path from 'node:path'
import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import pg from 'pg'
import type { Logger } from 'pino'

export interface Postgres {
  readonly pool: pg.Pool
  readonly kind: 'server' | 'pglite'
  /** The URL the pool uses (the embedded one points at the loopback socket). */
  readonly url: string
  ping(): Promise<boolean>
  close(): Promise<void>
}

export interface PostgresOptions {
  databaseUrl: string | undefined
  /** PGlite data directory; 'memory://' for a throwaway database (tests). */
  pgliteDir: string
  logger: Logger
  poolSize?: number
}

// Return int8/numeric as numbers only where safe: counts fit, ids are uuids.
pg.types.setTypeParser(20, (v) => Number(v))

function attachPool(pool: pg.Pool, logger: Logger): void {
  // An idle client losing its connection must not crash the process.
  pool.on('error', (err) => logger.error({ err }, 'postgres pool client error'))
}

async function ping(pool: pg.Pool): Promise<boolean> {
  try {
    await pool.query('SELECT 1')
    return true
  } catch {
    return false
  }
}

export async function createPostgres(options: PostgresOptions): Promise<Postgres> {
  const { logger } = options
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 10 })
    attachPool(pool, logger)
    return {
      pool,
      kind: 'server',
      url: options.databaseUrl,
      ping: () => ping(pool),
      close: () => pool.end(),
    }
  }

  // Imported lazily: the WASM build is only needed in embedded mode.
  const { PGlite } = await import('@electric-sql/pglite')
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket')
  const dir = options.pgliteDir
  if (!dir.startsWith('memory://')) await mkdir(path.dirname(dir), { recursive: true })
  const db = await PGlite.create(dir)
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 32 })
  await server.start()
  const address = (server as unknown as { server: { address(): AddressInfo } }).server.address()
  const url = `postgres://postgres@127.0.0.1:${address.port}/postgres`
  // One connection. pglite-socket multiplexes connections per protocol message
  // and pins one only inside a transaction, so two connections' extended-query
  // messages (Parse/Bind/Execute) interleave and share the unnamed statement
  // ("portal does not exist"). PGlite runs one query at a time anyway; the pool
  // queues the rest. Consequence for callers: never take a second connection
  // while holding one (pass the transaction's client down instead).
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  attachPool(pool, logger)
  logger.debug({ dir, url }, 'embedded PGlite started')
  return {
    pool,
    kind: 'pglite',
    url,
    ping: () => ping(pool),
    close: async () => {
      await pool.end()
      await server.stop()
      await db.close()
    },
  }
}
