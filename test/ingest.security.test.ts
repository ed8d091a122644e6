/** What a device may not do, over real MQTT sockets to Aedes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ConsumedMessage } from '../core/bus/bus.js'
import { TOPICS, type DlqRecordV1 } from '../schemas/topics.v1.js'
import {
  clickhouseRows, connectDevice, login, refusedCode, provisionVehicle, startTestPlatform, waitFor, type ProvisionedVehicle, type TestPlatform,
} from './helpers/platform.js'

let platform: TestPlatform
let token: string
let a: ProvisionedVehicle
let b: ProvisionedVehicle

beforeAll(async () => {
  platform = await startTestPlatform()
  token = await login(platform.apiUrl)
  a = await provisionVehicle(platform.apiUrl, token, 'A')
  b = await provisionVehicle(platform.apiUrl, token, 'B')
})
afterAll(async () => {
  await platform?.close()
})

const rowsFor = async (vehicleId: string) =>
  Number((await clickhouseRows<{ n: string }>(platform, 'SELECT count() AS n FROM positions WHERE vehicle_id = {v:UUID}', { v: vehicleId }))[0]!.n)

/** Publishes a fix as the device to the topic, and resolves once the broker closed the connection. */
async function publishUntilClosed(device: ProvisionedVehicle, topic: string): Promise<void> {
  const client = await connectDevice(platform.mqttUrl, device)
  const closed = new Promise<void>((r) => client.once('close', () => r()))
  client.publish(topic, JSON.stringify({ ts: Date.now(), lat: 1, lon: 1 }), { qos: 1 })
  await closed
  client.end(true)
}

/** Collects what lands on a bus topic from now on. */
async function tap(topic: string) {
  const seen: ConsumedMessage[] = []
  const sub = await platform.bus.subscribe({ topic, groupId: `test-tap-${Math.random()}`, fromBeginning: false }, async (batch) => {
    seen.push(...batch.messages)
  })
  return { seen, close: () => sub.close() }
}

describe('device authentication', () => {
  it('refuses a wrong password at CONNACK with code 4', async () => {
    expect(await refusedCode(platform.mqttUrl, { username: a.deviceId, password: 'wrong', clientId: a.deviceId })).toBe(4)
  })
  it('refuses an unknown device, a missing password and a non-uuid username', async () => {
    expect(await refusedCode(platform.mqttUrl, { username: '00000000-0000-4000-8000-000000000000', password: 'x' })).toBe(4)
    expect(await refusedCode(platform.mqttUrl, { username: a.deviceId })).toBe(4)
    expect(await refusedCode(platform.mqttUrl, { username: 'admin', password: 'admin' })).toBe(4)
  })
  it("refuses a device taking over another device's client id", async () => {
    const holder = await connectDevice(platform.mqttUrl, b)
    const code = await refusedCode(platform.mqttUrl, { username: a.deviceId, password: a.secret, clientId: b.deviceId })
    expect(code).toBe(2)
    expect(holder.connected).toBe(true)
    await holder.endAsync()
  })
  it('lets a device use any client id of its own (e.g. mosquitto_pub random ids)', async () => {
    const client = await connectDevice(platform.mqttUrl, a, { clientId: 'mosq-random-1234' })
    expect(client.connected).toBe(true)
    await client.endAsync()
  })
})

describe('topic ACL', () => {
  it("closes the connection on a publish to another device's topic, and stores nothing", async () => {
    const before = await rowsFor(b.vehicleId)
    await publishUntilClosed(a, b.topic)
    await new Promise((r) => setTimeout(r, 300))
    expect(await rowsFor(b.vehicleId)).toBe(before)
    expect(await rowsFor(a.vehicleId)).toBe(0)
  })
  it('closes the connection on a publish to $SYS and stores nothing', async () => {
    await publishUntilClosed(a, '$SYS/broker/uptime')
    expect(await rowsFor(a.vehicleId)).toBe(0)
  })
  it('grants only its own commands topic in SUBACK', async () => {
    const client = await connectDevice(platform.mqttUrl, a)
    // MQTT.js rejects a SUBACK holding 0x80; the granted codes ride on the error's packet.
    const grantedQos = async (topic: string): Promise<number> => {
      try {
        const granted = await client.subscribeAsync(topic, { qos: 1 })
        return granted[0]!.qos
      } catch (err: any) {
        return err.packet.granted[0]
      }
    }
    expect(await grantedQos(`devices/${a.deviceId}/commands`)).toBe(1)
    for (const t of [`devices/${b.deviceId}/commands`, '#', 'devices/+/telemetry', '$SYS/#']) expect(await grantedQos(t), t).toBe(128)
    expect(client.connected).toBe(true)
    await client.endAsync()
  })
})

