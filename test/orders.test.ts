/**
 * Dispatch orders through the REST API: numbers under concurrency, totals
 * computed by the server, assignment rules (states, capacity, overlap, races),
 * the status workflow from the dispatcher and from the driver app, proof of
 * delivery, on-time, the activity log, the live feed, and the refusals:
 * client-sent totals, wrong-state steps, other organizations' ids and other
 * drivers' orders.
 */
import { randomUUID } from 'node:crypto'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Order } from '../schemas/orders.v1.js'
import { TOPICS, type LiveOrderV1 } from '../schemas/topics.v1.js'
import { OrderEvents, type OrderTelemetryPort } from '../api/orders/order-events.js'
import { api, login, startTestPlatform, tokenForRole, waitFor, type TestPlatform } from './helpers/platform.js'

let platform: TestPlatform
let base: string
let admin: string
let dispatcher: string
let analyst: string
const live: LiveOrderV1[] = []

beforeAll(async () => {
  platform = await startTestPlatform()
  base = platform.apiUrl
  admin = await login(base)
  dispatcher = await tokenForRole(base, admin, 'dispatcher')
  analyst = await tokenForRole(base, admin, 'analyst')
  await platform.bus.subscribe({ topic: TOPICS.liveOrders, groupId: `orders-test-${randomUUID()}`, fromBeginning: true }, async (batch) => {
    for (const m of batch.messages) live.push(JSON.parse(m.value.toString()) as LiveOrderV1)
  })
})
afterAll(async () => {
  await platform?.close()
})

const hours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString()

/** An order body with windows around `at` hours from now. */
function orderBody(at = 1, extra: Record<string, unknown> = {}) {
  return {
    customerRef: `CUST-${randomUUID().slice(0, 6)}`,
    pickup: { address: 'Warehouse 1, Berlin', lat: 52.5, lon: 13.4, window: { from: hours(at), to: hours(at + 1) } },
    dropoff: { address: 'Shop 7, Potsdam', lat: 52.39, lon: 13.06, window: { from: hours(at + 1), to: hours(at + 3) } },
    lineItems: [
      { description: 'Pallet of tiles', quantity: 2, unitWeightKg: 400.5, unitVolumeM3: 1.2, unitValue: 899.99 },
      { description: 'Grout', quantity: 10, unitWeightKg: 5, unitVolumeM3: 0.01, unitValue: 12.5 },
    ],
    ...extra,
  }
}

const createOrder = async (body: Record<string, unknown> = orderBody(), token = dispatcher) => {
  const res = await api(base, 'POST', '/api/v1/orders', { token, body })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body as Order
}

async function activeVehicle(capacity: { maxWeightKg?: number; maxVolumeM3?: number } = { maxWeightKg: 3500, maxVolumeM3: 20 }) {
  const v = await api(base, 'POST', '/api/v1/vehicles', { token: admin, body: { name: `Van ${randomUUID().slice(0, 6)}`, ...capacity } })
  expect(v.status, JSON.stringify(v.body)).toBe(201)
  for (const step of ['submit', 'approve', 'activate']) await api(base, 'POST', `/api/v1/vehicles/${v.body.id}/${step}`, { token: admin })
  return v.body.id as string
}

/** A driver approved (straight in the database: the background-check vendor is another test's subject) with a login. */
async function approvedDriver(state: 'approved' | 'active' | 'applicant' = 'approved') {
  const d = await api(base, 'POST', '/api/v1/drivers', { token: admin, body: { name: `Driver ${randomUUID().slice(0, 6)}` } })
  await platform.postgres.pool.query('UPDATE drivers SET state = $2 WHERE id = $1', [d.body.id, state])
  const email = `driver-${randomUUID()}@example.com`
  await api(base, 'POST', `/api/v1/drivers/${d.body.id}/account`, { token: admin, body: { email, password: 'driver app password' } })
  return { id: d.body.id as string, token: await login(base, email, 'driver app password') }
}

const post = (url: string, token: string, body?: unknown) => api(base, 'POST', url, { token, body })
const PDF = new TextEncoder().encode('%PDF-1.7\nproof\n%%EOF\n')
function podForm(bytes: Uint8Array<ArrayBuffer> = PDF) {
  const form = new FormData()
  form.append('file', new Blob([bytes]), 'pod.pdf')
  return form
}

