/**
 * The /live protocol on a real API with the real bus: rooms, permissions,
 * snapshots, coalescing, the other event streams, and backpressure from a
 * client that stops reading. Updates are published on the bus the way the
 * stream (and the order and ETA producers) publish them.
 */
import { randomUUID } from 'node:crypto'
import jwt from 'jsonwebtoken'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Socket } from 'socket.io-client'
import type WebSocket from 'ws'
import { latLngToCell } from 'h3-js'
import { TOPICS, type LiveAlertV1, type LiveEtaV1, type LiveOrderV1, type LivePositionV1 } from '../schemas/topics.v1.js'
import type { JoinAck, LivePosition } from '../schemas/live.v1.js'
import { TokenService } from '../api/auth/tokens.js'
import {
  api, connectLive, createOrganization, login, startTestPlatform, tokenForRole, waitFor, TEST_JWT_SECRET, type TestPlatform,
} from './helpers/platform.js'

const COALESCE_MS = 100
let platform: TestPlatform
let base: string
let admin: string
let orgId: string
const sockets: Socket[] = []

beforeAll(async () => {
  platform = await startTestPlatform(
    { LIVE_COALESCE_MS: String(COALESCE_MS), LIVE_VIEWPORT_MAX_CELLS: '200', LIVE_ALERT_BUFFER: '50', LIVE_USER_RECHECK_MS: '300' }, ['api'])
  base = platform.apiUrl
  admin = await login(base)
  orgId = (await platform.postgres.pool.query<{ org_id: string }>(`SELECT org_id FROM users WHERE email = 'admin@test.local'`)).rows[0]!.org_id
})

afterAll(async () => {
  for (const s of sockets) s.close()
  await platform?.close()
})

async function vehiclesIn(org: string, n: number, prefix = 'Truck'): Promise<string[]> {
  const { rows } = await platform.postgres.pool.query<{ id: string }>(
    `INSERT INTO vehicles (org_id, name) SELECT $1, $2 || ' ' || g FROM generate_series(1, $3::int) g RETURNING id`, [org, prefix, n])
  return rows.map((r) => r.id)
}

async function open(token: string): Promise<Socket> {
  const socket = connectLive(base, token)
  sockets.push(socket)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
  return socket
}

const join = (socket: Socket, req: unknown) => socket.timeout(10_000).emitWithAck('join', req) as Promise<JoinAck>

/** Every position a socket received, per room: newest per vehicle, and how many arrived. */
function recorder(socket: Socket) {
  const latest = new Map<string, LivePosition>()
  const gone = new Set<string>()
  const batches: Array<{ room: string; items: LivePosition[]; gone?: string[] }> = []
  const other: Record<string, any[]> = { eta: [], alert: [], order: [] }
  socket.on('position', (b: { room: string; items: LivePosition[]; gone?: string[] }) => {
    batches.push(b)
    for (const p of b.items) {
      const had = latest.get(p.vehicleId)
      if (!had || had.ts < p.ts) latest.set(p.vehicleId, p)
      gone.delete(p.vehicleId)
    }
    for (const g of b.gone ?? []) gone.add(g)
  })
  for (const event of Object.keys(other)) socket.on(event, (b: { items: any[] }) => other[event]!.push(b))
  return { latest, gone, batches, other, items: () => batches.flatMap((b) => b.items) }
}

function position(org: string, vehicleId: string, ts: number, lat: number, lon: number): LivePositionV1 {
  return { orgId: org, vehicleId, ts, lat, lon, speed: 40, heading: 90, h3: latLngToCell(lat, lon, 9) }
}