describe('bad telemetry', () => {
  it('sends 1,000 malformed payloads to the DLQ, keeps the device connected, and stores the good fix after them', async () => {
    const dlq = await tap(TOPICS.dlq)
    const client = await connectDevice(platform.mqttUrl, a)
    const bad = [
      'not json', '{"lat":1,"lon":1}', '{"ts":1700000000000,"lat":91,"lon":0}', '{"ts":1700000000000,"lat":0,"lon":-181}',
      '{"ts":1700000000000,"lat":0,"lon":0,"speed":-1}', '{"ts":1700000000000,"lat":0,"lon":0,"extra":true}', '[]',
      '{"ts":"yesterday","lat":0,"lon":0}', '{"ts":4102444800000,"lat":0,"lon":0}', '{"ts":1700000000000,"lat":"0","lon":0}',
    ]
    const publishes: Promise<unknown>[] = []
    for (let i = 0; i < 1000; i++) publishes.push(client.publishAsync(a.topic, bad[i % bad.length]!, { qos: 1 }))
    await Promise.all(publishes)
    const good = { ts: Date.now(), lat: 40.4168, lon: -3.7038, seq: 4242 }
    await client.publishAsync(a.topic, JSON.stringify(good), { qos: 1 })
    expect(client.connected).toBe(true)
    await client.endAsync()

    await waitFor(() => dlq.seen.length >= 1000 || undefined, { what: '1000 DLQ records' })
    const records = dlq.seen.map((m) => JSON.parse(m.value.toString()) as DlqRecordV1)
    expect(records).toHaveLength(1000)
    expect(new Set(records.map((r) => r.reason))).toEqual(new Set(['payload_not_json', 'schema_invalid', 'empty_batch', 'ts_out_of_range']))
    expect(records.every((r) => r.deviceId === a.deviceId && r.vehicleId === a.vehicleId)).toBe(true)
    expect(records.find((r) => r.payload.includes('extra'))?.detail).toMatch(/extra|additional/i)
    await dlq.close()

    const stored = await waitFor(async () => {
      const r = await clickhouseRows<{ seq: number }>(platform, 'SELECT seq FROM positions WHERE vehicle_id = {v:UUID}', { v: a.vehicleId })
      return r.length ? r : undefined
    }, { what: 'the good fix' })
    expect(stored.map((r) => Number(r.seq))).toEqual([4242])
    const metrics = await (await fetch(`${platform.apiUrl}/metrics`)).text()
    expect(metrics).toMatch(/fleetpulse_ingest_invalid_total\{reason="payload_not_json"\} 100/)
  })

  it('accepts the good fixes of a batch and rejects the bad one by index', async () => {
    const dlq = await tap(TOPICS.dlq)
    const client = await connectDevice(platform.mqttUrl, b)
    const t = Date.now() - 5000
    await client.publishAsync(b.topic, JSON.stringify([
      { ts: t, lat: 1, lon: 1, seq: 1 }, { ts: t + 1000, lat: 100, lon: 1, seq: 2 }, { ts: t + 2000, lat: 1, lon: 1.001, seq: 3 },
    ]), { qos: 1 })
    await client.endAsync()
    await waitFor(() => dlq.seen.length === 1 || undefined)
    expect(JSON.parse(dlq.seen[0]!.value.toString())).toMatchObject({ reason: 'schema_invalid', index: 1 })
    await dlq.close()
    const rows = await waitFor(async () => {
      const r = await clickhouseRows<{ seq: number }>(platform, 'SELECT seq FROM positions WHERE vehicle_id = {v:UUID} ORDER BY ts', { v: b.vehicleId })
      return r.length === 2 ? r : undefined
    })
    expect(rows.map((r) => Number(r.seq))).toEqual([1, 3])
  })

  it('takes org and vehicle from the registry, never from the payload', async () => {
    const client = await connectDevice(platform.mqttUrl, a)
    const dlq = await tap(TOPICS.dlq)
    await client.publishAsync(a.topic, JSON.stringify({ ts: Date.now(), lat: 1, lon: 1, vehicleId: b.vehicleId }), { qos: 1 })
    await client.endAsync()
    await waitFor(() => dlq.seen.length === 1 || undefined)
    expect(JSON.parse(dlq.seen[0]!.value.toString()).detail).toMatch(/vehicleId/)
    await dlq.close()
  })
})
