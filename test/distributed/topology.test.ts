/**
 * The distributed topology as separate processes over Kafka and PostgreSQL:
 * two `ingest` processes, one `stream api` process (it owns the embedded chDB
 * and serves the analytics reads) and one more `api` process. Devices publish
 * to both ingest processes; Socket.IO clients of both API processes see every
 * vehicle's latest position.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import type { Socket } from 'socket.io-client'
import { Processes, type FleetProcess } from '../helpers/processes.js'
import { api, connectLive, login, provisionVehicle, waitFor, type ProvisionedVehicle } from '../helpers/platform.js'
import { clusterEnv, drive, fixAt, range, Tracker, waitAllAcked, type ClusterEnv } from './fleet.js'

const VEHICLES = 12
const FIXES = 20

let cluster: ClusterEnv
let procs: Processes
let streamApi: FleetProcess
let apiOnly: FleetProcess
let ingestA: FleetProcess
let ingestB: FleetProcess
const trackers: Tracker[] = []
const sockets: Socket[] = []

beforeAll(async () => {
  cluster = await clusterEnv()
  procs = new Processes(cluster.env)
  // All at once, as an orchestrator starts them: migrations, the admin
  // bootstrap and topic creation must not trip over each other.
  ;[streamApi, apiOnly, ingestA, ingestB] = await Promise.all([
    procs.start('stream+api', ['stream', 'api']),
    procs.start('api', ['api']),
    procs.start('ingest-a', ['ingest']),
    procs.start('ingest-b', ['ingest']),
  ])
}, 180_000)

afterAll(async () => {
  for (const s of sockets) s.close()
  await Promise.all(trackers.map((t) => t.close()))
  await procs?.stopAll()
  await cluster?.cleanup()
})

function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
}

describe('separate ingest, stream and api processes over Kafka and PostgreSQL', () => {
  let token: string
  let vehicles: ProvisionedVehicle[]

  it('are each ready, with the connectors their roles use', async () => {
    onTestFailed(() => console.error(procs.report()))
    const checks = async (p: FleetProcess) => Object.keys((await p.readyz()).body.checks).sort()
    expect(await checks(ingestA)).toEqual(['bus', 'postgres'])
    expect(await checks(ingestB)).toEqual(['bus', 'postgres'])
    expect(await checks(apiOnly)).toEqual(['bus', 'postgres'])
    expect(await checks(streamApi)).toEqual(['bus', 'clickhouse', 'postgres'])
    // One admin, bootstrapped once although two API processes started together.
    token = await login(apiOnly.apiUrl!)
    await login(streamApi.apiUrl!)
  })

  it('take fixes on both ingest processes and push every vehicle\'s latest position to live clients of both API processes', async () => {
    onTestFailed(() => console.error(procs.report()))
    // Provisioned through the API process that has no stream role.
    vehicles = []
    for (let i = 0; i < VEHICLES; i++) vehicles.push(await provisionVehicle(apiOnly.apiUrl!, token, `Truck ${i}`))

    // One live client per API process: every update it was sent, and the newest per vehicle.
    const feeds = [streamApi, apiOnly].map((node) => ({ node, latest: new Map<string, any>(), updates: [] as string[] }))
    for (const feed of feeds) {
      const socket = connectLive(feed.node.apiUrl!, token)
      sockets.push(socket)
      await connected(socket)
      socket.on('position', (batch: { items: any[] }) => {
        for (const p of batch.items) {
          feed.updates.push(`${p.vehicleId}@${p.ts}`)
          const seen = feed.latest.get(p.vehicleId)
          if (!seen || p.ts > seen.ts) feed.latest.set(p.vehicleId, p)
        }
      })
      expect(await socket.emitWithAck('join', { room: 'org' })).toMatchObject({ ok: true })
    }

    const t0 = Date.now() - 3_600_000
    for (const [i, v] of vehicles.entries()) trackers.push(await Tracker.connect((i % 2 ? ingestB : ingestA).mqttUrl!, v, t0))
    await drive(trackers, { count: FIXES, perSecond: 10 })
    await waitAllAcked(trackers, FIXES, 30_000, () => procs.report())

    const last = fixAt(t0, FIXES - 1)
    const expected = new Map(vehicles.map((v) => [v.vehicleId, {
      vehicleId: v.vehicleId, ts: new Date(last.ts).toISOString(), lat: last.lat, lon: last.lon, speed: last.speed, heading: last.heading,
    }]))
    for (const { node, latest } of feeds) {
      await waitFor(() => [...expected].every(([v, p]) => latest.get(v)?.ts === p.ts) || undefined,
        { timeoutMs: 30_000, what: `the latest position of every vehicle on ${node.name}'s live clients (${latest.size} vehicles seen)` })
      expect(new Map(latest)).toEqual(expected)
    }
    // Every API node reads every live update. Each coalesces on its own clock, so which intermediate
    // fixes a client gets may differ between nodes (test/distributed/live.test.ts spaces them out to compare).
    for (const f of feeds) expect(f.updates.length).toBeGreaterThanOrEqual(VEHICLES)
  })

  it('serve positions and vehicles from PostgreSQL on the api-only process', async () => {
    onTestFailed(() => console.error(procs.report()))
    const list = await api(apiOnly.apiUrl!, 'GET', '/api/v1/vehicles?limit=200', { token })
    expect(list.status).toBe(200)
    expect(list.body.items.map((v: any) => v.id).sort()).toEqual(vehicles.map((v) => v.vehicleId).sort())
    const lastSeq = FIXES - 1
    for (const v of vehicles) {
      const position = await waitFor(async () => {
        const res = await api(apiOnly.apiUrl!, 'GET', `/api/v1/vehicles/${v.vehicleId}/position`, { token })
        return res.status === 200 && res.body.ts === new Date(fixAt(trackers[0]!.t0, lastSeq).ts).toISOString() ? res.body : undefined
      }, { timeoutMs: 15_000, what: `the latest position of ${v.vehicleId}` })
      expect(position).toMatchObject({ vehicleId: v.vehicleId, lat: fixAt(0, lastSeq).lat, lon: fixAt(0, lastSeq).lon })
    }
  })

  it('serve /track on the stream process and answer 503 analytics_unavailable on the api-only process', async () => {
    onTestFailed(() => console.error(procs.report()))
    for (const v of vehicles) {
      const track = await waitFor(async () => {
        const res = await api(streamApi.apiUrl!, 'GET', `/api/v1/vehicles/${v.vehicleId}/track`, { token })
        return res.status === 200 && res.body.items.length >= FIXES ? res.body : undefined
      }, { timeoutMs: 15_000, what: `the track of ${v.vehicleId}` })
      expect(track.items.map((p: any) => p.seq)).toEqual(range(FIXES))
      expect(track.truncated).toBe(false)

      const elsewhere = await api(apiOnly.apiUrl!, 'GET', `/api/v1/vehicles/${v.vehicleId}/track`, { token })
      expect(elsewhere.status).toBe(503)
      expect(elsewhere.headers.get('content-type')).toMatch(/^application\/problem\+json/)
      expect(elsewhere.body).toMatchObject({ status: 503, code: 'analytics_unavailable' })
    }
    // The refusal is about this node's capabilities, not the caller: no token is 401 as anywhere else.
    const anonymous = await api(apiOnly.apiUrl!, 'GET', `/api/v1/vehicles/${vehicles[0]!.vehicleId}/track`)
    expect(anonymous.status).toBe(401)
  })
})