/** As the producers publish: keyed by vehicle (orders: by order). */
const publish = (topic: string, values: Array<Record<string, unknown>>) =>
  platform.bus.publish(topic, values.map((v) => ({ key: String(topic === TOPICS.liveOrders ? v.orderId : v.vehicleId), value: Buffer.from(JSON.stringify(v)) })))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('the organization room', () => {
  it('answers the join with a snapshot from Postgres, then coalesced deltas; another organization receives nothing', async () => {
    const [a, b] = await vehiclesIn(orgId, 2, 'Org room')
    const t0 = Date.now() - 60_000
    await platform.postgres.pool.query(
      `INSERT INTO vehicle_positions (vehicle_id, org_id, device_id, ts, lat, lon, speed, heading, h3, received_at)
       VALUES ($1, $2, gen_random_uuid(), to_timestamp($3 / 1000.0), 52.5, 13.4, 10, 0, 'x', now())`, [a, orgId, t0])
    const otherPassword = 'other org password'
    await createOrganization(platform, `Other ${randomUUID()}`, `other-${randomUUID()}@example.com`, otherPassword)
    const otherEmail = (await platform.postgres.pool.query<{ email: string }>(
      `SELECT email FROM users WHERE email LIKE 'other-%' ORDER BY created_at DESC LIMIT 1`)).rows[0]!.email
    const theirs = await open(await login(base, otherEmail, otherPassword))
    const mine = await open(admin)

    const ack = await join(mine, { room: 'org' })
    expect(ack.ok).toBe(true)
    if (!ack.ok) return
    expect(ack.room).toBe('org')
    const snapA = ack.snapshot.vehicles.find((v) => v.vehicleId === a)
    expect(snapA).toMatchObject({ name: 'Org room 1', position: { lat: 52.5, lon: 13.4, ts: new Date(t0).toISOString() } })
    expect(ack.snapshot.vehicles.find((v) => v.vehicleId === b)).toMatchObject({ position: null })
    expect((await join(theirs, { room: 'org' })).ok).toBe(true)

    const seen = recorder(mine)
    const leaked = recorder(theirs)
    // Twenty fixes of one vehicle within one interval: at most one or two batches carry it, the newest last.
    const t1 = Date.now()
    await publish(TOPICS.livePositions, Array.from({ length: 20 }, (_, i) => position(orgId, b!, t1 + i, 52.6 + i * 0.001, 13.5)))
    await waitFor(() => seen.latest.get(b!)?.ts === new Date(t1 + 19).toISOString(), { what: 'the newest fix of b' })
    await sleep(COALESCE_MS * 3)
    const ofB = seen.items().filter((p) => p.vehicleId === b)
    expect(ofB.length).toBeLessThanOrEqual(2)
    expect(seen.batches.every((batch) => batch.room === 'org')).toBe(true)
    // A replay of an older fix is never sent again.
    await publish(TOPICS.livePositions, [position(orgId, b!, t1 + 5, 1, 1)])
    await sleep(COALESCE_MS * 3)
    expect(seen.items().filter((p) => p.vehicleId === b).length).toBe(ofB.length)
    expect(leaked.items()).toEqual([])

    // A fresh join (as after a reconnect) gets a snapshot holding what the feed sent since.
    const again = await open(admin)
    const second = await join(again, { room: 'org' })
    expect(second.ok && second.snapshot.vehicles.find((v) => v.vehicleId === b)?.position?.ts).toBe(new Date(t1 + 19).toISOString())
  })
})

