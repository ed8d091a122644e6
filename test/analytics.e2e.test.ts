/**
 * Stream analytics end to end: scripted vehicle days (the simulator's ground
 * truth) published over MQTT, facts in ClickHouse, dashboards over REST; the
 * same day uploaded out of order gives the same facts; a replay of the day
 * rewrites them row for row; a restart neither loses nor double-counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Scenario, type ScenarioFix } from '../sim/scenario.js'
import { DEFAULT_ANALYTICS_SETTINGS as S } from '../stream/analytics/detector.js'
import { Registry } from 'prom-client'
import { replayCommand } from '../bin/replay.js'
import { startStream } from '../stream/app.js'
import { TOPICS, type LiveAlertV1, type LiveEtaV1 } from '../schemas/topics.v1.js'
import {
  ADMIN_EMAIL, ADMIN_PASSWORD, api, clickhouseRows, connectDevice, login, provisionVehicle, startTestPlatform, tokenForRole, waitFor,
  type ProvisionedVehicle, type TestPlatform,
} from './helpers/platform.js'

const DAY = '2026-11-02'
const T0 = Date.parse(`${DAY}T06:00:00Z`)
const START = { lat: 52.52, lon: 13.405 }

function workday(): Scenario {
  return new Scenario(START, T0, 2, 11)
    .park(900).idle(60)
    .drive({ distanceM: 4000, bearing: 60, cruiseKmh: 50 }).idle(30)
    .drive({ distanceM: 2500, bearing: 80, cruiseKmh: 45, harshBrakeAt: 0.5 })
    .idle(200).park(1200).idle(40)
    .drive({ distanceM: 6000, bearing: 200, cruiseKmh: 70, harshBrakeAt: 0.3 })
    .park(600).idle(30)
    .drive({ distanceM: 3000, bearing: 300, cruiseKmh: 40 })
    .park(1800)
}

let platform: TestPlatform
let token: string
const alerts: LiveAlertV1[] = []
const day = workday()
const truth = day.truth(S.stopMinS, S.idleMinS)

async function publish(vehicle: ProvisionedVehicle, batches: ScenarioFix[][]): Promise<void> {
  const device = await connectDevice(platform.mqttUrl, vehicle)
  for (const batch of batches) await device.publishAsync(vehicle.topic, JSON.stringify(batch), { qos: 1 })
  await device.endAsync()
}

const chunk = <T>(list: T[], n: number): T[][] => Array.from({ length: Math.ceil(list.length / n) }, (_, i) => list.slice(i * n, (i + 1) * n))

interface Facts { trips: any[]; stops: any[]; idles: any[]; events: any[]; kpis: any[] }

async function factsOf(vehicleId: string): Promise<Facts> {
  const q = (sql: string) => clickhouseRows<any>(platform, sql, { v: vehicleId })
  const [trips, stops, idles, events, kpis] = await Promise.all([
    q(`SELECT toUnixTimestamp64Milli(start_ts) AS s, toUnixTimestamp64Milli(end_ts) AS e, round(distance_m) AS d, round(max_speed_kmh) AS m FROM trips FINAL WHERE vehicle_id = {v:UUID} ORDER BY start_ts`),
    q(`SELECT toUnixTimestamp64Milli(start_ts) AS s, toUnixTimestamp64Milli(end_ts) AS e FROM stops FINAL WHERE vehicle_id = {v:UUID} ORDER BY start_ts`),
    q(`SELECT toUnixTimestamp64Milli(start_ts) AS s, toUnixTimestamp64Milli(end_ts) AS e FROM idles FINAL WHERE vehicle_id = {v:UUID} ORDER BY start_ts`),
    q(`SELECT kind, toUnixTimestamp64Milli(ts) AS s FROM driving_events FINAL WHERE vehicle_id = {v:UUID} ORDER BY ts`),
    q(`SELECT toString(day) AS day, trips, round(distance_m) AS d, driving_s, idle_s, stops, harsh_events FROM vehicle_daily_kpis FINAL WHERE vehicle_id = {v:UUID} ORDER BY day`),
  ])
  return { trips, stops, idles, events, kpis }
}

/** Waits until the vehicle's facts show every trip of the truth and stay unchanged longer than the rollups take to refresh. */
async function settledFacts(vehicleId: string): Promise<Facts> {
  let last = ''
  let since = Date.now()
  return waitFor(async () => {
    const f = await factsOf(vehicleId)
    const now = JSON.stringify(f)
    if (now !== last) since = Date.now()
    last = now
    return f.trips.length === truth.trips.length && f.kpis.length > 0 && Date.now() - since >= 3000 ? f : undefined
  }, { timeoutMs: 60_000, intervalMs: 500, what: `the facts of ${vehicleId}` })
}