describe('creating orders', () => {
  it('numbers orders per organization and computes the totals from the line items', async () => {
    const order = await createOrder()
    expect(order).toMatchObject({
      status: 'pending', driverId: null, vehicleId: null, loadFactor: null, onTime: null, proofOfDelivery: null,
      totals: { weightKg: 851, volumeM3: 2.5, value: 1924.98, itemCount: 12 },
    })
    expect(order.number).toMatch(/^ORD-\d{6}$/)
    expect(order.lineItems).toHaveLength(2)
    const next = await createOrder()
    expect(Number(next.number.slice(4))).toBe(Number(order.number.slice(4)) + 1)
    const activity = await api(base, 'GET', `/api/v1/orders/${order.id}/activity`, { token: analyst })
    expect(activity.body.items).toEqual([expect.objectContaining({ kind: 'created', toStatus: 'pending', actorType: 'user' })])
  })

  it('gives 100 parallel creates 100 distinct numbers', async () => {
    const created = await Promise.all(Array.from({ length: 100 }, () => api(base, 'POST', '/api/v1/orders', { token: dispatcher, body: orderBody() })))
    expect(created.map((r) => r.status).every((s) => s === 201)).toBe(true)
    const numbers = created.map((r) => r.body.number as string)
    expect(new Set(numbers).size).toBe(100)
    const seqs = numbers.map((n) => Number(n.slice(4))).sort((a, b) => a - b)
    expect(seqs.at(-1)! - seqs[0]!).toBe(99)
  })

  it('refuses client-sent totals, numbers, status, org ids and unknown fields (400), and windows out of order', async () => {
    const refused = [
      { totals: { weightKg: 1, volumeM3: 1, value: 1, itemCount: 1 } }, { number: 'ORD-999999' }, { status: 'delivered' },
      { orgId: randomUUID() }, { driverId: randomUUID() }, { onTime: true },
    ]
    for (const extra of refused) {
      const res = await api(base, 'POST', '/api/v1/orders', { token: dispatcher, body: orderBody(1, extra) })
      expect(res.status, JSON.stringify(extra)).toBe(400)
      expect(res.body.errors[0].field).toBe(Object.keys(extra)[0])
    }
    const itemTotal = orderBody()
    ;(itemTotal.lineItems[0] as Record<string, unknown>).total = 5
    expect((await api(base, 'POST', '/api/v1/orders', { token: dispatcher, body: itemTotal })).status).toBe(400)
    const backwards = orderBody()
    backwards.dropoff.window = { from: hours(5), to: hours(4) }
    const res = await api(base, 'POST', '/api/v1/orders', { token: dispatcher, body: backwards })
    expect(res.status).toBe(400)
    expect(res.body.errors[0].path).toBe('body/dropoff/window')
    expect((await api(base, 'POST', '/api/v1/orders', { token: analyst, body: orderBody() })).status).toBe(403)
  })
})

