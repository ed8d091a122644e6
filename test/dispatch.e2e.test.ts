/**
 * Dispatch end to end, through REST, MQTT and Socket.IO: an order is created
 * and assigned; its vehicle (a device publishing over MQTT) drives to the
 * pickup, the driver picks up and departs from the driver app, the vehicle
 * drives to the drop-off and the driver delivers. The stream gives the vehicle
 * its destination from the order, sends ETAs, sees the arrivals; the order
 * records them, on-time and the dwell at both ends, and the KPIs show them.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Socket } from 'socket.io-client'
import { Scenario, type ScenarioFix } from '../sim/scenario.js'
import {
  api, connectDevice, connectLive, login, provisionVehicle, startTestPlatform, tokenForRole, waitFor, type ProvisionedVehicle, type TestPlatform,
} from './helpers/platform.js'

let platform: TestPlatform
let admin: string

beforeAll(async () => {
  platform = await startTestPlatform({ ANALYTICS_REORDER_WINDOW_MS: '1000', ANALYTICS_REFRESH_MS: '200', SINK_FLUSH_MS: '100' })
  admin = await login(platform.apiUrl)
}, 60_000)
afterAll(async () => {
  await platform?.close()
})

const iso = (ms: number) => new Date(ms).toISOString()

async function publish(vehicle: ProvisionedVehicle, fixes: ScenarioFix[]): Promise<void> {
  const device = await connectDevice(platform.mqttUrl, vehicle)
  for (let i = 0; i < fixes.length; i += 200) await device.publishAsync(vehicle.topic, JSON.stringify(fixes.slice(i, i + 200)), { qos: 1 })
  await device.endAsync()
}

function onceConnected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
}

describe('a dispatch order driven by telemetry', () => {
  it('gets its destinations, ETAs and arrivals from the stream; on-time, dwell and load factor reach the KPIs; status and ETA events reach Socket.IO', async () => {
    const base = platform.apiUrl
    const dispatcher = await tokenForRole(base, admin, 'dispatcher')
    // An active vehicle with a device, and an approved driver with the driver app.
    const vehicle = await provisionVehicle(base, admin, 'Dispatch van')
    await api(base, 'PATCH', `/api/v1/vehicles/${vehicle.vehicleId}`, { token: admin, body: { maxWeightKg: 2000, maxVolumeM3: 10 } })
    for (const step of ['submit', 'approve', 'activate']) await api(base, 'POST', `/api/v1/vehicles/${vehicle.vehicleId}/${step}`, { token: admin })
    const d = await api(base, 'POST', '/api/v1/drivers', { token: admin, body: { name: 'Dispatch driver' } })
    await platform.postgres.pool.query(`UPDATE drivers SET state = 'approved' WHERE id = $1`, [d.body.id])
    const email = `driver-${randomUUID()}@example.com`
    await api(base, 'POST', `/api/v1/drivers/${d.body.id}/account`, { token: admin, body: { email, password: 'driver app password' } })
    const driverApp = await login(base, email, 'driver app password')

    // The day as it happened: to the pickup, a stop there, to the drop-off, a stop there. Its fixes are a few minutes old.
    const t0 = Date.now() - 20 * 60_000
    const sc = new Scenario({ lat: 52.5, lon: 13.35 }, t0, 2, 5).park(60)
      .drive({ distanceM: 2000, bearing: 90, cruiseKmh: 45 })
    const atPickup = sc.fixList.at(-1)!
    sc.park(180).drive({ distanceM: 3000, bearing: 0, cruiseKmh: 50 })
    const atDropoff = sc.fixList.at(-1)!
    sc.park(300)
    const toPickup = sc.fixList.filter((f) => f.ts <= atPickup.ts + 60_000)
    const toDropoff = sc.fixList.filter((f) => f.ts > atPickup.ts + 60_000)

    const live = connectLive(base, dispatcher)
    await onceConnected(live)
    const orderEvents: any[] = []
    const etaEvents: any[] = []
    live.on('order', (b: { items: any[] }) => orderEvents.push(...b.items))
    live.on('eta', (b: { items: any[] }) => etaEvents.push(...b.items))
    const joined = await live.timeout(10_000).emitWithAck('join', { room: 'org' }) as { ok: boolean }
    expect(joined.ok).toBe(true)

    const created = await api(base, 'POST', '/api/v1/orders', {
      token: dispatcher,
      body: {
        customerRef: 'CUST-TELEMETRY',
        pickup: { address: 'Depot', lat: atPickup.lat, lon: atPickup.lon, window: { from: iso(Date.now() - 3_600_000), to: iso(Date.now() + 3_600_000) } },
        dropoff: { address: 'Shop', lat: atDropoff.lat, lon: atDropoff.lon, window: { from: iso(Date.now() - 3_600_000), to: iso(Date.now() + 7_200_000) } },
        lineItems: [{ description: 'Pallets', quantity: 2, unitWeightKg: 500, unitVolumeM3: 1, unitValue: 100 }],
      },
    })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    const orderId = created.body.id as string
    const assigned = await api(base, 'POST', `/api/v1/orders/${orderId}/assign`, { token: dispatcher, body: { driverId: d.body.id, vehicleId: vehicle.vehicleId } })
    expect(assigned.status, JSON.stringify(assigned.body)).toBe(200)
    expect(assigned.body.loadFactor).toBeCloseTo(0.5, 5)
    const destination = await api(base, 'GET', `/api/v1/vehicles/${vehicle.vehicleId}/destination`, { token: admin })
    expect(destination.body).toMatchObject({ lat: atPickup.lat, lon: atPickup.lon })

    // To the pickup: the stream sees the arrival, the order records it.
    await new Promise((r) => setTimeout(r, 600))
    await publish(vehicle, toPickup)
    const atP = await waitFor(async () => {
      const o = await api(base, 'GET', `/api/v1/orders/${orderId}`, { token: dispatcher })
      return o.body.arrivedPickupAt ? o.body : undefined
    }, { timeoutMs: 30_000, what: 'the arrival at the pickup' })
    // Within 150 m of the pickup: the last seconds of braking before the stop.
    expect(Date.parse(atP.arrivedPickupAt)).toBeLessThanOrEqual(atPickup.ts)
    expect(Date.parse(atP.arrivedPickupAt)).toBeGreaterThan(atPickup.ts - 30_000)

    // The driver picks up and departs: the destination becomes the drop-off.
    expect((await api(base, 'POST', `/api/v1/me/orders/${orderId}/pick-up`, { token: driverApp })).status).toBe(200)
    expect((await api(base, 'POST', `/api/v1/me/orders/${orderId}/depart`, { token: driverApp })).status).toBe(200)
    await waitFor(async () => {
      const dest = await api(base, 'GET', `/api/v1/vehicles/${vehicle.vehicleId}/destination`, { token: admin })
      return dest.body?.lat === atDropoff.lat || undefined
    }, { what: 'the drop-off as destination' })
    await new Promise((r) => setTimeout(r, 600))
    await publish(vehicle, toDropoff)
    await waitFor(async () => (await api(base, 'GET', `/api/v1/orders/${orderId}`, { token: dispatcher })).body.arrivedDropoffAt || undefined,
      { timeoutMs: 30_000, what: 'the arrival at the drop-off' })

    const delivered = await api(base, 'POST', `/api/v1/me/orders/${orderId}/deliver`, { token: driverApp })
    expect(delivered.status, JSON.stringify(delivered.body)).toBe(200)
    expect(delivered.body).toMatchObject({ status: 'delivered', onTime: true })
    expect(delivered.body.pickupDwellMin).toBeGreaterThan(0)
    expect(delivered.body.dropoffDwellMin).toBeGreaterThan(0)
    // Delivered: the destination is cleared.
    expect((await api(base, 'GET', `/api/v1/vehicles/${vehicle.vehicleId}/destination`, { token: admin })).status).toBe(204)

    // What the platform did on its own is audited too: the destinations the order set and cleared, the arrivals.
    const { rows: audited } = await platform.postgres.pool.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE actor_email = 'system' AND (entity_id = $1 OR entity_id = $2) ORDER BY id`, [orderId, vehicle.vehicleId])
    expect(audited.map((r) => r.action)).toEqual(expect.arrayContaining([
      'vehicle.destination_set', 'order.arrived_pickup', 'order.arrived_dropoff', 'vehicle.destination_clear',
    ]))
    const activity = await api(base, 'GET', `/api/v1/orders/${orderId}/activity`, { token: dispatcher })
    const kinds = activity.body.items.map((a: any) => a.kind)
    expect(kinds).toEqual(expect.arrayContaining(['arrived_pickup', 'arrived_dropoff']))

    // Socket.IO: every status, and ETAs for this order ending in its arrival.
    await waitFor(() => orderEvents.filter((e) => e.orderId === orderId).some((e) => e.status === 'delivered') || undefined, { what: 'the delivered event' })
    // Coalesced per order and interval (the latest state wins): pick-up and departure a moment apart may arrive as one.
    const statuses = orderEvents.filter((e) => e.orderId === orderId).map((e) => e.status)
    expect(statuses).toEqual(expect.arrayContaining(['assigned', 'in_transit', 'delivered']))
    const order = ['pending', 'assigned', 'picked_up', 'in_transit', 'delivered']
    expect(statuses.map((s: string) => order.indexOf(s))).toEqual([...statuses.map((s: string) => order.indexOf(s))].sort((a, b) => a - b))
    const mine = etaEvents.filter((e) => e.orderId === orderId)
    // Coalesced per vehicle and interval as well: a burst of fixes gives a few, the last of each run its arrival.
    expect(mine.length).toBeGreaterThanOrEqual(1)
    expect(mine.some((e) => e.arrived)).toBe(true)
    live.close()

    // The KPIs: on-time rate, dwell and load factor of today's deliveries.
    const fleet = await api(base, 'GET', '/api/v1/dashboards/fleet', { token: admin })
    expect(fleet.body.ordersToday).toMatchObject({ delivered: 1, onTimeRate: 1, loadFactor: 0.5 })
    expect(fleet.body.ordersToday.pickupDwellMin).toBeGreaterThan(0)
    expect(fleet.body.ordersToday.dropoffDwellMin).toBeGreaterThan(0)
  })
})