describe('joining', () => {
  it('answers every refusal with a coded error, never silently', async () => {
    const auditor = await open(await tokenForRole(base, admin, 'auditor'))
    expect(await join(auditor, { room: 'org' })).toMatchObject({ ok: false, error: { code: 'forbidden' } })
    expect(await join(auditor, { room: 'viewport', bbox: [13, 52, 13.1, 52.1] })).toMatchObject({ ok: false, error: { code: 'forbidden' } })
    const dispatcher = await open(await tokenForRole(base, admin, 'dispatcher'))
    expect(await join(dispatcher, { room: 'nonsense' })).toMatchObject({ ok: false, error: { code: 'invalid_request' } })
    expect(await join(dispatcher, { room: 'vehicle', vehicleId: 'not-a-uuid' })).toMatchObject({ ok: false, error: { code: 'invalid_request' } })
    expect(await join(dispatcher, { room: 'vehicle', vehicleId: randomUUID() })).toMatchObject({ ok: false, error: { code: 'not_found' } })
    const otherOrg = await createOrganization(platform, `Third ${randomUUID()}`, `third-${randomUUID()}@example.com`, 'third org password')
    const [foreign] = await vehiclesIn(otherOrg, 1)
    expect(await join(dispatcher, { room: 'vehicle', vehicleId: foreign })).toMatchObject({ ok: false, error: { code: 'not_found' } })
    // Huge boxes are refused with the room to fall back to.
    expect(await join(dispatcher, { room: 'viewport', bbox: [-170, -80, 170, 80] })).toMatchObject({
      ok: false, error: { code: 'viewport_too_large', maxCells: 200, fallback: 'org' },
    })
    expect(await join(dispatcher, { room: 'viewport', bbox: [13, 52, 13, 52] })).toMatchObject({ ok: false, error: { code: 'invalid_request' } })
  })

  it("ends a socket when the access token it connected with expires", async () => {
    const { rows } = await platform.postgres.pool.query<{ id: string; role: string }>(`SELECT id, role FROM users WHERE email = 'admin@test.local'`)
    const shortLived = new TokenService(TEST_JWT_SECRET, 2).signAccess({ userId: rows[0]!.id, orgId, role: rows[0]!.role, platformAdmin: false })
    const socket = await open(shortLived)
    expect(await join(socket, { room: 'org' })).toMatchObject({ ok: true })
    const reason = await new Promise<string>((resolve) => socket.once('disconnect', resolve))
    expect(reason).toBe('io server disconnect')
  }, 15_000)

  it('disconnects the sockets of a user who is deactivated or given another role', async () => {
    const userOf = (token: string) => (jwt.decode(token) as { sub: string }).sub
    const leaving = await tokenForRole(base, admin, 'dispatcher')
    const promoted = await tokenForRole(base, admin, 'dispatcher')
    const staying = await tokenForRole(base, admin, 'dispatcher')
    const sockets = await Promise.all([leaving, promoted, staying].map(open))
    for (const s of sockets) expect(await join(s, { room: 'org' })).toMatchObject({ ok: true })
    const gone = sockets.map((s) => new Promise<string>((resolve) => s.once('disconnect', resolve)))
    expect((await api(base, 'POST', `/api/v1/users/${userOf(leaving)}/deactivate`, { token: admin })).status).toBe(200)
    expect((await api(base, 'PUT', `/api/v1/users/${userOf(promoted)}/role`, { token: admin, body: { role: 'auditor' } })).status).toBe(200)
    expect(await gone[0]).toBe('io server disconnect')
    expect(await gone[1]).toBe('io server disconnect')
    // The unchanged user keeps their socket past a few rechecks.
    await new Promise((r) => setTimeout(r, 1000))
    expect(sockets[2]!.connected).toBe(true)
  }, 20_000)

  it('lets a driver join only their own vehicle', async () => {
    const [own, other] = await vehiclesIn(orgId, 2, 'Driven')
    const email = `driver-${randomUUID()}@example.com`
    const created = await api(base, 'POST', '/api/v1/users', { token: admin, body: { email, password: 'driver password', name: 'D', role: 'driver' } })
    expect(created.status).toBe(201)
    const pool = platform.postgres.pool
    const driver = await pool.query<{ id: string }>(`INSERT INTO drivers (org_id, name, user_id, state) VALUES ($1, 'Dana', $2, 'active') RETURNING id`, [orgId, created.body.id])
    await pool.query(`UPDATE vehicles SET driver_id = $1 WHERE id = $2`, [driver.rows[0]!.id, own])
    const socket = await open(await login(base, email, 'driver password'))
    const ack = await join(socket, { room: 'vehicle', vehicleId: own })
    expect(ack).toMatchObject({ ok: true, room: `vehicle:${own}`, snapshot: { vehicles: [{ vehicleId: own, driverName: 'Dana' }] } })
    expect(await join(socket, { room: 'vehicle', vehicleId: other })).toMatchObject({ ok: false, error: { code: 'not_found' } })
    expect(await join(socket, { room: 'org' })).toMatchObject({ ok: false, error: { code: 'forbidden' } })

    const seen = recorder(socket)
    const t = Date.now()
    await publish(TOPICS.livePositions, [position(orgId, other!, t, 50, 8), position(orgId, own!, t, 50, 8.1)])
    await waitFor(() => seen.latest.get(own!), { what: 'own vehicle update' })
    await sleep(COALESCE_MS * 3)
    expect([...seen.latest.keys()]).toEqual([own])
    expect(seen.batches[0]!.room).toBe(`vehicle:${own}`)
  })
})