describe('the order workflow', () => {
  it('walks pending -> assigned -> picked_up -> in_transit -> delivered from the driver app, with proof of delivery, on time', async () => {
    const vehicleId = await activeVehicle()
    const driver = await approvedDriver()
    const order = await createOrder()
    const assigned = await post(`/api/v1/orders/${order.id}/assign`, dispatcher, { driverId: driver.id, vehicleId })
    expect(assigned.status, JSON.stringify(assigned.body)).toBe(200)
    expect(assigned.body).toMatchObject({ status: 'assigned', driverId: driver.id, vehicleId, loadFactor: 0.2431 })

    // The driver sees it in their app and is told of it.
    const mine = await api(base, 'GET', '/api/v1/me/orders', { token: driver.token })
    expect(mine.body.items.map((o: Order) => o.id)).toEqual([order.id])
    const inbox = await api(base, 'GET', '/api/v1/notifications', { token: driver.token })
    expect(inbox.body.items.map((n: { kind: string }) => n.kind)).toContain('order.assigned')

    expect((await post(`/api/v1/me/orders/${order.id}/pick-up`, driver.token)).body.status).toBe('picked_up')
    expect((await post(`/api/v1/me/orders/${order.id}/depart`, driver.token)).body.status).toBe('in_transit')
    const pod = await api(base, 'POST', `/api/v1/me/orders/${order.id}/proof-of-delivery?recipientName=${encodeURIComponent('A. Receiver')}`, {
      token: driver.token, body: podForm(),
    })
    expect(pod.status, JSON.stringify(pod.body)).toBe(200)
    expect(pod.body.proofOfDelivery).toMatchObject({ recipientName: 'A. Receiver' })
    const delivered = await post(`/api/v1/me/orders/${order.id}/deliver`, driver.token)
    expect(delivered.body).toMatchObject({ status: 'delivered', onTime: true })
    expect(delivered.body.deliveredAt).toBeTruthy()

    const file = await fetch(`${base}/api/v1/orders/${order.id}/proof-of-delivery`, { headers: { authorization: `Bearer ${dispatcher}` } })
    expect(file.headers.get('content-type')).toBe('application/pdf')
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(PDF)

    const activity = await api(base, 'GET', `/api/v1/me/orders/${order.id}/activity`, { token: driver.token })
    expect(activity.body.items.map((a: { kind: string; toStatus: string | null }) => `${a.kind}:${a.toStatus ?? ''}`)).toEqual([
      'created:pending', 'assigned:assigned', 'status:picked_up', 'status:in_transit', 'proof_of_delivery:', 'status:delivered', 'on_time:',
    ])
    expect(activity.body.items.at(-1)).toMatchObject({ actorType: 'system', data: { onTime: true } })
    const audit = await api(base, 'GET', `/api/v1/audit?entityType=order&entityId=${order.id}`, { token: admin })
    expect(audit.body.items.map((a: { action: string }) => a.action).reverse()).toEqual([
      'order.create', 'order.assign', 'order.pick_up', 'order.depart', 'order.proof_of_delivery', 'order.deliver',
    ])

    // Every status and assignment change reaches the live feed, keyed by order.
    await waitFor(() => live.filter((m) => m.orderId === order.id).length >= 5 || undefined, { what: 'live order messages' })
    expect(live.filter((m) => m.orderId === order.id).map((m) => m.status)).toEqual(['pending', 'assigned', 'picked_up', 'in_transit', 'delivered'])
  })

  it('marks a delivery after the drop-off window as late', async () => {
    const vehicleId = await activeVehicle()
    const driver = await approvedDriver('active')
    const late = orderBody(-5)
    const order = await createOrder(late)
    await post(`/api/v1/orders/${order.id}/assign`, dispatcher, { driverId: driver.id, vehicleId })
    for (const step of ['pick-up', 'depart', 'deliver']) await post(`/api/v1/orders/${order.id}/${step}`, dispatcher)
    expect((await api(base, 'GET', `/api/v1/orders/${order.id}`, { token: analyst })).body).toMatchObject({ status: 'delivered', onTime: false })
  })

  it('answers a step from the wrong status 409 with the allowed steps, and needs a reason to fail or cancel', async () => {
    const order = await createOrder()
    const res = await post(`/api/v1/orders/${order.id}/deliver`, dispatcher)
    expect(res.status).toBe(409)
    expect(res.body).toMatchObject({ code: 'invalid_transition', state: 'pending', allowed: ['assign', 'cancel'] })
    expect((await post(`/api/v1/orders/${order.id}/cancel`, dispatcher, {})).status).toBe(400)
    const cancelled = await post(`/api/v1/orders/${order.id}/cancel`, dispatcher, { reason: 'customer called it off' })
    expect(cancelled.body).toMatchObject({ status: 'cancelled', statusReason: 'customer called it off' })
    const again = await post(`/api/v1/orders/${order.id}/assign`, dispatcher, { driverId: randomUUID(), vehicleId: randomUUID() })
    expect(again.status).toBe(409)
    expect(again.body).toMatchObject({ state: 'cancelled', allowed: [] })
    const pod = await api(base, 'POST', `/api/v1/orders/${order.id}/proof-of-delivery?recipientName=x`, { token: dispatcher, body: podForm() })
    expect(pod.status).toBe(409)
  })

  it('fails a picked-up order with the reason and unassigns an assigned one', async () => {
    const vehicleId = await activeVehicle()
    const driver = await approvedDriver()
    const a = await createOrder(orderBody(10))
    const b = await createOrder(orderBody(20))
    await post(`/api/v1/orders/${a.id}/assign`, dispatcher, { driverId: driver.id, vehicleId })
    await post(`/api/v1/me/orders/${a.id}/pick-up`, driver.token)
    const failed = await post(`/api/v1/me/orders/${a.id}/fail`, driver.token, { reason: 'nobody at the address' })
    expect(failed.body).toMatchObject({ status: 'failed', statusReason: 'nobody at the address' })
    await post(`/api/v1/orders/${b.id}/assign`, dispatcher, { driverId: driver.id, vehicleId })
    const unassigned = await post(`/api/v1/orders/${b.id}/unassign`, dispatcher)
    expect(unassigned.body).toMatchObject({ status: 'pending', driverId: null, vehicleId: null, loadFactor: null })
  })
})

