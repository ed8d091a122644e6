/**
 * ETA learned from the fleet's own history: trips driven on a route with a
 * known speed profile (cruising, red lights) are stored; the speed profile is
 * learned from them in ClickHouse (per H3 cell and hour of week, with the
 * detour factor); new runs on such routes, with a destination, are estimated
 * with it. The median absolute error at half way must be within 10 % of the
 * time then left.
 */
import { mkdtempSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClickHouse, type ClickHouse } from '../core/clickhouse.js'
import { createLogger } from '../core/logger.js'
import { migrateClickHouse } from '../core/migrate.js'
import { createPostgres, type Postgres } from '../core/postgres.js'
import { Scenario } from '../sim/scenario.js'
import { AnalyticsRepository } from '../stream/analytics/analytics.repository.js'
import { applyFix, DEFAULT_ANALYTICS_SETTINGS, emptyFacts, initialState, type Destination, type DetectorEnv } from '../stream/analytics/detector.js'
import { Surroundings } from '../stream/analytics/surroundings.js'

const logger = createLogger('silent')
const ORG = '00000000-0000-4000-8000-0000000000e1'
const START = { lat: 48.137, lon: 11.575 }
let ch: ClickHouse
let pg: Postgres
let dir: string

/** A route: legs of `legM` metres at 50 km/h, each ending at a 20 s red light, then a long stop. */
function route(startTs: number, seed: number, legs: number, legM: number): Scenario {
  const sc = new Scenario(START, startTs, 2, seed).park(300)
  for (let i = 0; i < legs; i++) sc.drive({ distanceM: legM, bearing: 30, cruiseKmh: 50 }).idle(20)
  return sc.park(600)
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'fleetpulse-eta-'))
  ch = await createClickHouse({ clickhouseUrl: undefined, database: 'fleetpulse', chdbDir: dir, logger })
  await migrateClickHouse(ch, logger)
  pg = await createPostgres({ databaseUrl: undefined, pgliteDir: 'memory://', logger })
})
afterAll(async () => {
  await pg?.close()
  await ch?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('ETA learned from history', () => {
  it('is within 10 % of the remaining time at half way (median), on routes like the fleet drove before', async () => {
    const repository = new AnalyticsRepository(ch.client)
    const plain: DetectorEnv = {
      settings: DEFAULT_ANALYTICS_SETTINGS, overspeedLimitKmh: () => 90, geofencesAt: () => [], destination: () => undefined,
      expectedSpeedKmh: () => 30, detourFactor: () => 1.3, driverAt: () => null,
    }
    // The fleet's history: 24 vehicles, each one run over the last days.
    const now = Date.now()
    for (let v = 0; v < 24; v++) {
      const vehicleId = `00000000-0000-4000-8000-${String(100 + v).padStart(12, '0')}`
      const fixes = route(now - (3 * 86_400_000) + v * 3_600_000, v + 1, 6, 900 + (v % 5) * 60).fixList
      const facts = emptyFacts()
      const state = initialState(ORG, vehicleId, fixes[0]!)
      for (const f of fixes.slice(1)) applyFix(state, f, plain, facts)
      expect(facts.trips).toHaveLength(1)
      await repository.writeFacts(facts, now)
    }
    const surroundings = new Surroundings(pg.pool, repository, { settings: DEFAULT_ANALYTICS_SETTINGS, defaultOverspeedKmh: 90, refreshMs: 60_000, profileRefreshMs: 60_000 }, logger)
    await surroundings.refreshProfile()
    const learned = surroundings.env(true)
    const learnedKmh = learned.expectedSpeedKmh(ORG, START.lat, START.lon, now)
    expect(learnedKmh).toBeGreaterThan(20)
    expect(learnedKmh).toBeLessThan(50)

    // New runs, with a destination at their end.
    const errors: number[] = []
    for (let run = 0; run < 9; run++) {
      const vehicleId = `00000000-0000-4000-8000-${String(900 + run).padStart(12, '0')}`
      const sc = route(now - 3_600_000, 100 + run, 6, 900 + (run % 5) * 60)
      const fixes = sc.fixList
      const last = fixes.filter((f) => f.speed > 0).at(-1)!
      const dest: Destination = { lat: last.lat, lon: last.lon, radiusM: 30, orderId: null, setAt: fixes[0]!.ts }
      const env: DetectorEnv = { ...learned, destination: () => dest }
      const facts = emptyFacts()
      const state = initialState(ORG, vehicleId, fixes[0]!)
      for (const f of fixes.slice(1)) applyFix(state, f, env, facts)
      const o = facts.etaOutcomes[0]!
      errors.push(Math.abs(o.halfEtaTs! - o.arrivedTs) / (o.arrivedTs - o.halfTs!))
    }
    errors.sort((a, b) => a - b)
    const median = errors[Math.floor(errors.length / 2)]!
    console.log(`ETA at half way, learned ${learnedKmh.toFixed(1)} km/h: median |error| ${(median * 100).toFixed(1)} % of the time left (runs: ${errors.map((e) => (e * 100).toFixed(1)).join(', ')})`)
    expect(median).toBeLessThan(0.1)
  })
})
