/**
 * Alert rules: their REST API (validated references, audit, tenancy) and the
 * evaluator that turns live alerts (live.alerts.v1) into notifications for the
 * rules they match, once per rule and alert; and the whole chain from a
 * dashcam's MQTT collision to a dispatcher's inbox.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withinHours } from '../api/alerts/alert-rules.match.js'
import { TOPICS, type LiveAlertV1 } from '../schemas/topics.v1.js'
import { api, connectDevice, login, startTestPlatform, tokenForRole, waitFor, type TestPlatform } from './helpers/platform.js'

let platform: TestPlatform
let base: string
let admin: string
let other: string
let orgId: string
let otherOrgId: string
const tokens = { fleet_manager: '', dispatcher: '' }
let dispatcherId: string

beforeAll(async () => {
  platform = await startTestPlatform()
  base = platform.apiUrl
  admin = await login(base)
  for (const role of Object.keys(tokens) as Array<keyof typeof tokens>) tokens[role] = await tokenForRole(base, admin, role)
  const otherEmail = `other-${randomUUID()}@example.com`
  const org = await api(base, 'POST', '/api/v1/organizations', { token: admin, body: { name: 'Other fleet', admin: { email: otherEmail, password: 'other fleet password' } } })
  otherOrgId = org.body.id
  other = await login(base, otherEmail, 'other fleet password')
  const dispatchers = await api(base, 'GET', '/api/v1/users?role=dispatcher', { token: admin })
  dispatcherId = dispatchers.body.items[0].id
  orgId = (await platform.postgres.pool.query('SELECT org_id FROM users WHERE id = $1', [dispatcherId])).rows[0].org_id
})
afterAll(async () => {
  await platform?.close()
})

const BERLIN_WORKDAY = { from: '08:00', to: '18:00', timeZone: 'Europe/Berlin' }
const geofence = async (token = admin) =>
  (await api(base, 'POST', '/api/v1/geofences', { token, body: { name: `Site ${randomUUID().slice(0, 6)}`, kind: 'circle', center: { lat: 52.5, lon: 13.4 }, radiusM: 300 } })).body.id as string
const createRule = (body: Record<string, unknown>, token = admin) => api(base, 'POST', '/api/v1/alert-rules', { token, body })

describe('alert rules over REST', () => {
  it('creates, reads, lists, changes and deletes a rule, audited, within the organization', async () => {
    const g = await geofence()
    const created = await createRule({
      name: 'Night exits', kind: 'geofence_exit', geofenceId: g, outsideHours: BERLIN_WORKDAY, recipient: { role: 'fleet_manager' },
    }, tokens.fleet_manager)
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({
      name: 'Night exits', kind: 'geofence_exit', geofenceId: g, outsideHours: BERLIN_WORKDAY, minSeverity: 'info',
      recipient: { role: 'fleet_manager' }, active: true,
    })
    const id = created.body.id
    expect((await api(base, 'GET', `/api/v1/alert-rules/${id}`, { token: tokens.dispatcher })).body).toEqual(created.body)
    const changed = await api(base, 'PATCH', `/api/v1/alert-rules/${id}`, { token: admin, body: { recipient: { userId: dispatcherId }, minSeverity: 'warning', outsideHours: null } })
    expect(changed.body).toMatchObject({ recipient: { userId: dispatcherId }, minSeverity: 'warning', outsideHours: null, geofenceId: g })
    const off = await api(base, 'PATCH', `/api/v1/alert-rules/${id}`, { token: admin, body: { active: false } })
    expect(off.body.active).toBe(false)
    const inactive = await api(base, 'GET', '/api/v1/alert-rules?active=false&kind=geofence_exit', { token: admin })
    expect(inactive.body.items.map((r: { id: string }) => r.id)).toContain(id)
    expect((await api(base, 'GET', '/api/v1/alert-rules?active=true&kind=geofence_exit', { token: admin })).body.items.map((r: { id: string }) => r.id)).not.toContain(id)
    expect((await api(base, 'GET', '/api/v1/alert-rules', { token: other })).body.items).toEqual([])
    for (const [method, body] of [['GET', undefined], ['PATCH', { active: true }], ['DELETE', undefined]] as const) {
      expect((await api(base, method, `/api/v1/alert-rules/${id}`, { token: other, body })).status, method).toBe(404)
    }
    // A geofence a rule points at stays until the rule goes.
    expect((await api(base, 'DELETE', `/api/v1/geofences/${g}`, { token: admin })).status).toBe(409)
    expect((await api(base, 'DELETE', `/api/v1/alert-rules/${id}`, { token: tokens.dispatcher })).status).toBe(403)
    expect((await api(base, 'DELETE', `/api/v1/alert-rules/${id}`, { token: admin })).status).toBe(204)
    expect((await api(base, 'GET', `/api/v1/alert-rules/${id}`, { token: admin })).status).toBe(404)
    expect((await api(base, 'DELETE', `/api/v1/geofences/${g}`, { token: admin })).status).toBe(204)
    const { rows } = await platform.postgres.pool.query(
      `SELECT action FROM audit_log WHERE entity_type = 'alert_rule' AND entity_id = $1 ORDER BY id`, [id])
    expect(rows.map((r) => r.action)).toEqual(['alert_rule.create', 'alert_rule.update', 'alert_rule.update', 'alert_rule.delete'])
  })

  it("refuses a made-up role, kind or time zone (400), and another organization's user or geofence (404)", async () => {
    const theirGeofence = await geofence(other)
    const theirUser = (await api(base, 'GET', '/api/v1/users', { token: other })).body.items[0].id
    const ok = { name: 'Checked', kind: 'device_event', recipient: { role: 'dispatcher' } }
    for (const body of [
      { ...ok, recipient: { role: 'boss' } },
      { ...ok, recipient: { role: 'dispatcher', userId: dispatcherId } },
      { ...ok, recipient: {} },
      { ...ok, kind: 'meteor' },
      { ...ok, outsideHours: { from: '08:00', to: '18:00', timeZone: 'Mars/Olympus' } },
      { ...ok, outsideHours: { from: '8:00', to: '18:00', timeZone: 'UTC' } },
      { ...ok, minSeverity: 'fatal' },
      { ...ok, orgId: otherOrgId },
      // Roles that may not see vehicle alerts (no live:read) cannot receive them through a rule either.
      { ...ok, recipient: { role: 'driver' } },
      { ...ok, recipient: { role: 'auditor' } },
      { ...ok, recipient: { role: 'support_agent' } },
    ]) {
      expect((await createRule(body)).status, JSON.stringify(body)).toBe(400)
    }
    expect((await createRule({ ...ok, recipient: { userId: theirUser } })).status).toBe(404)
    expect((await createRule({ ...ok, geofenceId: theirGeofence })).status).toBe(404)
    expect((await createRule({ ...ok, recipient: { userId: dispatcherId }, outsideHours: { from: '22:00', to: '06:00', timeZone: 'UTC' }, active: false })).status).toBe(201)
  })
})

describe('outside hours', () => {
  it('is the complement of [from, to) in local time, across midnight too, and every time for an empty window', () => {
    const at = (iso: string) => Date.parse(iso)
    // 2026-01-15: Berlin is UTC+1.
    expect(withinHours(at('2026-01-15T07:00:00Z'), BERLIN_WORKDAY)).toBe(true)
    expect(withinHours(at('2026-01-15T06:59:00Z'), BERLIN_WORKDAY)).toBe(false)
    expect(withinHours(at('2026-01-15T17:00:00Z'), BERLIN_WORKDAY)).toBe(false)
    // 2026-07-15: summer time, UTC+2.
    expect(withinHours(at('2026-07-15T06:30:00Z'), BERLIN_WORKDAY)).toBe(true)
    const night = { from: '22:00', to: '06:00', timeZone: 'UTC' }
    expect(withinHours(at('2026-01-15T23:30:00Z'), night)).toBe(true)
    expect(withinHours(at('2026-01-15T05:59:00Z'), night)).toBe(true)
    expect(withinHours(at('2026-01-15T12:00:00Z'), night)).toBe(false)
    expect(withinHours(at('2026-01-15T12:00:00Z'), { from: '09:00', to: '09:00', timeZone: 'UTC' })).toBe(false)
  })
})

describe('the alert-rule evaluator', () => {
  const inbox = async (token: string, kind: string) =>
    (await api(base, 'GET', '/api/v1/notifications?limit=200', { token })).body.items.filter((n: { kind: string }) => n.kind === kind)

  it('notifies only for matching rules, once per rule and alert, whatever replays', async () => {
    const vehicle = (await api(base, 'POST', '/api/v1/vehicles', { token: admin, body: { name: 'Night rider' } })).body.id as string
    const site = await geofence()
    const elsewhere = await geofence()
    await createRule({ name: 'Site left at night', kind: 'geofence_exit', geofenceId: site, outsideHours: BERLIN_WORKDAY, recipient: { role: 'fleet_manager' } })
    await createRule({ name: 'Collisions', kind: 'device_event', minSeverity: 'critical', recipient: { userId: dispatcherId } })
    await createRule({ name: 'Off', kind: 'overspeed', recipient: { role: 'fleet_manager' }, active: false })

    const alert = (over: Partial<LiveAlertV1>): LiveAlertV1 => ({
      id: `test:${randomUUID()}`, orgId, vehicleId: vehicle, kind: 'geofence_exit', severity: 'info', ts: Date.parse('2026-01-15T21:30:00Z'),
      lat: 52.5, lon: 13.4, message: 'Left Site', geofenceId: site, driverId: null, ...over,
    })
    const nightExit = alert({ id: 'test:night-exit' })
    const sent = [
      nightExit,
      alert({ ts: Date.parse('2026-01-15T11:00:00Z') }), // inside working hours
      alert({ geofenceId: elsewhere }), // another geofence
      alert({ kind: 'device_event', severity: 'critical', message: 'Dashcam: collision (clip)', geofenceId: null, id: 'test:collision' }),
      alert({ kind: 'device_event', severity: 'warning', message: 'Dashcam: harsh braking', geofenceId: null }), // below critical
      nightExit, // a replay
      alert({ kind: 'overspeed', geofenceId: null }), // the rule is off
      alert({ orgId: otherOrgId }), // another organization's alert: our rules never see it
    ]
    // One vehicle, one key: the bus keeps this order, so once the last is seen the others were evaluated.
    const sentinel = alert({ kind: 'device_event', severity: 'critical', geofenceId: null, id: 'test:sentinel', message: 'last' })
    await platform.bus.publish(TOPICS.liveAlerts, [...sent, sentinel].map((a) => ({ key: a.vehicleId, value: Buffer.from(JSON.stringify(a)) })))

    const collisions = await waitFor(async () => {
      const n = await inbox(tokens.dispatcher, 'alert.device_event')
      return n.length >= 2 ? n : undefined
    }, { what: 'the dispatcher notified of the collision and the sentinel' })
    expect(collisions.map((n: { body: string }) => n.body.split('\n')[0]).sort()).toEqual(['Dashcam: collision (clip)', 'last'])
    expect(collisions[0]).toMatchObject({ title: 'Device event: Night rider', entity: { type: 'vehicle', id: vehicle } })

    const exits = await inbox(tokens.fleet_manager, 'alert.geofence_exit')
    expect(exits).toHaveLength(1)
    expect(exits[0]).toMatchObject({ title: 'Geofence left: Night rider', entity: { type: 'vehicle', id: vehicle } })
    expect(exits[0].body).toMatch(/^Left Site\ninfo at 2026-01-15T21:30:00.000Z \(rule "Site left at night"\)$/)
    expect(await inbox(tokens.fleet_manager, 'alert.overspeed')).toEqual([])
    expect(await inbox(admin, 'alert.geofence_exit')).toEqual([])
    const firings = await platform.postgres.pool.query(`SELECT alert_id FROM alert_rule_firings WHERE alert_id LIKE 'test:%' ORDER BY alert_id`)
    expect(firings.rows.map((r) => r.alert_id)).toEqual(['test:collision', 'test:night-exit', 'test:sentinel'])
  })

  it("tells the dispatcher of a dashcam's collision sent over MQTT, through the stream", async () => {
    await createRule({ name: 'Dashcam events', kind: 'device_event', recipient: { role: 'dispatcher' } })
    const v = (await api(base, 'POST', '/api/v1/vehicles', { token: admin, body: { name: 'Crash van' } })).body.id as string
    const d = (await api(base, 'POST', `/api/v1/vehicles/${v}/devices`, { token: admin, body: { kind: 'dashcam' } })).body
    const device = await connectDevice(platform.mqttUrl, { deviceId: d.id, secret: d.secret })
    await device.publishAsync(`devices/${d.id}/events`, JSON.stringify({ ts: Date.now(), type: 'collision', clip: { url: 'https://clips.example.com/c.mp4' } }), { qos: 1 })
    await device.endAsync()
    const told = await waitFor(async () => {
      const n = (await inbox(tokens.dispatcher, 'alert.device_event')).filter((x: { entity: { id: string } }) => x.entity.id === v)
      return n.length ? n : undefined
    }, { what: "the dispatcher's notification" })
    expect(told[0]).toMatchObject({ title: 'Device event: Crash van' })
    expect(told[0].body).toMatch(/^Dashcam: collision \(clip\)\ncritical at /)
  })
})