describe('a viewport', () => {
  it('delivers only vehicles inside the box, tells when one leaves it, and follows the map when it moves', async () => {
    const [inside, outside, mover] = await vehiclesIn(orgId, 3, 'Viewport')
    const t = Date.now()
    // The box around central Berlin; "outside" is in Potsdam, a few cells away.
    const bbox = [13.35, 52.49, 13.45, 52.54]
    await publish(TOPICS.livePositions, [position(orgId, inside!, t, 52.52, 13.40), position(orgId, mover!, t, 52.50, 13.44)])
    const socket = await open(admin)
    const seen = recorder(socket)
    await sleep(COALESCE_MS * 2)
    const ack = await join(socket, { room: 'viewport', bbox })
    expect(ack.ok).toBe(true)
    if (!ack.ok) return
    expect(ack.room).toBe('viewport')
    const mine = (vs: Array<{ vehicleId: string }>) => vs.map((v) => v.vehicleId).filter((id) => [inside, outside, mover].includes(id)).sort()
    expect(mine(ack.snapshot.vehicles)).toEqual([inside, mover].sort())

    // Far outside, then just south of the box's edge (a covering cell): neither is delivered.
    await publish(TOPICS.livePositions, [
      position(orgId, outside!, t + 1, 52.40, 13.06), position(orgId, outside!, t + 2, 52.4895, 13.40),
      position(orgId, inside!, t + 3, 52.521, 13.401),
    ])
    await waitFor(() => seen.latest.get(inside!)?.ts === new Date(t + 3).toISOString(), { what: 'inside update' })
    await publish(TOPICS.livePositions, [position(orgId, mover!, t + 4, 52.50, 13.47)])
    await waitFor(() => seen.gone.has(mover!), { what: 'the mover leaving the viewport' })
    await sleep(COALESCE_MS * 3)
    expect(seen.latest.has(outside!)).toBe(false)
    for (const p of seen.items()) expect(p.lon <= 13.45 && p.lon >= 13.35 && p.lat >= 52.49 && p.lat <= 52.54).toBe(true)

    // The map moves east: the new snapshot holds the mover, whose updates flow again; the old box is gone.
    const moved = await join(socket, { room: 'viewport', bbox: [13.44, 52.49, 13.5, 52.54] })
    expect(moved.ok && mine(moved.snapshot.vehicles)).toEqual([mover])
    await publish(TOPICS.livePositions, [position(orgId, mover!, t + 5, 52.501, 13.471), position(orgId, inside!, t + 6, 52.522, 13.402)])
    await waitFor(() => seen.latest.get(mover!)?.ts === new Date(t + 5).toISOString(), { what: 'mover update in the new box' })
    await sleep(COALESCE_MS * 3)
    expect(seen.latest.get(inside!)?.ts).toBe(new Date(t + 3).toISOString())
  })
})

describe('the other event streams', () => {
  it('delivers ETAs (newest per vehicle), every alert (geofence rooms by id), and order changes', async () => {
    const [v] = await vehiclesIn(orgId, 1, 'Events')
    const created = await api(base, 'POST', '/api/v1/geofences', {
      token: admin, body: { name: 'Live fence', kind: 'circle', center: { lat: 52.5, lon: 13.4 }, radiusM: 300 },
    })
    expect(created.status).toBe(201)
    const fence = (created.body as { id: string }).id
    const org = await open(admin)
    const geo = await open(admin)
    // A fleet manager watches the fleet but may not read orders (no orders:read): no order changes reach them.
    const manager = await open(await tokenForRole(base, admin, 'fleet_manager'))
    expect((await join(manager, { room: 'org' })).ok).toBe(true)
    const managerSeen = recorder(manager)
    expect((await join(org, { room: 'org' })).ok).toBe(true)
    // A geofence the organization does not have (or another organization's) looks missing.
    expect(await join(geo, { room: 'geofence', geofenceId: randomUUID() })).toMatchObject({ ok: false, error: { code: 'not_found' } })
    expect(await join(geo, { room: 'geofence', geofenceId: fence })).toMatchObject({ ok: true, room: `geofence:${fence}` })
    const orgSeen = recorder(org)
    const geoSeen = recorder(geo)
    const t = Date.now()
    const eta = (i: number): LiveEtaV1 => ({
      orgId, vehicleId: v!, ts: t + i, destination: { lat: 52, lon: 13 }, orderId: null, remainingM: 1000 - i, etaTs: t + 600_000 - i, arrived: false,
    })
    await publish(TOPICS.liveEtas, [eta(0), eta(1), eta(2)])
    const alert = (i: number, geofenceId: string | null): LiveAlertV1 => ({
      id: `a-${t}-${i}`, orgId, vehicleId: v!, kind: geofenceId ? 'geofence_enter' : 'overspeed', severity: 'warning', ts: t + i,
      lat: 52.5, lon: 13.4, message: `alert ${i}`, geofenceId, driverId: null,
    })
    await publish(TOPICS.liveAlerts, [alert(0, null), alert(1, fence), alert(2, randomUUID()), alert(3, null)])
    const order: LiveOrderV1 = { orgId, orderId: randomUUID(), number: 'O-1', status: 'assigned', vehicleId: v!, driverId: null, at: t }
    await publish(TOPICS.liveOrders, [order, { ...order, status: 'picked_up', at: t + 1 }])

    await waitFor(() => orgSeen.other.alert!.flatMap((b) => b.items).length === 4, { what: 'four alerts' })
    await waitFor(() => orgSeen.other.order!.length > 0 && orgSeen.other.eta!.length > 0, { what: 'orders and ETAs' })
    await sleep(COALESCE_MS * 3)
    const etas = orgSeen.other.eta!.flatMap((b) => b.items)
    expect(etas).toHaveLength(1)
    expect(etas[0]).toMatchObject({ vehicleId: v, remainingM: 998, arrived: false, eta: new Date(t + 600_000 - 2).toISOString() })
    expect(orgSeen.other.order!.flatMap((b) => b.items)).toEqual([expect.objectContaining({ orderId: order.orderId, status: 'picked_up' })])
    expect(managerSeen.other.order).toEqual([])
    expect(managerSeen.other.alert!.flatMap((b) => b.items)).toHaveLength(4)
    expect(geoSeen.other.alert!.flatMap((b) => b.items).map((a) => a.id)).toEqual([`a-${t}-1`])
    expect(geoSeen.other.alert![0].room).toBe(`geofence:${fence}`)
    // The org snapshot carries the recent alerts and the vehicle's ETA.
    const later = await join(await open(admin), { room: 'org' })
    expect(later.ok && later.snapshot.alerts.map((a) => a.id)).toEqual(expect.arrayContaining([`a-${t}-0`, `a-${t}-3`]))
    expect(later.ok && later.snapshot.vehicles.find((x) => x.vehicleId === v)?.eta?.remainingM).toBe(998)
  })
})