describe('assignment rules', () => {
  it('takes only an active vehicle and an approved or active driver, within capacity, recording the load factor', async () => {
    const order = await createOrder()
    const driver = await approvedDriver()
    const draft = (await api(base, 'POST', '/api/v1/vehicles', { token: admin, body: { name: 'Draft van' } })).body.id
    expect((await post(`/api/v1/orders/${order.id}/assign`, dispatcher, { driverId: driver.id, vehicleId: draft })).status).toBe(409)
    const applicant = await approvedDriver('applicant')
    const vehicleId = await activeVehicle()
    expect((await post(`/api/v1/orders/${order.id}/assign`, dispatcher, { driverId: applicant.id, vehicleId })).status).toBe(409)
    const small = await activeVehicle({ maxWeightKg: 500 })
    const tooHeavy = await post(`/api/v1/orders/${order.id}/assign`, dispatcher, { driverId: driver.id, vehicleId: small })
    expect(tooHeavy.status).toBe(409)
    expect(tooHeavy.body.detail).toContain('851 kg')
    const tiny = await activeVehicle({ maxVolumeM3: 2 })
    expect((await post(`/api/v1/orders/${order.id}/assign`, dispatcher, { driverId: driver.id, vehicleId: tiny })).status).toBe(409)
    const volumeBound = await activeVehicle({ maxWeightKg: 10_000, maxVolumeM3: 5 })
    const ok = await post(`/api/v1/orders/${order.id}/assign`, dispatcher, { driverId: driver.id, vehicleId: volumeBound })
    expect(ok.body).toMatchObject({ status: 'assigned', loadFactor: 0.5 })
    const unknown = await activeVehicle({})
    const reassigned = await post(`/api/v1/orders/${order.id}/assign`, dispatcher, { driverId: driver.id, vehicleId: unknown })
    expect(reassigned.body).toMatchObject({ vehicleId: unknown, loadFactor: null })
    expect((await post(`/api/v1/orders/${order.id}/assign`, analyst, { driverId: driver.id, vehicleId: unknown })).status).toBe(403)
  })

  it('refuses a driver or vehicle an order at an overlapping time, and takes one at another time', async () => {
    const driver = await approvedDriver()
    const [v1, v2] = [await activeVehicle(), await activeVehicle()]
    const first = await createOrder(orderBody(30))
    const overlapping = await createOrder(orderBody(31))
    const later = await createOrder(orderBody(40))
    expect((await post(`/api/v1/orders/${first.id}/assign`, dispatcher, { driverId: driver.id, vehicleId: v1 })).status).toBe(200)
    const busy = await post(`/api/v1/orders/${overlapping.id}/assign`, dispatcher, { driverId: driver.id, vehicleId: v2 })
    expect(busy.status).toBe(409)
    expect(busy.body.detail).toContain(first.number)
    const other = await approvedDriver()
    expect((await post(`/api/v1/orders/${overlapping.id}/assign`, dispatcher, { driverId: other.id, vehicleId: v1 })).status).toBe(409)
    expect((await post(`/api/v1/orders/${later.id}/assign`, dispatcher, { driverId: driver.id, vehicleId: v1 })).status).toBe(200)
  })

  it('lets only one of two parallel assignments of one driver to overlapping orders win', async () => {
    for (let i = 0; i < 3; i++) {
      const driver = await approvedDriver()
      const [v1, v2] = [await activeVehicle(), await activeVehicle()]
      const [a, b] = [await createOrder(orderBody(50)), await createOrder(orderBody(51))]
      const results = await Promise.all([
        post(`/api/v1/orders/${a.id}/assign`, dispatcher, { driverId: driver.id, vehicleId: v1 }),
        post(`/api/v1/orders/${b.id}/assign`, dispatcher, { driverId: driver.id, vehicleId: v2 }),
      ])
      expect(results.map((r) => r.status).sort()).toEqual([200, 409])
    }
  })
})

