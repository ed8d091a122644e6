/**
 * The ClickHouse schema on embedded chDB: migrations apply once, and the raw
 * positions' retention follows POSITIONS_TTL_DAYS.
 */
import { mkdtempSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClickHouse, type ClickHouse } from '../core/clickhouse.js'
import { createLogger } from '../core/logger.js'
import { applyPositionsTtl, migrateClickHouse } from '../core/migrate.js'

const logger = createLogger('silent')
let ch: ClickHouse
let dir: string

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'fleetpulse-ch-'))
  ch = await createClickHouse({ clickhouseUrl: undefined, database: 'fleetpulse', chdbDir: dir, logger })
})
afterAll(async () => {
  await ch?.close()
  await rm(dir, { recursive: true, force: true })
})

const ddl = async () => {
  const rs = await ch.client.query({ query: `SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name = 'positions'`, format: 'JSONEachRow' })
  return (await rs.json<{ q: string }>())[0]!.q
}

describe('ClickHouse schema', () => {
  it('applies each migration once', async () => {
    expect(await migrateClickHouse(ch, logger)).toBeGreaterThan(1)
    expect(await migrateClickHouse(ch, logger)).toBe(0)
    const rs = await ch.client.query({ query: 'SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name', format: 'JSONEachRow' })
    expect((await rs.json<{ name: string }>()).map((r) => r.name)).toEqual(expect.arrayContaining([
      'positions', 'trips', 'stops', 'idles', 'driving_events', 'geofence_events', 'eta_outcomes', 'vehicle_checkpoints', 'late_fixes',
      'vehicle_daily_kpis', 'driver_daily_kpis',
    ]))
  })

  it('keeps raw positions POSITIONS_TTL_DAYS days, or forever with 0', async () => {
    expect(await ddl()).not.toMatch(/\bTTL\b/)
    await applyPositionsTtl(ch, 400, logger)
    expect(await ddl()).toMatch(/TTL toDateTime\(ts\) \+ toIntervalDay\(400\)/)
    await applyPositionsTtl(ch, 400, logger)
    await applyPositionsTtl(ch, 30, logger)
    expect(await ddl()).toMatch(/TTL toDateTime\(ts\) \+ toIntervalDay\(30\)/)
    await applyPositionsTtl(ch, 0, logger)
    expect(await ddl()).not.toMatch(/\bTTL\b/)
  })
})
