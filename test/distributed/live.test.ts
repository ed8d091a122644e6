/**
 * Live fan-out across API nodes: two `fleetpulse api` processes over Kafka and
 * PostgreSQL, no sticky balancer, no Redis. Each node reads every live.*.v1
 * message under groups of its own; clients connected to either node get the
 * same snapshot and then the same updates. Updates are published on Kafka the
 * way the stream and the other producers publish them, in rounds spaced wider
 * than the coalescing interval, so each node must deliver every round.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import type { Socket } from 'socket.io-client'
import { latLngToCell } from 'h3-js'
import { KafkaBus } from '../../core/bus/kafka.bus.js'
import { createLogger } from '../../core/logger.js'
import { TOPICS, type LiveAlertV1, type LivePositionV1 } from '../../schemas/topics.v1.js'
import type { JoinAck, LiveAlert, LivePosition } from '../../schemas/live.v1.js'
import { Processes, type FleetProcess } from '../helpers/processes.js'
import { connectLive, login, provisionVehicle, waitFor } from '../helpers/platform.js'
import { clusterEnv, sleep, type ClusterEnv } from './fleet.js'

const COALESCE_MS = 200
const VEHICLES = 6
const ROUNDS = 5

let cluster: ClusterEnv
let procs: Processes
let nodes: FleetProcess[]
let bus: KafkaBus
const sockets: Socket[] = []

beforeAll(async () => {
  cluster = await clusterEnv({ env: { LIVE_COALESCE_MS: String(COALESCE_MS) } })
  procs = new Processes(cluster.env)
  // One after the other: two API processes creating pg-boss's schema at once on a fresh database can
  // collide ("pgboss" already exists); topology.test.ts covers concurrent start-up.
  nodes = [await procs.start('api-a', ['api']), await procs.start('api-b', ['api'])]
  bus = new KafkaBus({
    brokers: cluster.kafkaBrokers.split(','), clientId: 'live-test', partitions: 8, namespace: cluster.namespace, logger: createLogger('warn'),
  })
}, 180_000)

afterAll(async () => {
  for (const s of sockets) s.close()
  await bus?.close()
  await procs?.stopAll()
  await cluster?.cleanup()
})

interface Feed {
  node: string
  snapshot: string[]
  positions: string[]
  alerts: string[]
  latest: Map<string, string>
}

async function feedOn(node: FleetProcess, token: string): Promise<Feed> {
  const socket = connectLive(node.apiUrl!, token)
  sockets.push(socket)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
  const feed: Feed = { node: node.name, snapshot: [], positions: [], alerts: [], latest: new Map() }
  socket.on('position', (b: { items: LivePosition[] }) => {
    for (const p of b.items) {
      feed.positions.push(`${p.vehicleId}@${p.ts}`)
      feed.latest.set(p.vehicleId, p.ts)
    }
  })
  socket.on('alert', (b: { items: LiveAlert[] }) => feed.alerts.push(...b.items.map((a) => a.id)))
  const ack = await socket.timeout(15_000).emitWithAck('join', { room: 'org' }) as JoinAck
  if (!ack.ok) throw new Error(`join on ${node.name}: ${ack.error.code}`)
  feed.snapshot = ack.snapshot.vehicles.map((v) => v.vehicleId).sort()
  return feed
}

describe('two API processes over Kafka', () => {
  it('deliver the same snapshot and the same live updates to their clients', async () => {
    onTestFailed(() => console.error(procs.report()))
    const token = await login(nodes[0]!.apiUrl!)
    const vehicles: string[] = []
    for (let i = 0; i < VEHICLES; i++) vehicles.push((await provisionVehicle(nodes[1]!.apiUrl!, token, `Live ${i}`)).vehicleId)
    const orgId = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { org: string }).org
    // Tokens of one node are good on the other: no sticky sessions needed.
    const feeds = await Promise.all([feedOn(nodes[0]!, token), feedOn(nodes[1]!, token)])
    expect(feeds[0]!.snapshot).toEqual(vehicles.slice().sort())
    expect(feeds[1]!.snapshot).toEqual(feeds[0]!.snapshot)

    const position = (vehicleId: string, ts: number, i: number): LivePositionV1 => {
      const lat = 52.5 + i * 0.001
      return { orgId, vehicleId, ts, lat, lon: 13.4, speed: 30, heading: 0, h3: latLngToCell(lat, 13.4, 9) }
    }
    const publish = (values: LivePositionV1[]) =>
      bus.publish(TOPICS.livePositions, values.map((v) => ({ key: v.vehicleId, value: Buffer.from(JSON.stringify(v)) })))

    // Each node's consumer groups start at the end once they have their partitions: wait until both relay.
    const warmTs = Date.now() - 60_000
    await waitFor(async () => {
      await publish([position(vehicles[0]!, warmTs + Math.floor(Math.random() * 1000), 0)])
      await sleep(500)
      return feeds.every((f) => f.latest.has(vehicles[0]!)) || undefined
    }, { timeoutMs: 60_000, intervalMs: 0, what: 'both nodes relaying' })
    for (const f of feeds) f.positions.length = 0

    const t0 = Date.now()
    for (let round = 0; round < ROUNDS; round++) {
      await publish(vehicles.map((v, i) => position(v, t0 + round * 1000, i + round)))
      await sleep(COALESCE_MS * 4)
    }
    const alerts: LiveAlertV1[] = [0, 1, 2].map((i) => ({
      id: `alert-${randomUUID()}`, orgId, vehicleId: vehicles[i]!, kind: 'overspeed', severity: 'warning', ts: t0 + i,
      lat: null, lon: null, message: `overspeed ${i}`, geofenceId: null, driverId: null,
    }))
    // One key: one partition, so their order is defined.
    await bus.publish(TOPICS.liveAlerts, alerts.map((a) => ({ key: vehicles[0]!, value: Buffer.from(JSON.stringify(a)) })))

    const last = new Date(t0 + (ROUNDS - 1) * 1000).toISOString()
    for (const f of feeds) {
      await waitFor(() => vehicles.every((v) => f.latest.get(v) === last) && f.alerts.length >= 3 || undefined,
        { timeoutMs: 30_000, what: `every round and alert on ${f.node}` })
    }
    await sleep(COALESCE_MS * 3)
    // Every round was its own batch on both nodes: the same updates, each once.
    const [a, b] = feeds.map((f) => [...f.positions].sort())
    expect(a).toHaveLength(VEHICLES * ROUNDS)
    expect(new Set(a).size).toBe(a!.length)
    expect(b).toEqual(a)
    expect(feeds[0]!.alerts).toEqual(alerts.map((x) => x.id))
    expect(feeds[1]!.alerts).toEqual(feeds[0]!.alerts)
  })
})
