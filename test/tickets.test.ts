/**
 * Tickets through the REST API: a driver opens one from the app (with links
 * and a photo), support staff list, assign, comment and move it through its
 * states; the assignee and the admins are told; the timeline and the audit log
 * hold every update; a driver sees only their own tickets; a dashcam event
 * opens one automatically, once.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Ticket } from '../schemas/tickets.v1.js'
import { api, login, startTestPlatform, tokenForRole, type TestPlatform } from './helpers/platform.js'

let platform: TestPlatform
let base: string
let admin: string
let dispatcher: string
const agent = { token: '', id: '' }

beforeAll(async () => {
  platform = await startTestPlatform()
  base = platform.apiUrl
  admin = await login(base)
  dispatcher = await tokenForRole(base, admin, 'dispatcher')
  const email = `agent-${randomUUID()}@example.com`
  const created = await api(base, 'POST', '/api/v1/users', { token: admin, body: { email, password: 'support agent password', name: 'Agent', role: 'support_agent' } })
  agent.id = created.body.id
  agent.token = await login(base, email, 'support agent password')
})
afterAll(async () => {
  await platform?.close()
})

/** A driver (approved straight in the database: onboarding is another test's subject) with a login. */
async function newDriver() {
  const d = await api(base, 'POST', '/api/v1/drivers', { token: admin, body: { name: `Driver ${randomUUID().slice(0, 6)}` } })
  await platform.postgres.pool.query(`UPDATE drivers SET state = 'active' WHERE id = $1`, [d.body.id])
  const email = `driver-${randomUUID()}@example.com`
  const account = await api(base, 'POST', `/api/v1/drivers/${d.body.id}/account`, { token: admin, body: { email, password: 'driver app password' } })
  return { id: d.body.id as string, userId: account.body.userId as string, token: await login(base, email, 'driver app password') }
}

async function activeVehicle() {
  const v = await api(base, 'POST', '/api/v1/vehicles', { token: admin, body: { name: `Van ${randomUUID().slice(0, 6)}` } })
  for (const step of ['submit', 'approve', 'activate']) await api(base, 'POST', `/api/v1/vehicles/${v.body.id}/${step}`, { token: admin })
  return v.body.id as string
}

const hours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString()
async function orderOf(driverId: string, vehicleId: string) {
  const stop = (h: number) => ({ address: 'Somewhere 1', lat: 52.5, lon: 13.4, window: { from: hours(h), to: hours(h + 1) } })
  const o = await api(base, 'POST', '/api/v1/orders', {
    token: dispatcher, body: { customerRef: 'T-1', pickup: stop(1), dropoff: stop(2), lineItems: [{ description: 'Box', quantity: 1, unitWeightKg: 1, unitVolumeM3: 0.1, unitValue: 1 }] },
  })
  await api(base, 'POST', `/api/v1/orders/${o.body.id}/assign`, { token: dispatcher, body: { driverId, vehicleId } })
  return o.body.id as string
}

const post = (url: string, token: string, body?: unknown) => api(base, 'POST', url, { token, body })
const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 1])
function photoForm() {
  const form = new FormData()
  form.append('file', new Blob([JPEG]), 'dent.jpg')
  return form
}
const kinds = async (token: string, ticketId: string) =>
  (await api(base, 'GET', '/api/v1/notifications?limit=200', { token })).body.items
    .filter((n: { entity: { id: string } }) => n.entity.id === ticketId).map((n: { kind: string }) => n.kind)