beforeAll(async () => {
  platform = await startTestPlatform({ ANALYTICS_REORDER_WINDOW_MS: '1000', ANALYTICS_REFRESH_MS: '200', SINK_FLUSH_MS: '100', OFFLINE_AFTER_S: '5' })
  token = await login(platform.apiUrl)
  await platform.bus.subscribe({ topic: TOPICS.liveAlerts, groupId: `test-alerts-${Date.now()}`, fromBeginning: true }, async (batch) => {
    for (const m of batch.messages) alerts.push(JSON.parse(m.value.toString()) as LiveAlertV1)
  })
}, 60_000)
afterAll(async () => {
  await platform?.close()
})

describe('stream analytics over MQTT', () => {
  let inOrder: ProvisionedVehicle
  let inOrderFacts: Facts

  it('finds the ground truth: trips, stops, idles and harsh braking, with daily KPIs and dashboards', async () => {
    inOrder = await provisionVehicle(platform.apiUrl, token, 'Truth van')
    await publish(inOrder, chunk(day.fixList, 200))
    inOrderFacts = await settledFacts(inOrder.vehicleId)
    const f = inOrderFacts
    expect(f.trips).toHaveLength(truth.trips.length)
    f.trips.forEach((t, i) => {
      expect(Math.abs(Number(t.s) - truth.trips[i]!.startTs)).toBeLessThanOrEqual(2500)
      expect(Math.abs(Number(t.e) - truth.trips[i]!.endTs)).toBeLessThanOrEqual(2500)
    })
    expect(f.stops).toHaveLength(truth.stops.length)
    expect(f.idles).toHaveLength(truth.idles.length)
    expect(f.events.map((e) => e.kind)).toEqual(['harsh_braking', 'harsh_braking'])
    expect(f.kpis).toEqual([expect.objectContaining({ day: DAY, trips: truth.trips.length, harsh_events: 2 })])

    const analyst = await tokenForRole(platform.apiUrl, token, 'analyst')
    const dash = await api(platform.apiUrl, 'GET', `/api/v1/dashboards/vehicles/${inOrder.vehicleId}?day=${DAY}`, { token: analyst })
    expect(dash.body).toMatchObject({ vehicleId: inOrder.vehicleId })
    expect(dash.body.trips).toHaveLength(truth.trips.length)
    expect(dash.body.kpis).toMatchObject({ trips: truth.trips.length, harshEvents: 2, stops: truth.stops.length })
    expect(dash.body.kpis.distanceKm).toBeCloseTo(truth.trips.reduce((a, t) => a + t.distanceM, 0) / 1000, 0)
    expect(dash.body.kpis.safetyScore).toBeLessThan(100)
    expect(dash.body.latestFix).toMatchObject({ lat: expect.any(Number) })

    const trips = await api(platform.apiUrl, 'GET', `/api/v1/trips?vehicleId=${inOrder.vehicleId}&from=${DAY}T00:00:00Z&to=${DAY}T23:59:59Z&limit=2`, { token: analyst })
    expect(trips.status).toBe(200)
    expect(trips.body.items).toHaveLength(2)
    const rest = await api(platform.apiUrl, 'GET', `/api/v1/trips?vehicleId=${inOrder.vehicleId}&from=${DAY}T00:00:00Z&to=${DAY}T23:59:59Z&limit=2&cursor=${trips.body.nextCursor}`, { token: analyst })
    expect([...trips.body.items, ...rest.body.items].map((t: any) => t.startTs)).toEqual(f.trips.map((t) => new Date(Number(t.s)).toISOString()).reverse())

    const events = await api(platform.apiUrl, 'GET', `/api/v1/events?vehicleId=${inOrder.vehicleId}&kind=harsh_braking&from=${DAY}T00:00:00Z&to=${DAY}T23:59:59Z`, { token: analyst })
    expect(events.body.items).toHaveLength(2)

    const heat = await api(platform.apiUrl, 'GET', `/api/v1/analytics/heatmap?minLat=52&minLon=13&maxLat=53&maxLon=14&from=${DAY}T00:00:00Z&to=${DAY}T23:59:59Z`, { token: analyst })
    expect(heat.status).toBe(200)
    expect(heat.body.cells.reduce((a: number, c: any) => a + c.fixes, 0)).toBe(day.fixList.length)

    const fleet = await api(platform.apiUrl, 'GET', '/api/v1/dashboards/fleet', { token: analyst })
    expect(fleet.status).toBe(200)
    expect(fleet.body.vehicles.total).toBeGreaterThanOrEqual(1)
    // A dispatcher has no dashboards.
    const dispatcher = await tokenForRole(platform.apiUrl, token, 'dispatcher')
    expect((await api(platform.apiUrl, 'GET', '/api/v1/dashboards/fleet', { token: dispatcher })).status).toBe(403)
  })

  it('gives the same facts when part of the day is uploaded late, after the rest (out of order)', async () => {
    const late = await provisionVehicle(platform.apiUrl, token, 'Late uploader')
    const fixes = day.fixList
    // The device was out of coverage during the second trip: that stretch arrives last.
    const gapFrom = truth.trips[0]!.endTs
    const gapTo = truth.trips[1]!.endTs + 60_000
    const live = fixes.filter((f) => f.ts < gapFrom || f.ts > gapTo)
    const buffered = fixes.filter((f) => f.ts >= gapFrom && f.ts <= gapTo)
    await publish(late, chunk(live, 200))
    await waitFor(async () => (await factsOf(late.vehicleId)).trips.length >= truth.trips.length - 1 || undefined, { timeoutMs: 60_000, what: 'the live part processed' })
    await publish(late, chunk(buffered, 500))
    const f = await settledFacts(late.vehicleId)
    expect(f).toEqual(inOrderFacts)
    const lateRows = await clickhouseRows<{ n: number }>(platform, 'SELECT count() AS n FROM late_fixes WHERE vehicle_id = {v:UUID}', { v: late.vehicleId })
    expect(Number(lateRows[0]!.n)).toBe(buffered.length)
  })

  it('neither loses nor double-counts across a restart of the stream in the middle of a trip', async () => {
    const restarted = await provisionVehicle(platform.apiUrl, token, 'Restarted')
    const middle = (truth.trips[2]!.startTs + truth.trips[2]!.endTs) / 2
    const fixes = day.fixList
    await publish(restarted, chunk(fixes.filter((f) => f.ts <= middle), 200))
    await waitFor(async () => (await factsOf(restarted.vehicleId)).trips.length === 2 || undefined, { timeoutMs: 60_000, what: 'the first trips' })
    // A new stream on the same stores, with nothing in memory: it restores the vehicle from its checkpoint and stored fixes.
    await platform.stream!.close()
    platform.stream = await startStream({
      bus: platform.bus, clickhouse: platform.clickhouse!.client, pool: platform.postgres.pool, logger: platform.logger,
      registry: new Registry(), sinkBatchSize: platform.config.sinkBatchSize, sinkFlushMs: platform.config.sinkFlushMs, analytics: platform.config.analytics,
    })
    await publish(restarted, chunk(fixes.filter((f) => f.ts > middle), 200))
    expect(await settledFacts(restarted.vehicleId)).toEqual(inOrderFacts)
  })

  it('replays the day to the same rows, reporting its progress', async () => {
    const before = await factsOf(inOrder.vehicleId)
    const res = await api(platform.apiUrl, 'POST', '/api/v1/analytics/replays', { token, body: { vehicleIds: [inOrder.vehicleId], from: `${DAY}T00:00:00Z` } })
    expect(res.status).toBe(202)
    expect(res.body).toMatchObject({ status: 'pending', vehicles: 1, vehiclesDone: 0 })
    const done = await waitFor(async () => {
      const r = await api(platform.apiUrl, 'GET', `/api/v1/analytics/replays/${res.body.id}`, { token })
      return r.body.status === 'done' || r.body.status === 'failed' ? r.body : undefined
    }, { timeoutMs: 30_000, what: 'the replay to finish' })
    expect(done).toMatchObject({ status: 'done', vehiclesDone: 1, fixesRead: day.fixList.length })
    expect(await factsOf(inOrder.vehicleId)).toEqual(before)

    // The CLI does the same through the API, showing the progress.
    const printed: string[] = []
    const log = console.log
    console.log = (line: string) => printed.push(line)
    try {
      const code = await replayCommand(['--from', `${DAY}T12:00:00Z`, '--vehicle', inOrder.vehicleId, '--api', platform.apiUrl], {
        FLEETPULSE_EMAIL: ADMIN_EMAIL, FLEETPULSE_PASSWORD: ADMIN_PASSWORD,
      })
      expect(code).toBe(0)
    } finally {
      console.log = log
    }
    expect(printed.at(-1)).toMatch(/^done: 1\/1 vehicles, \d+ fixes read$/)
    expect(await factsOf(inOrder.vehicleId)).toEqual(before)
    expect(await replayCommand(['--vehicle', inOrder.vehicleId])).toBe(2)
    // Only an admin may replay.
    const analyst = await tokenForRole(platform.apiUrl, token, 'analyst')
    expect((await api(platform.apiUrl, 'POST', '/api/v1/analytics/replays', { token: analyst, body: { from: `${DAY}T00:00:00Z` } })).status).toBe(403)
  })

  it('estimates the arrival of a vehicle with a destination set over REST, live, and records the estimate\'s error on arrival', async () => {
    const van = await provisionVehicle(platform.apiUrl, token, 'ETA van')
    const target = day.fixList.find((f) => f.ts >= truth.trips[1]!.endTs)!
    const put = await api(platform.apiUrl, 'PUT', `/api/v1/vehicles/${van.vehicleId}/destination`, { token, body: { lat: target.lat, lon: target.lon, radiusM: 50 } })
    expect(put.status).toBe(200)
    // The stream reads destinations every ANALYTICS_REFRESH_MS.
    await new Promise((r) => setTimeout(r, 600))
    const etas: LiveEtaV1[] = []
    await platform.bus.subscribe({ topic: TOPICS.liveEtas, groupId: `test-etas-${Date.now()}`, fromBeginning: true }, async (batch) => {
      for (const m of batch.messages) {
        const eta = JSON.parse(m.value.toString()) as LiveEtaV1
        if (eta.vehicleId === van.vehicleId) etas.push(eta)
      }
    })
    await publish(van, chunk(day.fixList, 200))
    await waitFor(() => etas.some((e) => e.arrived) || undefined, { timeoutMs: 60_000, what: 'the arrival' })
    const moving = etas.filter((e) => !e.arrived)
    expect(moving.length).toBeGreaterThan(10)
    expect(moving.at(-1)!.remainingM).toBeLessThan(moving[0]!.remainingM)
    expect(etas.find((e) => e.arrived)).toMatchObject({ remainingM: 0, destination: { lat: target.lat, lon: target.lon }, orderId: null })
    const outcome = await waitFor(async () => (await clickhouseRows<any>(platform,
      'SELECT toUnixTimestamp64Milli(arrived_ts) AS arrived, half_error_s, half_remaining_s FROM eta_outcomes FINAL WHERE vehicle_id = {v:UUID}', { v: van.vehicleId }))[0],
    { timeoutMs: 20_000, what: 'the ETA outcome' })
    expect(Math.abs(Number(outcome.arrived) - target.ts)).toBeLessThanOrEqual(20_000)
    expect(outcome.half_remaining_s).toBeGreaterThan(0)
    const fleet = await api(platform.apiUrl, 'GET', '/api/v1/dashboards/fleet', { token })
    expect(fleet.body.etaAccuracy.arrivals).toBeGreaterThanOrEqual(1)
    expect(fleet.body.etaAccuracy.medianHalfwayErrorPct).toEqual(expect.any(Number))
  })

  it('publishes alerts for the live feed: the harsh braking of the day, and the device going offline', async () => {
    const mine = () => alerts.filter((a) => a.vehicleId === inOrder.vehicleId)
    await waitFor(() => mine().some((a) => a.kind === 'device_offline') || undefined, { timeoutMs: 30_000, what: 'a device_offline alert' })
    const kinds = mine().map((a) => a.kind)
    expect(kinds.filter((k) => k === 'harsh_braking').length).toBeGreaterThanOrEqual(2)
    expect(kinds).toContain('idling')
    expect(mine().find((a) => a.kind === 'harsh_braking')).toMatchObject({ orgId: expect.any(String), severity: 'warning', message: expect.stringMatching(/^Harsh braking: /) })
    // Replays and recomputes publish the same ids again; the distinct ids are the day's events.
    expect(new Set(mine().filter((a) => a.kind === 'harsh_braking').map((a) => a.id)).size).toBe(2)
  })

  it('answers 404 for another organization\'s vehicle, and no cells for an empty box', async () => {
    expect((await api(platform.apiUrl, 'GET', '/api/v1/dashboards/vehicles/00000000-0000-4000-8000-000000000000', { token })).status).toBe(404)
    const empty = await api(platform.apiUrl, 'GET', '/api/v1/analytics/heatmap?minLat=53&minLon=13&maxLat=52&maxLon=14', { token })
    expect(empty.status).toBe(200)
    expect(empty.body.cells).toEqual([])
  })
})