describe('a client that stops reading', () => {
  it('costs bounded server memory, does not hold up others, and gets the newest state when it resumes', async () => {
    const FLEET = 2000
    const ids = await vehiclesIn(orgId, FLEET, 'Bulk')
    const slow = await open(admin)
    const fast = await open(admin)
    expect((await join(slow, { room: 'org' })).ok).toBe(true)
    expect((await join(fast, { room: 'org' })).ok).toBe(true)
    const slowSeen = recorder(slow)
    const fastSeen = recorder(fast)
    // The raw WebSocket under socket.io-client: pausing it stops reading from the TCP socket.
    const ws = (slow.io.engine.transport as unknown as { ws: WebSocket }).ws
    ws.pause()

    const t0 = Date.now()
    let round = 0
    let maxOwed = 0
    let maxBuffered = 0
    let backedUpSeen = false
    const heapBefore = process.memoryUsage().heapUsed
    // ~6 s of every vehicle moving every 40 ms: far more than the paused socket's kernel buffers hold.
    while (Date.now() - t0 < 6000) {
      const ts = t0 + round
      await publish(TOPICS.livePositions, ids.map((id, i) => position(orgId, id, ts, 52 + (i % 100) * 0.001 + round * 1e-5, 13 + Math.floor(i / 100) * 0.001)))
      round++
      const s = platform.api!.live.stats()
      maxOwed = Math.max(maxOwed, s.owedItems)
      maxBuffered = Math.max(maxBuffered, s.maxBufferedBytes)
      backedUpSeen ||= s.backedUp > 0
      await sleep(40)
    }
    const lastTs = new Date(t0 + round - 1).toISOString()
    // For the log only: this heap also holds the test's clients and everything they recorded.
    const heapGrowthMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20
    console.log(`slow client: ${round} rounds x ${FLEET} vehicles; max owed ${maxOwed} items, max WebSocket buffer ${(maxBuffered / 2 ** 20).toFixed(2)} MiB, heap growth ${heapGrowthMb.toFixed(1)} MiB (test process)`)

    expect(backedUpSeen).toBe(true)
    // Owed: at most one entry per vehicle; queued in the WebSocket: about one batch (2,000 items, ~300 KB), never the ~50 MB sent meanwhile.
    expect(maxOwed).toBeLessThanOrEqual(FLEET)
    expect(maxBuffered).toBeLessThan(2 * 2 ** 20)
    // The reading client kept up meanwhile.
    await waitFor(() => ids.every((id) => fastSeen.latest.get(id)?.ts === lastTs), { what: 'the fast client at the newest state', timeoutMs: 15_000 })
    expect(ids.some((id) => slowSeen.latest.get(id)?.ts === lastTs)).toBe(false)

    ws.resume()
    await waitFor(() => ids.every((id) => slowSeen.latest.get(id)?.ts === lastTs), { what: 'the slow client at the newest state', timeoutMs: 30_000 })
    // It skipped the states in between rather than receiving a queue of them (what it got before
    // blocking filled the kernel's socket buffers, then one batch of the newest state).
    const behind = fastSeen.items().length - slowSeen.items().length
    console.log(`slow client received ${slowSeen.items().length} items in ${slowSeen.batches.length} batches; the reading one ${fastSeen.items().length} in ${fastSeen.batches.length}`)
    expect(behind).toBeGreaterThanOrEqual(3 * FLEET)
    await waitFor(() => platform.api!.live.stats().owedItems === 0, { what: 'nothing owed any more' })
  }, 90_000)
})