describe('a ticket from the driver app', () => {
  it('is opened with links and a photo, worked by support, and every update is on the timeline, audited and told', async () => {
    const driver = await newDriver()
    const vehicleId = await activeVehicle()
    const orderId = await orderOf(driver.id, vehicleId)
    const opened = await post('/api/v1/me/tickets', driver.token, {
      category: 'vehicle_issue', description: 'Left mirror broken at the depot', vehicleId, orderId, eventRef: 'dashcam-evt-42',
    })
    expect(opened.status, JSON.stringify(opened.body)).toBe(201)
    const ticket = opened.body as Ticket
    expect(ticket).toMatchObject({ status: 'open', priority: 'normal', source: 'driver', driverId: driver.id, openedBy: driver.userId, assigneeId: null, vehicleId, orderId })
    expect(await kinds(admin, ticket.id)).toEqual(['ticket.opened'])

    const photo = await api(base, 'POST', `/api/v1/me/tickets/${ticket.id}/photos`, { token: driver.token, body: photoForm() })
    expect(photo.status, JSON.stringify(photo.body)).toBe(200)
    expect(photo.body.photoIds).toHaveLength(1)
    const file = await fetch(`${base}/api/v1/tickets/${ticket.id}/photos/${photo.body.photoIds[0]}`, { headers: { authorization: `Bearer ${agent.token}` } })
    expect(file.headers.get('content-type')).toBe('image/jpeg')

    const found = await api(base, 'GET', `/api/v1/tickets?q=${encodeURIComponent('mirror broken')}&status=open&vehicleId=${vehicleId}`, { token: agent.token })
    expect(found.body.items.map((t: Ticket) => t.id)).toEqual([ticket.id])

    expect((await post(`/api/v1/tickets/${ticket.id}/assign`, admin, { assigneeId: agent.id })).body.assigneeId).toBe(agent.id)
    expect(await kinds(agent.token, ticket.id)).toEqual(['ticket.assigned'])
    expect((await post(`/api/v1/tickets/${ticket.id}/start`, agent.token)).body.status).toBe('in_progress')
    await post(`/api/v1/tickets/${ticket.id}/comments`, agent.token, { body: 'A new mirror is ordered.' })
    await post(`/api/v1/me/tickets/${ticket.id}/comments`, driver.token, { body: 'Thanks!' })
    expect((await post(`/api/v1/tickets/${ticket.id}/resolve`, agent.token)).body).toMatchObject({ status: 'resolved', resolvedAt: expect.any(String) })
    expect((await post(`/api/v1/tickets/${ticket.id}/close`, agent.token)).body).toMatchObject({ status: 'closed', closedAt: expect.any(String) })
    expect((await post(`/api/v1/tickets/${ticket.id}/reopen`, admin)).body).toMatchObject({ status: 'open', resolvedAt: null, closedAt: null })

    // The driver follows along (newest first): status changes and staff comments, never their own.
    expect(await kinds(driver.token, ticket.id)).toEqual(['ticket.status_changed', 'ticket.status_changed', 'ticket.status_changed', 'ticket.commented', 'ticket.status_changed'])
    expect(await kinds(agent.token, ticket.id)).toContain('ticket.commented')

    const timeline = await api(base, 'GET', `/api/v1/me/tickets/${ticket.id}/timeline`, { token: driver.token })
    expect(timeline.body.items.map((e: { kind: string; toStatus: string | null }) => `${e.kind}:${e.toStatus ?? ''}`)).toEqual([
      'opened:open', 'photo:', 'assigned:', 'status:in_progress', 'comment:', 'comment:', 'status:resolved', 'status:closed', 'status:open',
    ])
    expect(timeline.body.items[4]).toMatchObject({ body: 'A new mirror is ordered.', actorId: agent.id })
    const audit = await api(base, 'GET', `/api/v1/audit?entityType=ticket&entityId=${ticket.id}`, { token: admin })
    expect(audit.body.items.map((a: { action: string }) => a.action).reverse()).toEqual([
      'ticket.open', 'ticket.photo', 'ticket.assign', 'ticket.start', 'ticket.comment', 'ticket.comment', 'ticket.resolve', 'ticket.close', 'ticket.reopen',
    ])
  })

  it('answers a step from the wrong status 409 with the allowed steps', async () => {
    const driver = await newDriver()
    const t = (await post('/api/v1/me/tickets', driver.token, { category: 'app_issue', description: 'App crashes' })).body as Ticket
    const res = await post(`/api/v1/tickets/${t.id}/close`, agent.token)
    expect(res.status).toBe(409)
    expect(res.body).toMatchObject({ code: 'invalid_transition', state: 'open', allowed: ['start', 'resolve'] })
  })

  it('refuses a status, source, driver or unknown field from the app (400), and an assignee who may not work tickets (409)', async () => {
    const driver = await newDriver()
    for (const extra of [{ status: 'closed' }, { source: 'system' }, { driverId: randomUUID() }, { assigneeId: agent.id }, { orgId: randomUUID() }]) {
      const res = await post('/api/v1/me/tickets', driver.token, { category: 'other', description: 'x', ...extra })
      expect(res.status, JSON.stringify(extra)).toBe(400)
    }
    const t = (await post('/api/v1/me/tickets', driver.token, { category: 'other', description: 'x' })).body as Ticket
    expect((await post(`/api/v1/tickets/${t.id}/assign`, admin, { assigneeId: driver.userId })).status).toBe(409)
    expect((await post(`/api/v1/tickets/${t.id}/assign`, admin, { assigneeId: randomUUID() })).status).toBe(404)
  })
})

