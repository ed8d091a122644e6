/**
 * The vehicle onboarding workflow through the REST API: every step and its
 * refusals (wrong state, wrong role, another organization), concurrent steps,
 * updates, the vehicle's timeline, lists (filter, search, sort, pages) and
 * bulk steps with a result per vehicle.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, login, startTestPlatform, tokenForRole, type TestPlatform } from './helpers/platform.js'

let platform: TestPlatform
let base: string
let admin: string
const tokens = { fleet_manager: '', dispatcher: '' }

beforeAll(async () => {
  platform = await startTestPlatform()
  base = platform.apiUrl
  admin = await login(base)
  for (const role of ['fleet_manager', 'dispatcher'] as const) tokens[role] = await tokenForRole(base, admin, role)
})
afterAll(async () => {
  await platform?.close()
})

const create = async (body: Record<string, unknown> = {}, token = admin) =>
  (await api(base, 'POST', '/api/v1/vehicles', { token, body: { name: `Van ${randomUUID().slice(0, 8)}`, ...body } })).body as { id: string; state: string }
const step = (id: string, name: string, token = admin, body?: unknown) => api(base, 'POST', `/api/v1/vehicles/${id}/${name}`, { token, body })

describe('vehicle workflow', () => {
  it('walks draft -> in_review -> rejected -> in_review -> approved -> active <-> inactive -> retired, audited at every step', async () => {
    const v = await create({ plate: 'OB-1' }, tokens.fleet_manager)
    expect(v.state).toBe('draft')
    expect((await step(v.id, 'submit', tokens.fleet_manager)).body.state).toBe('in_review')
    const rejected = await step(v.id, 'reject', admin, { reason: 'registration papers missing' })
    expect(rejected.body).toMatchObject({ state: 'rejected', rejectReason: 'registration papers missing' })
    expect((await api(base, 'PATCH', `/api/v1/vehicles/${v.id}`, { token: tokens.fleet_manager, body: { vin: '1HGCM82633A004352', make: 'MAN', year: 2021 } })).status).toBe(200)
    expect((await step(v.id, 'submit', tokens.fleet_manager)).body).toMatchObject({ state: 'in_review', rejectReason: null })
    expect((await step(v.id, 'approve')).body.state).toBe('approved')
    const device = await api(base, 'POST', `/api/v1/vehicles/${v.id}/devices`, { token: admin, body: { kind: 'gps' } })
    expect(device.status).toBe(201)
    expect((await step(v.id, 'activate', tokens.fleet_manager)).body.state).toBe('active')
    expect((await step(v.id, 'deactivate', tokens.fleet_manager)).body.state).toBe('inactive')
    expect((await step(v.id, 'activate', tokens.fleet_manager)).body.state).toBe('active')
    expect((await step(v.id, 'deactivate', tokens.fleet_manager)).body.state).toBe('inactive')
    expect((await step(v.id, 'retire', tokens.fleet_manager)).body.state).toBe('retired')
    // History does not take new devices.
    expect((await api(base, 'POST', `/api/v1/vehicles/${v.id}/devices`, { token: admin, body: { kind: 'gps' } })).status).toBe(409)
    const log = await api(base, 'GET', `/api/v1/vehicles/${v.id}/log`, { token: tokens.fleet_manager })
    expect(log.body.items.map((e: { action: string }) => e.action).reverse()).toEqual([
      'vehicle.create', 'vehicle.submit', 'vehicle.reject', 'vehicle.update', 'vehicle.submit', 'vehicle.approve', 'device.provision',
      'vehicle.activate', 'vehicle.deactivate', 'vehicle.activate', 'vehicle.deactivate', 'vehicle.retire',
    ])
    const reject = log.body.items.find((e: { action: string }) => e.action === 'vehicle.reject')
    expect(reject.before.state).toBe('in_review')
    expect(reject.after).toMatchObject({ state: 'rejected', rejectReason: 'registration papers missing' })
  })

  it('answers a step from the wrong state 409 with the state and the allowed steps, changing nothing', async () => {
    const v = await create()
    const res = await step(v.id, 'activate')
    expect(res.status).toBe(409)
    expect(res.body).toMatchObject({ code: 'invalid_transition', state: 'draft', allowed: ['submit', 'retire'] })
    expect((await api(base, 'GET', `/api/v1/vehicles/${v.id}`, { token: admin })).body.state).toBe('draft')
  })

  it('refuses steps to roles without their permission (403) and to another organization (404)', async () => {
    const v = await create()
    await step(v.id, 'submit')
    expect((await step(v.id, 'approve', tokens.fleet_manager)).status).toBe(403)
    expect((await step(v.id, 'reject', tokens.fleet_manager, { reason: 'no' })).status).toBe(403)
    expect((await step(v.id, 'deactivate', tokens.dispatcher)).status).toBe(403)
    const otherEmail = `other-${randomUUID()}@example.com`
    await api(base, 'POST', '/api/v1/organizations', { token: admin, body: { name: 'Other fleet', admin: { email: otherEmail, password: 'other fleet password' } } })
    const other = await login(base, otherEmail, 'other fleet password')
    expect((await step(v.id, 'approve', other)).status).toBe(404)
    expect((await api(base, 'PATCH', `/api/v1/vehicles/${v.id}`, { token: other, body: { name: 'stolen' } })).status).toBe(404)
    expect((await api(base, 'GET', `/api/v1/vehicles/${v.id}/log`, { token: other })).status).toBe(404)
    expect((await api(base, 'GET', `/api/v1/vehicles/${v.id}`, { token: admin })).body.state).toBe('in_review')
  })

  it('lets exactly one of two concurrent steps from one state succeed', async () => {
    for (let i = 0; i < 3; i++) {
      const v = await create()
      await step(v.id, 'submit')
      const results = await Promise.all([step(v.id, 'approve'), step(v.id, 'reject', admin, { reason: 'race' })])
      expect(results.map((r) => r.status).sort()).toEqual([200, 409])
    }
  })

  it('refuses a state, id or unknown field in an update (400), and any change to a retired vehicle (409)', async () => {
    const v = await create()
    for (const body of [{ state: 'active' }, { id: randomUUID() }, { orgId: randomUUID() }, { rejectReason: 'x' }, {}]) {
      expect((await api(base, 'PATCH', `/api/v1/vehicles/${v.id}`, { token: admin, body })).status, JSON.stringify(body)).toBe(400)
    }
    await step(v.id, 'retire')
    const res = await api(base, 'PATCH', `/api/v1/vehicles/${v.id}`, { token: admin, body: { name: 'new name' } })
    expect(res.status).toBe(409)
    expect(res.body.state).toBe('retired')
  })
})

describe('who acts next is told', () => {
  it('notifies the approvers of a submission and the fleet managers of the verdict; a refused step tells nobody', async () => {
    const inbox = async (token: string, kind: string, id: string) =>
      (await api(base, 'GET', '/api/v1/notifications?limit=200', { token })).body.items
        .filter((n: { kind: string; entity: { id: string } }) => n.kind === kind && n.entity.id === id)
    const v = await create({ name: 'Told van' }, tokens.fleet_manager)
    await step(v.id, 'submit', tokens.fleet_manager)
    const [submitted] = await inbox(admin, 'vehicle.submitted', v.id)
    expect(submitted).toMatchObject({ title: 'Vehicle Told van awaits review', read: false })
    expect(await inbox(tokens.dispatcher, 'vehicle.submitted', v.id)).toEqual([])
    await step(v.id, 'reject', admin, { reason: 'no insurance' })
    const [rejected] = await inbox(tokens.fleet_manager, 'vehicle.rejected', v.id)
    expect(rejected.body).toBe('Reason: no insurance')
    expect((await step(v.id, 'approve')).status).toBe(409)
    expect(await inbox(tokens.fleet_manager, 'vehicle.approved', v.id)).toEqual([])
  })
})

describe('vehicle lists', () => {
  it('filters by state, searches name, plate and VIN, and sorts by name across cursor pages', async () => {
    const tag = randomUUID().slice(0, 6)
    const names = ['delta', 'alpha', 'charlie', 'bravo', 'echo'].map((n) => `${tag}-${n}`)
    const ids: string[] = []
    for (const name of names) ids.push((await create({ name, plate: `${tag.toUpperCase()}-${name.length}` })).id)
    await step(ids[0]!, 'submit')

    const inReview = await api(base, 'GET', `/api/v1/vehicles?state=in_review&q=${tag}`, { token: admin })
    expect(inReview.body.items.map((v: { name: string }) => v.name)).toEqual([names[0]])
    const byPlate = await api(base, 'GET', `/api/v1/vehicles?q=${tag.toUpperCase()}`, { token: admin })
    expect(byPlate.body.items).toHaveLength(5)
    const wildcard = await api(base, 'GET', `/api/v1/vehicles?q=${encodeURIComponent('%')}`, { token: admin })
    expect(wildcard.body.items).toEqual([])

    const seen: string[] = []
    let cursor: string | null = null
    do {
      const res: { status: number; body: any } = await api(base, 'GET', `/api/v1/vehicles?q=${tag}&sort=name&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: admin })
      expect(res.status).toBe(200)
      seen.push(...res.body.items.map((v: { name: string }) => v.name))
      cursor = res.body.nextCursor
    } while (cursor)
    expect(seen).toEqual([...names].sort())
  })
})

describe('bulk steps', () => {
  it('answers a result per vehicle: done ones, refused ones with their state, unknown ones as not found', async () => {
    const a = await create()
    const b = await create()
    const c = await create()
    await step(a.id, 'submit')
    await step(b.id, 'submit')
    const missing = randomUUID()
    const res = await api(base, 'POST', '/api/v1/vehicles/bulk', { token: admin, body: { action: 'approve', ids: [a.id, b.id, c.id, missing] } })
    expect(res.status).toBe(200)
    expect(res.body.results).toEqual([
      { id: a.id, ok: true, state: 'approved' },
      { id: b.id, ok: true, state: 'approved' },
      expect.objectContaining({ id: c.id, ok: false, code: 'invalid_transition', state: 'draft' }),
      expect.objectContaining({ id: missing, ok: false, code: 'not_found' }),
    ])
    expect((await api(base, 'POST', '/api/v1/vehicles/bulk', { token: tokens.fleet_manager, body: { action: 'approve', ids: [c.id] } })).status).toBe(403)
  })
})
