/**
 * Devices through the REST API and over real MQTT: provisioning bound or not,
 * binding and rebinding, revocation (an online device is cut off at once and
 * refused after), secret rotation, firmware, last seen, lists, and the refusals.
 */
import { randomUUID } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, clickhouseRows, connectDevice, login, refusedCode, startTestPlatform, waitFor, type TestPlatform } from './helpers/platform.js'

let platform: TestPlatform
let base: string
let admin: string

beforeAll(async () => {
  platform = await startTestPlatform()
  base = platform.apiUrl
  admin = await login(base)
})
afterAll(async () => {
  await platform?.close()
})

const newVehicle = async () => (await api(base, 'POST', '/api/v1/vehicles', { token: admin, body: { name: `Bus ${randomUUID().slice(0, 6)}` } })).body.id as string
const provision = async (body: Record<string, unknown>) => {
  const res = await api(base, 'POST', '/api/v1/devices', { token: admin, body: { kind: 'gps', ...body } })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body as { id: string; secret: string; topic: string; vehicleId: string | null }
}
const creds = (d: { id: string; secret: string }) => ({ deviceId: d.id, secret: d.secret })
const closed = (client: MqttClient) => new Promise<void>((resolve) => client.once('close', () => resolve()))
const fix = (seq: number) => JSON.stringify({ ts: new Date().toISOString(), lat: 52.5 + seq / 1e4, lon: 13.4, seq })
const rowsOf = async (vehicleId: string) =>
  Number((await clickhouseRows<{ n: string }>(platform, 'SELECT count() AS n FROM positions FINAL WHERE vehicle_id = {v:UUID}', { v: vehicleId }))[0]!.n)