describe('who may see a ticket', () => {
  it("answers 404 to a driver touching another driver's ticket or order, and to another organization", async () => {
    const [mine, theirs] = [await newDriver(), await newDriver()]
    const t = (await post('/api/v1/me/tickets', mine.token, { category: 'safety', description: 'Brakes feel soft' })).body as Ticket
    expect((await api(base, 'GET', `/api/v1/me/tickets/${t.id}`, { token: theirs.token })).status).toBe(404)
    expect((await api(base, 'GET', `/api/v1/me/tickets/${t.id}/timeline`, { token: theirs.token })).status).toBe(404)
    expect((await post(`/api/v1/me/tickets/${t.id}/comments`, theirs.token, { body: 'mine now' })).status).toBe(404)
    expect((await api(base, 'POST', `/api/v1/me/tickets/${t.id}/photos`, { token: theirs.token, body: photoForm() })).status).toBe(404)
    expect((await api(base, 'GET', '/api/v1/me/tickets', { token: theirs.token })).body.items).toEqual([])
    expect((await api(base, 'GET', '/api/v1/me/tickets', { token: mine.token })).body.items.map((x: Ticket) => x.id)).toEqual([t.id])
    // Nor the staff routes, nor linking another driver's order.
    expect((await api(base, 'GET', `/api/v1/tickets/${t.id}`, { token: theirs.token })).status).toBe(403)
    const orderId = await orderOf(mine.id, await activeVehicle())
    expect((await post('/api/v1/me/tickets', theirs.token, { category: 'delivery_issue', description: 'x', orderId })).status).toBe(404)

    const otherEmail = `other-${randomUUID()}@example.com`
    await api(base, 'POST', '/api/v1/organizations', { token: admin, body: { name: 'Other fleet', admin: { email: otherEmail, password: 'other fleet password' } } })
    const other = await login(base, otherEmail, 'other fleet password')
    expect((await api(base, 'GET', `/api/v1/tickets/${t.id}`, { token: other })).status).toBe(404)
    expect((await post(`/api/v1/tickets/${t.id}/start`, other)).status).toBe(404)
    expect((await post(`/api/v1/tickets/${t.id}/assign`, admin, { assigneeId: (await api(base, 'GET', '/api/v1/users', { token: other })).body.items[0].id })).status).toBe(404)
    expect((await post('/api/v1/tickets', other, { category: 'other', description: 'x', vehicleId: await activeVehicle() })).status).toBe(404)
    expect((await api(base, 'GET', `/api/v1/tickets/${t.id}`, { token: agent.token })).body.status).toBe('open')
  })
})

