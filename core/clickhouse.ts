/**
 * The one owner of the ClickHouse client. Above it, everything speaks
 * `@clickhouse/client`:
 * - `CLICKHOUSE_URL` set: the HTTP client on that server;
 * - otherwise: embedded chDB under DATA_DIR through `chdb/connection`, which
 *   plugs the same client onto an in-process engine. chDB locks its directory
 *   and allows one on-disk path per process, so exactly one process owns it.
 */
import { mkdir } from 'node:fs/promises'
import { createClient, type ClickHouseClient } from '@clickhouse/client'
import type { Logger } from 'pino'

export interface ClickHouse {
  readonly client: ClickHouseClient
  readonly kind: 'server' | 'chdb'
  readonly database: string
  ping(): Promise<boolean>
  close(): Promise<void>
}

export interface ClickHouseOptions {
  clickhouseUrl: string | undefined
  database: string
  /** chDB data directory. */
  chdbDir: string
  logger: Logger
}

export async function createClickHouse(options: ClickHouseOptions): Promise<ClickHouse> {
  const { database, logger } = options
  let client: ClickHouseClient
  let kind: ClickHouse['kind']
  if (options.clickhouseUrl) {
    kind = 'server'
    // Create the database first with a client that does not assume it exists.
    const bootstrap = createClient({ url: options.clickhouseUrl })
    await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` })
    await bootstrap.close()
    client = createClient({
      url: options.clickhouseUrl,
      database,
      clickhouse_settings: { date_time_input_format: 'best_effort' },
    })
  } else {
    kind = 'chdb'
    await mkdir(options.chdbDir, { recursive: true })
    const { createChdbConnection } = await import('chdb/connection')
    client = createClient({
      connection: createChdbConnection({ path: options.chdbDir }),
      clickhouse_settings: { date_time_input_format: 'best_effort' },
    } as Parameters<typeof createClient>[0])
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` })
    // chDB's connection ignores the client's `database` option, but its session
    // is process-wide and keeps USE, so unqualified SQL runs the same on both.
    await client.command({ query: `USE ${database}` })
    logger.debug({ dir: options.chdbDir }, 'embedded chDB opened')
  }
  return {
    client,
    kind,
    database,
    ping: async () => {
      try {
        return (await client.ping()).success
      } catch {
        return false
      }
    },
    close: () => client.close(),
  }
}