describe('who may touch an order', () => {
  it("answers 404 to another organization's ids and to a driver touching another driver's order", async () => {
    const vehicleId = await activeVehicle()
    const [mine, theirs] = [await approvedDriver(), await approvedDriver()]
    const order = await createOrder()
    await post(`/api/v1/orders/${order.id}/assign`, dispatcher, { driverId: mine.id, vehicleId })

    const otherEmail = `other-${randomUUID()}@example.com`
    await api(base, 'POST', '/api/v1/organizations', { token: admin, body: { name: 'Other fleet', admin: { email: otherEmail, password: 'other fleet password' } } })
    const other = await login(base, otherEmail, 'other fleet password')
    expect((await api(base, 'GET', `/api/v1/orders/${order.id}`, { token: other })).status).toBe(404)
    expect((await post(`/api/v1/orders/${order.id}/cancel`, other, { reason: 'x' })).status).toBe(404)
    expect((await post(`/api/v1/orders/${order.id}/pick-up`, other)).status).toBe(404)
    expect((await api(base, 'GET', `/api/v1/orders/${order.id}/activity`, { token: other })).status).toBe(404)
    // The other organization's order, driver and vehicle cannot be used here either.
    const foreign = (await api(base, 'POST', '/api/v1/orders', { token: other, body: orderBody() })).body as Order
    expect((await post(`/api/v1/orders/${foreign.id}/assign`, dispatcher, { driverId: mine.id, vehicleId })).status).toBe(404)
    const fresh = await createOrder()
    const foreignVehicle = (await api(base, 'POST', '/api/v1/vehicles', { token: other, body: { name: 'Foreign' } })).body.id
    expect((await post(`/api/v1/orders/${fresh.id}/assign`, dispatcher, { driverId: mine.id, vehicleId: foreignVehicle })).status).toBe(404)
    const bulk = await post('/api/v1/orders/bulk', dispatcher, { action: 'cancel', ids: [foreign.id], reason: 'x' })
    expect(bulk.body.results).toEqual([expect.objectContaining({ id: foreign.id, ok: false, code: 'not_found' })])
    expect((await api(base, 'GET', `/api/v1/orders/${foreign.id}`, { token: other })).body.status).toBe('pending')

    expect((await api(base, 'GET', `/api/v1/me/orders/${order.id}`, { token: theirs.token })).status).toBe(404)
    expect((await post(`/api/v1/me/orders/${order.id}/pick-up`, theirs.token)).status).toBe(404)
    expect((await api(base, 'POST', `/api/v1/me/orders/${order.id}/proof-of-delivery?recipientName=x`, { token: theirs.token, body: podForm() })).status).toBe(404)
    expect((await api(base, 'GET', '/api/v1/me/orders', { token: theirs.token })).body.items).toEqual([])
    // A driver has no staff routes, and a driver cannot cancel even their own order.
    expect((await api(base, 'GET', `/api/v1/orders/${order.id}`, { token: mine.token })).status).toBe(403)
    expect((await post(`/api/v1/orders/${order.id}/cancel`, mine.token, { reason: 'x' })).status).toBe(403)
    expect((await api(base, 'GET', `/api/v1/orders/${order.id}`, { token: admin })).body.status).toBe('assigned')
  })
})