describe('devices', () => {
  it('refuses an unbound device (CONNACK 5), and takes its fixes for the vehicle it is then bound to', async () => {
    const device = await provision({ firmware: '1.0.0' })
    expect(device.vehicleId).toBeNull()
    expect(await refusedCode(platform.mqttUrl, { username: device.id, password: device.secret, clientId: device.id })).toBe(5)
    const vehicleId = await newVehicle()
    const bound = await api(base, 'POST', `/api/v1/devices/${device.id}/bind`, { token: admin, body: { vehicleId } })
    expect(bound.body).toMatchObject({ vehicleId, firmware: '1.0.0' })
    const client = await connectDevice(platform.mqttUrl, creds(device))
    await client.publishAsync(device.topic, fix(1), { qos: 1 })
    await client.endAsync()
    await waitFor(async () => (await rowsOf(vehicleId)) === 1 || undefined, { what: 'the fix in ClickHouse' })
    const seen = await api(base, 'GET', `/api/v1/devices/${device.id}`, { token: admin })
    expect(seen.body.lastSeenAt).not.toBeNull()
  })

  it('disconnects an online device at once when it is revoked, and refuses its next CONNECT', async () => {
    const vehicleId = await newVehicle()
    const device = await provision({ vehicleId })
    const client = await connectDevice(platform.mqttUrl, creds(device))
    const gone = closed(client)
    const res = await api(base, 'POST', `/api/v1/devices/${device.id}/revoke`, { token: admin })
    expect(res.status).toBe(200)
    expect(res.body.revokedAt).not.toBeNull()
    await gone
    expect(await refusedCode(platform.mqttUrl, { username: device.id, password: device.secret, clientId: device.id })).toBe(4)
    // A revoked device stays revoked.
    expect((await api(base, 'POST', `/api/v1/devices/${device.id}/rotate-secret`, { token: admin })).status).toBe(409)
    expect((await api(base, 'POST', `/api/v1/devices/${device.id}/bind`, { token: admin, body: { vehicleId } })).status).toBe(409)
    expect((await api(base, 'POST', `/api/v1/devices/${device.id}/revoke`, { token: admin })).status).toBe(409)
    client.end(true)
  })

  it('rotates a secret: the connected device is cut off, the old secret refused, the new one works', async () => {
    const device = await provision({ vehicleId: await newVehicle() })
    const client = await connectDevice(platform.mqttUrl, creds(device))
    const gone = closed(client)
    const rotated = await api(base, 'POST', `/api/v1/devices/${device.id}/rotate-secret`, { token: admin })
    expect(rotated.status).toBe(200)
    expect(rotated.body.secret).not.toBe(device.secret)
    await gone
    client.end(true)
    expect(await refusedCode(platform.mqttUrl, { username: device.id, password: device.secret, clientId: device.id })).toBe(4)
    const again = await connectDevice(platform.mqttUrl, { deviceId: device.id, secret: rotated.body.secret })
    await again.endAsync()
    const row = await platform.postgres.pool.query('SELECT after FROM audit_log WHERE action = $1 AND entity_id = $2', ['device.rotate_secret', device.id])
    expect(JSON.stringify(row.rows)).not.toContain(rotated.body.secret)
  })

  it('rebinds: the connected device reconnects and its fixes belong to the new vehicle', async () => {
    const first = await newVehicle()
    const second = await newVehicle()
    const device = await provision({ vehicleId: first })
    const client = await connectDevice(platform.mqttUrl, creds(device))
    const gone = closed(client)
    await api(base, 'POST', `/api/v1/devices/${device.id}/bind`, { token: admin, body: { vehicleId: second } })
    await gone
    client.end(true)
    const again = await connectDevice(platform.mqttUrl, creds(device))
    await again.publishAsync(device.topic, fix(2), { qos: 1 })
    await again.endAsync()
    await waitFor(async () => (await rowsOf(second)) === 1 || undefined, { what: 'the fix for the new vehicle' })
    expect(await rowsOf(first)).toBe(0)
    const log = await api(base, 'GET', `/api/v1/vehicles/${second}/log`, { token: admin })
    expect(log.body.items.map((e: { action: string }) => e.action)).toContain('device.bind')
    const firstLog = await api(base, 'GET', `/api/v1/vehicles/${first}/log`, { token: admin })
    expect(firstLog.body.items.map((e: { action: string }) => e.action)).toEqual(['device.bind', 'device.provision', 'vehicle.create'])
  })

  it('refuses binding to a retired vehicle or another organization\'s, and hides other organizations\' devices', async () => {
    const device = await provision({})
    const retired = await newVehicle()
    await api(base, 'POST', `/api/v1/vehicles/${retired}/retire`, { token: admin })
    expect((await api(base, 'POST', `/api/v1/devices/${device.id}/bind`, { token: admin, body: { vehicleId: retired } })).status).toBe(409)
    const otherEmail = `dev-other-${randomUUID()}@example.com`
    await api(base, 'POST', '/api/v1/organizations', { token: admin, body: { name: 'Device thieves', admin: { email: otherEmail, password: 'device thief password' } } })
    const other = await login(base, otherEmail, 'device thief password')
    const theirVehicle = (await api(base, 'POST', '/api/v1/vehicles', { token: other, body: { name: 'theirs' } })).body.id
    expect((await api(base, 'POST', `/api/v1/devices/${device.id}/bind`, { token: admin, body: { vehicleId: theirVehicle } })).status).toBe(404)
    expect((await api(base, 'GET', `/api/v1/devices/${device.id}`, { token: other })).status).toBe(404)
    expect((await api(base, 'POST', `/api/v1/devices/${device.id}/revoke`, { token: other })).status).toBe(404)
    expect((await api(base, 'GET', '/api/v1/devices', { token: other })).body.items).toEqual([])
  })

  it('lists devices by vehicle and revocation, and sets firmware', async () => {
    const vehicleId = await newVehicle()
    const a = await provision({ vehicleId })
    const b = await provision({ vehicleId, kind: 'dashcam' })
    await api(base, 'POST', `/api/v1/devices/${b.id}/revoke`, { token: admin })
    const all = await api(base, 'GET', `/api/v1/devices?vehicleId=${vehicleId}`, { token: admin })
    expect(all.body.items.map((d: { id: string }) => d.id)).toEqual([a.id, b.id])
    const live = await api(base, 'GET', `/api/v1/devices?vehicleId=${vehicleId}&revoked=false`, { token: admin })
    expect(live.body.items.map((d: { id: string }) => d.id)).toEqual([a.id])
    const fw = await api(base, 'PATCH', `/api/v1/devices/${a.id}`, { token: admin, body: { firmware: '3.1.4' } })
    expect(fw.body.firmware).toBe('3.1.4')
    expect((await api(base, 'PATCH', `/api/v1/devices/${a.id}`, { token: admin, body: { firmware: '3.1.4', secret: 'x' } })).status).toBe(400)
  })
})
