/**
 * Query section helper: owns an embedded chDB in a fresh directory (chDB is
 * one per process), runs the ClickHouse migrations, generates the positions,
 * derives their facts with the stream analytics, then times the API's own
 * reads (AnalyticsReader) the dashboards make.
 */
import { AnalyticsReader } from '../api/analytics/analytics.repository.js'
import { createClickHouse, type ClickHouse } from '../core/clickhouse.js'
import { createLogger } from '../core/logger.js'
import { migrateClickHouse } from '../core/migrate.js'
import { mulberry32 } from '../sim/random.js'
import type { QueryBenchApi, QueryDataFigures, QueryTiming } from './protocol.js'
import { CITY, deriveFacts, insertPositions, makeFleet, type QueryFleet } from './query.data.js'
import { serveRpc } from './rpc.js'
import { latencyStats } from './stats.js'

const DAY_MS = 86_400_000
/** Vehicles per INSERT ... SELECT: about a million rows each. */
const INSERT_VEHICLES = 100
const WARMUP = 3

let ch: ClickHouse | undefined
let fleet: QueryFleet | undefined
let nowMs = 0

const seconds = (t0: number) => (performance.now() - t0) / 1000
const say = (line: string) => console.log(`[bench query] ${line}`)

async function rows<T>(query: string): Promise<T[]> {
  return (await ch!.client.query({ query, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json<T>()
}

/**
 * Replays produce no ETAs (they need the live destinations), so arrivals are
 * made up from the trips: every other trip was an order, estimated half way
 * with an error of up to ±20 % of the time then left.
 */
async function fillEtaOutcomes(): Promise<void> {
  await ch!.client.command({
    query: `
      INSERT INTO eta_outcomes (org_id, vehicle_id, order_id, set_at, start_ts, arrived_ts, start_remaining_m, half_ts, half_eta_ts, half_error_s, half_remaining_s)
      SELECT org_id, vehicle_id, generateUUIDv4(), start_ts - INTERVAL 1 MINUTE, start_ts, end_ts, straight_m, half_ts,
             half_ts + toIntervalMillisecond(toInt64((remaining_s + err_s) * 1000)), err_s, remaining_s
        FROM (SELECT *, start_ts + toIntervalMillisecond(toInt64(duration_s * 500)) AS half_ts, duration_s / 2 AS remaining_s,
                     (cityHash64(vehicle_id, start_ts) % 401 - 200) / 1000 * remaining_s AS err_s
                FROM trips FINAL WHERE cityHash64(vehicle_id, start_ts) % 2 = 0)`,
  })
}

async function prepare(arg: { dir: string; positions: number; nowMs: number }): Promise<QueryDataFigures> {
  const logger = createLogger('warn', 'bench-query')
  ch = await createClickHouse({ clickhouseUrl: undefined, database: 'fleetpulse', chdbDir: arg.dir, logger })
  await migrateClickHouse(ch, logger)
  nowMs = arg.nowMs
  const f = (fleet = makeFleet(arg.positions, arg.nowMs))
  say(`${f.vehicles.length} vehicles × ${f.fixesPerVehicle.toLocaleString('en-US')} fixes over ${f.days} days`)

  let t0 = performance.now()
  for (let from = 0; from < f.vehicles.length; from += INSERT_VEHICLES) {
    await insertPositions(ch.client, f, from, Math.min(f.vehicles.length, from + INSERT_VEHICLES))
  }
  const generateS = seconds(t0)
  say(`positions generated in ${generateS.toFixed(1)} s; deriving facts with the detector`)

  t0 = performance.now()
  let lastSaid = performance.now()
  const derived = await deriveFacts(ch.client, f, (done) => {
    if (performance.now() - lastSaid < 30_000) return
    lastSaid = performance.now()
    say(`facts: ${done}/${f.vehicles.length} vehicles (${seconds(t0).toFixed(0)} s)`)
  })
  await fillEtaOutcomes()
  const deriveS = seconds(t0)
  say(`facts derived in ${deriveS.toFixed(1)} s (detector ${Math.round(derived.fixes / derived.detectS).toLocaleString('en-US')} fixes/s)`)

  const [parts] = await rows<{ bytes: number; raw: number; parts: number; n: number }>(
    `SELECT sum(data_compressed_bytes) AS bytes, sum(data_uncompressed_bytes) AS raw, count() AS parts, sum(rows) AS n
       FROM system.parts WHERE database = currentDatabase() AND table = 'positions' AND active`,
  )
  return {
    positions: Number(parts?.n ?? 0), vehicles: f.vehicles.length, days: f.days, generateS, deriveS,
    readS: derived.readS, detectS: derived.detectS, writeS: derived.writeS, rollupS: derived.rollupS, facts: derived.facts,
    positionsBytes: Number(parts?.bytes ?? 0), positionsRawBytes: Number(parts?.raw ?? 0), positionsParts: Number(parts?.parts ?? 0),
  }
}

interface Query {
  name: string
  what: string
  run(pick: { vehicleId: string; dayMs: number }): Promise<number>
}

function queries(reader: AnalyticsReader, f: QueryFleet): Query[] {
  const org = f.orgId
  const today = new Date(nowMs).toISOString().slice(0, 10)
  const midnight = Date.parse(`${today}T00:00:00Z`)
  const count = (x: unknown) => (Array.isArray(x) ? x.length : x === undefined ? 0 : 1)
  const kpis = () => reader.fleetKpis(org, today, today)
  const alerts = () => reader.alertCounts(org, midnight)
  const eta = () => reader.etaAccuracy(org, nowMs - 30 * DAY_MS)
  const vehicleDay = (v: string, dayMs: number) => ({
    day: new Date(dayMs).toISOString().slice(0, 10),
    range: { orgId: org, vehicleId: v, from: dayMs, to: dayMs + DAY_MS - 1, limit: 499 },
  })
  return [
    { name: 'fleet: KPIs today', what: 'fleetKpis: vehicle_daily_kpis FINAL, today', run: async () => count(await kpis()) },
    { name: 'fleet: alerts today', what: 'alertCounts: driving_events, idles, geofence_events FINAL since midnight', run: async () => Object.keys(await alerts()).length },
    { name: 'fleet: ETA accuracy', what: 'etaAccuracy: eta_outcomes FINAL, 30 days', run: async () => count(await eta()) },
    {
      name: 'fleet overview', what: 'the three above together, as the fleet dashboard does',
      run: async () => (await Promise.all([kpis(), alerts(), eta()])).length,
    },
    { name: 'vehicle day: KPIs', what: 'vehicleKpis: one vehicle, one day', run: async (p) => count(await reader.vehicleKpis(org, p.vehicleId, vehicleDay(p.vehicleId, p.dayMs).day)) },
    { name: 'vehicle day: trips', what: 'trips: one vehicle, one day', run: async (p) => count(await reader.trips(vehicleDay(p.vehicleId, p.dayMs).range)) },
    { name: 'vehicle day: events', what: 'events: one vehicle, one day', run: async (p) => count(await reader.events(vehicleDay(p.vehicleId, p.dayMs).range)) },
    {
      name: 'vehicle day', what: 'KPIs, trips, events and the latest device event together, as the vehicle dashboard does',
      run: async (p) => {
        const { day, range } = vehicleDay(p.vehicleId, p.dayMs)
        const [k, trips, events, device] = await Promise.all([
          reader.vehicleKpis(org, p.vehicleId, day), reader.trips(range), reader.events(range), reader.latestDeviceEvent(org, p.vehicleId),
        ])
        return count(k) + trips.length + events.length + count(device)
      },
    },
    {
      name: 'heatmap: city, one day', what: 'heatmap: raw positions in the city box over one day, H3 res 7',
      run: async (p) => (await reader.heatmap(org, CITY, p.dayMs, p.dayMs + DAY_MS - 1, 7)).length,
    },
  ]
}

/** Each repetition picks a vehicle and one of its days at random and runs every query once, interleaved. */
async function measure(arg: { repetitions: number }): Promise<QueryTiming[]> {
  const f = fleet!
  const reader = new AnalyticsReader(ch!.client)
  const list = queries(reader, f)
  const samples = list.map(() => [] as number[])
  const lastRows = list.map(() => 0)
  const rand = mulberry32(7)
  for (let rep = -WARMUP; rep < arg.repetitions; rep++) {
    const pick = { vehicleId: f.vehicles[Math.floor(rand() * f.vehicles.length)]!, dayMs: f.firstDayMs + Math.floor(rand() * f.days) * DAY_MS }
    for (const [i, q] of list.entries()) {
      const t0 = performance.now()
      lastRows[i] = await q.run(pick)
      if (rep >= 0) samples[i]!.push(performance.now() - t0)
    }
  }
  return list.map((q, i) => ({ name: q.name, what: q.what, rows: lastRows[i]!, ...latencyStats(samples[i]!) }))
}

serveRpc<QueryBenchApi>({
  prepare,
  measure,
  close: async () => {
    await ch?.close()
    ch = undefined
  },
})