describe('tickets from dashcam events', () => {
  it('opens one urgent accident ticket per collision event, for the vehicle and its driver, however often the alert comes', async () => {
    const driver = await newDriver()
    const vehicleId = await activeVehicle()
    await post(`/api/v1/vehicles/${vehicleId}/assign-driver`, admin, { driverId: driver.id })
    const orgId = (await platform.postgres.pool.query('SELECT org_id FROM vehicles WHERE id = $1', [vehicleId])).rows[0].org_id as string
    const alert = {
      id: `collision-${randomUUID()}`, orgId, vehicleId, kind: 'device_event' as const, severity: 'critical' as const, ts: Date.now(),
      message: 'Collision detected by the dashcam', driverId: null, lat: 52.52, lon: 13.405,
    }
    const first = await platform.api!.tickets.openTicketFromEvent(alert)
    expect(first.created).toBe(true)
    expect(first.ticket).toMatchObject({ source: 'system', category: 'accident', priority: 'urgent', vehicleId, driverId: driver.id, eventRef: alert.id, openedBy: null })
    const again = await platform.api!.tickets.openTicketFromEvent(alert)
    expect(again).toEqual({ ticket: first.ticket, created: false })
    expect(await kinds(admin, first.ticket.id)).toEqual(['ticket.opened'])
    // The driver sees it among their tickets.
    expect((await api(base, 'GET', `/api/v1/me/tickets/${first.ticket.id}`, { token: driver.token })).status).toBe(200)
    const timeline = await api(base, 'GET', `/api/v1/tickets/${first.ticket.id}/timeline`, { token: agent.token })
    expect(timeline.body.items).toEqual([expect.objectContaining({ kind: 'opened', actorType: 'system', actorId: null })])
  })
})

describe('ticket lists, bulk and export', () => {
  it('sorts by priority across cursor pages, steps and assigns in bulk with a result each, and exports CSV and JSON', async () => {
    const driver = await newDriver()
    const tag = `tag${randomUUID().slice(0, 6)}`
    const made: Ticket[] = []
    for (const priority of ['high', 'low', 'urgent', 'normal']) {
      made.push((await post('/api/v1/me/tickets', driver.token, { category: 'other', description: `${tag} ${priority}`, priority })).body)
    }
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const res: { body: any } = await api(base, 'GET', `/api/v1/tickets?q=${tag}&sort=-priority&limit=3${cursor ? `&cursor=${cursor}` : ''}`, { token: agent.token })
      seen.push(...res.body.items.map((t: Ticket) => t.priority))
      cursor = res.body.nextCursor
    } while (cursor)
    expect(seen).toEqual(['urgent', 'high', 'normal', 'low'])

    const missing = randomUUID()
    const started = await post('/api/v1/tickets/bulk', agent.token, { action: 'start', ids: [made[0]!.id, missing] })
    expect(started.body.results).toEqual([{ id: made[0]!.id, ok: true, state: 'in_progress' }, expect.objectContaining({ id: missing, ok: false, code: 'not_found' })])
    const closed = await post('/api/v1/tickets/bulk', agent.token, { action: 'close', ids: [made[1]!.id] })
    expect(closed.body.results).toEqual([expect.objectContaining({ ok: false, code: 'invalid_transition', state: 'open' })])
    const assigned = await post('/api/v1/tickets/bulk-assign', admin, { ids: made.map((t) => t.id), assigneeId: agent.id })
    expect(assigned.body.results.every((r: { ok: boolean }) => r.ok)).toBe(true)
    const mineOnly = await api(base, 'GET', `/api/v1/tickets?assigneeId=${agent.id}&q=${tag}`, { token: agent.token })
    expect(mineOnly.body.items).toHaveLength(4)

    const csv = await fetch(`${base}/api/v1/tickets/export?q=${tag}&sort=createdAt`, { headers: { authorization: `Bearer ${agent.token}` } })
    const lines = (await csv.text()).trim().split('\r\n')
    expect(lines[0]).toMatch(/^id,status,category,priority,description,/)
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(made.map((t) => t.id))
    const json = await api(base, 'GET', `/api/v1/tickets/export?format=json&q=${tag}&status=in_progress`, { token: agent.token })
    expect(json.body.map((t: Ticket) => t.id)).toEqual([made[0]!.id])
  })
})
