/**
 * Device events end to end on real sockets: an MQTT.js dashcam publishes on
 * devices/<id>/events at QoS 1; ingest validates and hands them to the bus
 * (PUBACK only once the bus accepted them), the stream writes them to
 * ClickHouse and raises a live alert for each; bad events go to the DLQ with
 * their reason.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BusMessage } from '../core/bus/bus.js'
import { TOPICS, type DlqRecordV1, type LiveAlertV1 } from '../schemas/topics.v1.js'
import { api, clickhouseRows, connectDevice, login, startTestPlatform, waitFor, type ProvisionedVehicle, type TestPlatform } from './helpers/platform.js'

let platform: TestPlatform
let token: string
const alerts: LiveAlertV1[] = []
const dlq: DlqRecordV1[] = []

/** Reads a topic from its beginning under a group of this test's own. */
async function collect<T>(topic: string, into: T[]) {
  await platform.bus.ensureTopics([topic])
  await platform.bus.subscribe({ topic, groupId: `test-${randomUUID()}`, fromBeginning: true, maxWaitMs: 0 }, async (batch) => {
    for (const m of batch.messages) into.push((m.decoded ?? JSON.parse(m.value.toString('utf8'))) as T)
  })
}

beforeAll(async () => {
  platform = await startTestPlatform()
  token = await login(platform.apiUrl)
  await collect(TOPICS.liveAlerts, alerts)
  await collect(TOPICS.dlq, dlq)
})
afterAll(async () => {
  await platform?.close()
})

async function dashcam(name: string): Promise<ProvisionedVehicle & { eventsTopic: string }> {
  const v = await api(platform.apiUrl, 'POST', '/api/v1/vehicles', { token, body: { name } })
  const d = await api(platform.apiUrl, 'POST', `/api/v1/vehicles/${v.body.id}/devices`, { token, body: { kind: 'dashcam' } })
  return { vehicleId: v.body.id, deviceId: d.body.id, secret: d.body.secret, topic: d.body.topic, eventsTopic: `devices/${d.body.id}/events` }
}

interface EventRow { id: string; ts_ms: string; type: string; severity: string; lat: number | null; speed: number | null; clip_url: string | null; clip_duration_s: number | null; clip_start_ms: string | number | null; detail: string | null }
const rowsOf = (vehicleId: string) => clickhouseRows<EventRow>(platform,
  `SELECT id, toUnixTimestamp64Milli(ts) AS ts_ms, type, severity, lat, speed, clip_url, clip_duration_s,
          toUnixTimestamp64Milli(clip_start_ts) AS clip_start_ms, detail
     FROM device_events FINAL WHERE vehicle_id = {v:UUID} ORDER BY ts, id`, { v: vehicleId })