describe('lists, bulk and export', () => {
  it('filters, searches and sorts orders across cursor pages', async () => {
    const tag = `LIST-${randomUUID().slice(0, 6)}`
    const made: Order[] = []
    for (let i = 0; i < 5; i++) made.push(await createOrder(orderBody(100 - i * 10, { customerRef: `${tag}-${i}` })))
    await post(`/api/v1/orders/${made[0]!.id}/cancel`, dispatcher, { reason: 'no longer needed' })
    const cancelled = await api(base, 'GET', `/api/v1/orders?q=${tag}&status=cancelled`, { token: analyst })
    expect(cancelled.body.items.map((o: Order) => o.id)).toEqual([made[0]!.id])

    const walk = async (sort: string) => {
      const seen: string[] = []
      let cursor: string | null = null
      do {
        const res: { status: number; body: any } = await api(base, 'GET', `/api/v1/orders?q=${tag}&sort=${sort}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: analyst })
        expect(res.status, JSON.stringify(res.body)).toBe(200)
        seen.push(...res.body.items.map((o: Order) => o.id))
        cursor = res.body.nextCursor
      } while (cursor)
      return seen
    }
    const ids = made.map((o) => o.id)
    expect(await walk('number')).toEqual(ids)
    expect(await walk('-number')).toEqual([...ids].reverse())
    expect(await walk('dueAt')).toEqual([...ids].reverse())
    expect(await walk('-createdAt')).toEqual([...ids].reverse())
    expect((await api(base, 'GET', '/api/v1/orders?cursor=x1.00000000-0000-0000-0000-000000000000', { token: analyst })).status).toBe(400)
  })

  it('answers bulk steps and bulk assignments with a result per order', async () => {
    const [a, b, c] = [await createOrder(orderBody(200)), await createOrder(orderBody(210)), await createOrder(orderBody(220))]
    const missing = randomUUID()
    const driver = await approvedDriver()
    const vehicleId = await activeVehicle()
    const assigned = await post('/api/v1/orders/bulk-assign', dispatcher, {
      assignments: [{ orderId: a.id, driverId: driver.id, vehicleId }, { orderId: b.id, driverId: driver.id, vehicleId }, { orderId: missing, driverId: driver.id, vehicleId }],
    })
    expect(assigned.body.results).toEqual([
      { id: a.id, ok: true, state: 'assigned' },
      { id: b.id, ok: true, state: 'assigned' },
      expect.objectContaining({ id: missing, ok: false, code: 'not_found' }),
    ])
    const picked = await post('/api/v1/orders/bulk', dispatcher, { action: 'pick_up', ids: [a.id, b.id, c.id] })
    expect(picked.body.results).toEqual([
      { id: a.id, ok: true, state: 'picked_up' },
      { id: b.id, ok: true, state: 'picked_up' },
      expect.objectContaining({ id: c.id, ok: false, code: 'invalid_transition', state: 'pending' }),
    ])
    expect((await post('/api/v1/orders/bulk', dispatcher, { action: 'cancel', ids: [c.id] })).status).toBe(400)
    expect((await post('/api/v1/orders/bulk', dispatcher, { action: 'cancel', ids: [c.id], reason: 'duplicate' })).body.results[0].ok).toBe(true)
  })

  it('exports the filtered orders as CSV and as JSON', async () => {
    const tag = `EXP-${randomUUID().slice(0, 6)}`
    const made = [await createOrder(orderBody(1, { customerRef: `${tag}-a` })), await createOrder(orderBody(1, { customerRef: `=${tag}-b` }))]
    const csv = await fetch(`${base}/api/v1/orders/export?q=${tag}&sort=number`, { headers: { authorization: `Bearer ${analyst}` } })
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    const lines = (await csv.text()).trim().split('\r\n')
    expect(lines[0]).toMatch(/^number,status,statusReason,customerRef,/)
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(made.map((o) => o.number))
    // A cell a spreadsheet would run as a formula is defused.
    expect(lines[2]).toContain(`'=${tag}-b`)
    const json = await api(base, 'GET', `/api/v1/orders/export?format=json&q=${tag}&sort=-number`, { token: analyst })
    expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(json.body.map((o: Order) => o.id)).toEqual(made.map((o) => o.id).reverse())
    expect(json.body[0].totals.weightKg).toBe(851)
  })
})

describe('order events', () => {
  it('tells the telemetry side when an order with a vehicle enters and leaves transit, after publishing the change', async () => {
    const calls: string[] = []
    const port: OrderTelemetryPort = {
      orderInTransit: async (o) => void calls.push(`in_transit ${o.vehicleId} ${o.dropoff.lat},${o.dropoff.lon} ${o.window.to}`),
      orderClosed: async (o) => void calls.push(`closed ${o.vehicleId}`),
    }
    const events = new OrderEvents(platform.bus, port, pino({ level: 'silent' }))
    const order = await createOrder()
    const at = (status: Order['status'], vehicleId: string | null) => ({ ...order, status, vehicleId, driverId: vehicleId })
    const v = randomUUID()
    const orgId = randomUUID()
    await events.changed(orgId, at('assigned', v), at('picked_up', v))
    await events.changed(orgId, at('picked_up', v), at('in_transit', v))
    await events.changed(orgId, at('in_transit', v), at('delivered', v))
    await events.changed(orgId, at('assigned', v), at('pending', null))
    expect(calls).toEqual([`in_transit ${v} 52.39,13.06 ${order.dropoff.window.to}`, `closed ${v}`, `closed ${v}`])
  })
})
