/**
 * docs/analytics.md never rots: every ```sql block of it runs against chDB with
 * the ClickHouse migrations applied, over facts the stream analytics derived
 * from scripted vehicle days (detector, writeFacts, refreshDailyKpis, as live),
 * and must return rows.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { latLngToCell } from 'h3-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClickHouse, type ClickHouse } from '../core/clickhouse.js'
import { createLogger } from '../core/logger.js'
import { migrateClickHouse } from '../core/migrate.js'
import { PACKAGE_ROOT } from '../core/paths.js'
import { destinationPoint } from '../sim/geo.js'
import { Scenario, type ScenarioFix } from '../sim/scenario.js'
import { AnalyticsRepository } from '../stream/analytics/analytics.repository.js'
import { applyFix, DEFAULT_ANALYTICS_SETTINGS, emptyFacts, initialState, type DetectorEnv, type Facts, type VehicleState } from '../stream/analytics/detector.js'
import { GeofenceIndex } from '../stream/analytics/geofences.js'

const ORG = '7d1c2a4e-0000-4000-8000-000000000001'
const VEHICLES = ['7d1c2a4e-0000-4000-8000-0000000000a1', '7d1c2a4e-0000-4000-8000-0000000000a2']
const DRIVERS = ['7d1c2a4e-0000-4000-8000-0000000000d1', '7d1c2a4e-0000-4000-8000-0000000000d2']
const DEVICES = ['7d1c2a4e-0000-4000-8000-0000000000e1', '7d1c2a4e-0000-4000-8000-0000000000e2']
const DAYS = ['2026-11-02', '2026-11-03']
const DEPOT = { lat: 52.52, lon: 13.405 }
const CUSTOMER = destinationPoint(DEPOT, 60, 4000)

/** Every ```sql block, named by the heading above it. */
function sqlBlocks(markdown: string): Array<[string, string]> {
  return [...markdown.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => {
    const heading = [...markdown.slice(0, m.index).matchAll(/^#+ (.+)$/gm)].at(-1)?.[1] ?? '(no heading)'
    return [heading, m[1]!.trim()]
  })
}
const docs = readFileSync(path.join(PACKAGE_ROOT, 'docs/analytics.md'), 'utf8')

/** Out to the customer (speeding, one hard brake), engine left running there, back to the depot. */
function day(date: string, seed: number): Scenario {
  return new Scenario(DEPOT, Date.parse(`${date}T06:00:00Z`), 2, seed)
    .park(600).idle(60)
    .drive({ distanceM: 4000, bearing: 60, cruiseKmh: 60, harshBrakeAt: 0.5 })
    .idle(200).park(900).idle(30)
    .drive({ distanceM: 4000, bearing: 240, cruiseKmh: 50 })
    .park(1800)
}

let ch: ClickHouse
let dir: string

async function store(vehicle: number, fixes: ScenarioFix[]): Promise<void> {
  await ch.client.insert({
    table: 'positions',
    format: 'JSONEachRow',
    values: fixes.map((f, i) => ({
      org_id: ORG, vehicle_id: VEHICLES[vehicle], device_id: DEVICES[vehicle], ts: f.ts, received_at: f.ts + 1500 + (i % 7) * 100,
      lat: f.lat, lon: f.lon, speed: f.speed, heading: f.heading, ignition: f.ignition, odometer: f.odometer / 1000, accuracy: 5, seq: i,
      h3: BigInt(`0x${latLngToCell(f.lat, f.lon, 9)}`).toString(),
    })),
  })
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'fleetpulse-analytics-docs-'))
  const logger = createLogger('silent')
  ch = await createClickHouse({ clickhouseUrl: undefined, database: 'fleetpulse', chdbDir: dir, logger })
  await migrateClickHouse(ch, logger)
  const repo = new AnalyticsRepository(ch.client)
  const depot = new GeofenceIndex([{
    id: '7d1c2a4e-0000-4000-8000-0000000000f1', orgId: ORG, kind: 'circle', polygon: null, centerLat: DEPOT.lat, centerLon: DEPOT.lon,
    radiusM: 300, speedLimitKmh: null, dwellAlertS: 600,
  }])
  const env = (setAt: number): DetectorEnv => ({
    settings: DEFAULT_ANALYTICS_SETTINGS,
    overspeedLimitKmh: () => 55,
    geofencesAt: (orgId, lat, lon) => depot.at(orgId, lat, lon),
    destination: () => ({ ...CUSTOMER, radiusM: 100, orderId: null, setAt }),
    expectedSpeedKmh: () => 40,
    detourFactor: () => 1.2,
    driverAt: (vehicleId) => DRIVERS[VEHICLES.indexOf(vehicleId)] ?? null,
  })
  const facts: Facts = emptyFacts()
  for (const [v, vehicleId] of VEHICLES.entries()) {
    let state: VehicleState | undefined
    for (const [d, date] of DAYS.entries()) {
      const fixes = day(date, 10 * v + d).fixList
      await store(v, fixes)
      for (const fix of fixes) {
        if (!state) state = initialState(ORG, vehicleId, fix)
        else applyFix(state, fix, env(Date.parse(`${date}T05:00:00Z`)), facts)
      }
      // A device uploading a buffer: a few fixes arrived after their reorder window.
      await repo.recordLate(fixes.slice(100, 103).map((f) => ({ orgId: ORG, vehicleId, ts: f.ts, receivedAt: f.ts + 600_000 })))
    }
  }
  await repo.writeFacts(facts, 1)
  await repo.refreshDailyKpis([...facts.trips, ...facts.idles].map((x) => ({ orgId: ORG, vehicleId: x.vehicleId, ts: x.startTs })))
})

afterAll(async () => {
  await ch?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('docs/analytics.md', () => {
  const blocks = sqlBlocks(docs)

  it('has ten example queries', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10)
  })

  it.each(blocks)('runs and finds rows: %s', async (_heading, sql) => {
    const rs = await ch.client.query({
      query: sql, format: 'JSONEachRow', query_params: { org: ORG, from: '2026-10-26', to: '2026-11-08' },
    })
    const rows = await rs.json<Record<string, unknown>>()
    expect(rows.length).toBeGreaterThan(0)
  })
})