describe('events from a device', () => {
  it('are stored in ClickHouse and raise a live alert each, with the severity of the event or of its type', async () => {
    const cam = await dashcam('Cam van')
    const device = await connectDevice(platform.mqttUrl, cam)
    const t0 = Date.now() - 60_000
    await device.publishAsync(cam.eventsTopic, JSON.stringify({
      ts: new Date(t0).toISOString(), type: 'collision', lat: 52.52, lon: 13.405, speed: 48.5, eventId: 'evt-1',
      clip: { url: 'https://clips.example.com/evt-1.mp4', durationS: 20, startTs: t0 - 10_000 }, detail: 'rear impact',
    }), { qos: 1 })
    await device.publishAsync(cam.eventsTopic, JSON.stringify([
      { ts: t0 + 1000, type: 'harsh_braking' },
      { ts: t0 + 2000, type: 'other', severity: 'warning' },
    ]), { qos: 1 })
    await device.endAsync()

    const rows = await waitFor(async () => {
      const r = await rowsOf(cam.vehicleId)
      return r.length === 3 ? r : undefined
    }, { what: 'three events in ClickHouse' })
    expect(rows[0]).toMatchObject({
      id: `${cam.deviceId}:evt-1:collision`, type: 'collision', severity: 'critical', lat: 52.52, speed: 48.5,
      clip_url: 'https://clips.example.com/evt-1.mp4', clip_duration_s: 20, detail: 'rear impact',
    })
    expect(Number(rows[0]!.ts_ms)).toBe(t0)
    expect(Number(rows[0]!.clip_start_ms)).toBe(t0 - 10_000)
    expect(rows[1]).toMatchObject({ id: `${cam.deviceId}:${t0 + 1000}:harsh_braking`, severity: 'warning', lat: null, clip_url: null, clip_start_ms: null })
    expect(rows[2]).toMatchObject({ type: 'other', severity: 'warning' })

    const mine = await waitFor(() => {
      const a = alerts.filter((x) => x.vehicleId === cam.vehicleId)
      return a.length >= 3 ? a : undefined
    }, { what: 'three live alerts' })
    expect(mine.map((a) => a.id).sort()).toEqual(rows.map((r) => r.id).sort())
    expect(mine.find((a) => a.id === rows[0]!.id)).toEqual({
      id: rows[0]!.id, orgId: expect.any(String), vehicleId: cam.vehicleId, kind: 'device_event', severity: 'critical', ts: t0,
      lat: 52.52, lon: 13.405, message: 'Dashcam: collision (clip) - rear impact', geofenceId: null, driverId: null,
    })
    expect(mine.find((a) => a.id === rows[1]!.id)).toMatchObject({ severity: 'warning', message: 'Dashcam: harsh braking', lat: null, lon: null })
  })

  it('stores a resent event once and raises its alert again under the same id', async () => {
    const cam = await dashcam('Resend van')
    const device = await connectDevice(platform.mqttUrl, cam)
    const event = JSON.stringify({ ts: Date.now() - 5000, type: 'panic', eventId: 'p-7' })
    await device.publishAsync(cam.eventsTopic, event, { qos: 1 })
    await device.publishAsync(cam.eventsTopic, event, { qos: 1 })
    await device.endAsync()
    const raised = await waitFor(() => {
      const a = alerts.filter((x) => x.vehicleId === cam.vehicleId)
      return a.length === 2 ? a : undefined
    }, { what: 'two alerts' })
    expect(new Set(raised.map((a) => a.id))).toEqual(new Set([`${cam.deviceId}:p-7:panic`]))
    expect(raised[0]!.severity).toBe('critical')
    expect(await rowsOf(cam.vehicleId)).toHaveLength(1)

    // A critical event opens one ticket for support by itself, however often its alert came.
    const tickets = await waitFor(async () => {
      const res = await api(platform.apiUrl, 'GET', `/api/v1/tickets?vehicleId=${cam.vehicleId}`, { token })
      return res.body.items?.length ? res.body.items : undefined
    }, { what: 'the automatic ticket' })
    await new Promise((r) => setTimeout(r, 500))
    const again = await api(platform.apiUrl, 'GET', `/api/v1/tickets?vehicleId=${cam.vehicleId}`, { token })
    expect(again.body.items).toHaveLength(1)
    expect(tickets[0]).toMatchObject({ category: 'accident', priority: 'urgent', status: 'open', vehicleId: cam.vehicleId })
  })

  it('sends bad events to the DLQ with their reason, keeps the good ones of a batch, and acknowledges the device', async () => {
    const cam = await dashcam('Sloppy van')
    const device = await connectDevice(platform.mqttUrl, cam)
    const now = Date.now()
    const send = (payload: string) => device.publishAsync(cam.eventsTopic, payload, { qos: 1 })
    await send(JSON.stringify([
      { ts: now, type: 'fatigue' },
      { ts: now, type: 'explosion' },
      { ts: now, type: 'tamper', lat: 10 },
      { ts: now, type: 'distraction', clip: { url: 'javascript:alert(1)' } },
      { ts: now, type: 'other', driver: 'me' },
    ]))
    await send('{not json')
    await send(JSON.stringify(Array.from({ length: 101 }, (_, i) => ({ ts: now + i, type: 'other' }))))
    await send(JSON.stringify({ ts: '1990-01-01T00:00:00Z', type: 'other' }))
    await send(JSON.stringify([]))
    expect(device.connected).toBe(true)
    await device.endAsync()

    const records = await waitFor(() => {
      const r = dlq.filter((x) => x.vehicleId === cam.vehicleId)
      return r.length === 8 ? r : undefined
    }, { what: 'eight DLQ records' })
    expect(records.every((r) => r.mqttTopic === cam.eventsTopic && r.deviceId === cam.deviceId)).toBe(true)
    expect(records.map((r) => [r.reason, r.index ?? null])).toEqual([
      ['schema_invalid', 1], ['schema_invalid', 2], ['schema_invalid', 3], ['schema_invalid', 4],
      ['payload_not_json', null], ['too_many_events', null], ['ts_out_of_range', null], ['empty_batch', null],
    ])
    expect(records[0]!.detail).toMatch(/^type/)
    expect(records[1]!.detail).toMatch(/lat and lon/)
    expect(records[3]!.detail).toMatch(/driver|additional|property/i)
    await waitFor(async () => ((await rowsOf(cam.vehicleId)).length === 1) || undefined, { what: 'the good event stored' })
    expect((await rowsOf(cam.vehicleId))[0]!.type).toBe('fatigue')
  })
})

describe('acknowledgement', () => {
  it('sends the PUBACK of a QoS 1 event only once the bus accepted it, and none when the bus refuses it', async () => {
    const cam = await dashcam('Gated van')
    const bus = platform.bus
    const publish = bus.publish.bind(bus)
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    let refuse = false
    bus.publish = async (topic: string, messages: BusMessage[]) => {
      if (topic === TOPICS.deviceEvents) {
        if (refuse) throw new Error('bus refused (test)')
        await gate
      }
      return publish(topic, messages)
    }
    try {
      const device = await connectDevice(platform.mqttUrl, cam)
      let acked = false
      const sent = device.publishAsync(cam.eventsTopic, JSON.stringify({ ts: Date.now(), type: 'collision', eventId: 'gated' }), { qos: 1 })
        .then(() => (acked = true))
      await new Promise((r) => setTimeout(r, 500))
      expect(acked).toBe(false)
      release()
      await sent
      expect(acked).toBe(true)

      refuse = true
      const closed = new Promise<void>((r) => device.once('close', () => r()))
      let refusedAck = false
      void device.publishAsync(cam.eventsTopic, JSON.stringify({ ts: Date.now(), type: 'collision', eventId: 'refused' }), { qos: 1 })
        .then(() => (refusedAck = true), () => {})
      await closed
      expect(refusedAck).toBe(false)
      device.end(true)
    } finally {
      bus.publish = publish
    }
    await waitFor(async () => ((await rowsOf(cam.vehicleId)).length === 1) || undefined, { what: 'the accepted event stored' })
    expect((await rowsOf(cam.vehicleId))[0]!.id).toBe(`${cam.deviceId}:gated:collision`)
  })
})
