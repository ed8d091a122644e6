/**
 * What configures the stream's analytics, through the REST API: geofences
 * (polygon and circle, their validation, soft delete), a vehicle's destination
 * and the organization's analytics settings; each audited, each scoped to the
 * caller's organization.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, login, provisionVehicle, startTestPlatform, tokenForRole, type TestPlatform } from './helpers/platform.js'

let platform: TestPlatform
let base: string
let admin: string
let other: string
const tokens = { fleet_manager: '', dispatcher: '', analyst: '' }

beforeAll(async () => {
  platform = await startTestPlatform()
  base = platform.apiUrl
  admin = await login(base)
  for (const role of Object.keys(tokens) as Array<keyof typeof tokens>) tokens[role] = await tokenForRole(base, admin, role)
  const otherEmail = `other-${randomUUID()}@example.com`
  await api(base, 'POST', '/api/v1/organizations', { token: admin, body: { name: 'Other fleet', admin: { email: otherEmail, password: 'other fleet password' } } })
  other = await login(base, otherEmail, 'other fleet password')
})
afterAll(async () => {
  await platform?.close()
})

/** A square of `d` degrees with its south-west corner at (lon, lat), closed. */
const square = (lon: number, lat: number, d: number) => [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
const create = (body: Record<string, unknown>, token = admin) => api(base, 'POST', '/api/v1/geofences', { token, body })
const stored = async (id: string) => (await platform.postgres.pool.query('SELECT * FROM geofences WHERE id = $1', [id])).rows[0]

describe('geofences', () => {
  it('creates a polygon and a circle, stores them in the columns the stream reads, and reads them back', async () => {
    const depot = await create({ name: 'Depot', kind: 'polygon', polygon: [square(13.4, 52.5, 0.01)], speedLimitKmh: 30, dwellAlertS: 600 }, tokens.fleet_manager)
    expect(depot.status).toBe(201)
    expect(depot.body).toMatchObject({
      name: 'Depot', kind: 'polygon', polygon: [square(13.4, 52.5, 0.01)], center: null, radiusM: null, speedLimitKmh: 30, dwellAlertS: 600,
    })
    const yard = await create({ name: 'Yard', kind: 'circle', center: { lat: 48.1, lon: 11.5 }, radiusM: 250 })
    expect(yard.status).toBe(201)
    expect(yard.body).toMatchObject({ kind: 'circle', polygon: null, center: { lat: 48.1, lon: 11.5 }, radiusM: 250, speedLimitKmh: null, dwellAlertS: null })

    const row = await stored(yard.body.id)
    expect(row).toMatchObject({ kind: 'circle', polygon: null, center_lat: 48.1, center_lon: 11.5, radius_m: 250, deleted_at: null })
    expect((await stored(depot.body.id)).polygon).toEqual([square(13.4, 52.5, 0.01)])
    expect((await api(base, 'GET', `/api/v1/geofences/${yard.body.id}`, { token: tokens.dispatcher })).body).toEqual(yard.body)
    expect((await create({ name: 'No', kind: 'circle', center: { lat: 0, lon: 0 }, radiusM: 100 }, tokens.dispatcher)).status).toBe(403)
  })

  it('accepts a polygon with a hole, and refuses open, crossing, degenerate, too large and antimeridian polygons with the reason', async () => {
    const outer = square(10, 50, 0.1)
    const hole = square(10.02, 50.02, 0.02).reverse()
    expect((await create({ name: 'Ring', kind: 'polygon', polygon: [outer, hole] })).status).toBe(201)

    const bad: Array<[string, unknown, RegExp]> = [
      ['open ring', [[[10, 50], [10.1, 50], [10.1, 50.1], [10, 50.1]]], /not closed/],
      ['bow tie', [[[10, 50], [10.1, 50.1], [10.1, 50], [10, 50.1], [10, 50]]], /crosses itself/],
      ['two corners', [[[10, 50], [10.1, 50], [10, 50], [10.1, 50], [10, 50]]], /3 distinct corners/],
      ['a sliver', [[[10, 50], [10.00001, 50], [10.00001, 50.00001], [10, 50.00001], [10, 50]]], /at least 100 m²/],
      ['a country', [square(0, 40, 5)], /at most 50000 km²/],
      ['across the antimeridian', [[[179.9, 0], [-179.9, 0], [-179.9, 0.1], [179.9, 0.1], [179.9, 0]]], /antimeridian/],
      ['hole outside', [outer, square(11, 51, 0.01)], /inside the outer ring/],
      ['hole crossing the outer ring', [outer, square(10.05, 50.05, 0.1)], /touches or crosses/],
      ['hole in a hole', [outer, square(10.01, 50.01, 0.05), square(10.02, 50.02, 0.01)], /inside another hole/],
      ['lat out of range', [[[10, 95], [10.1, 50], [10.1, 50.1], [10, 95]]], /./],
      ['three points', [[[10, 50], [10.1, 50], [10, 50]]], /./],
    ]
    for (const [what, polygon, reason] of bad) {
      const res = await create({ name: what, kind: 'polygon', polygon })
      expect(res.status, what).toBe(400)
      expect(res.body.code, what).toBe('validation_failed')
      expect(JSON.stringify(res.body), what).toMatch(reason)
    }
    for (const body of [
      { name: 'Mixed', kind: 'circle', center: { lat: 1, lon: 1 }, radiusM: 100, polygon: [outer] },
      { name: 'No radius', kind: 'circle', center: { lat: 1, lon: 1 } },
      { name: 'Tiny', kind: 'circle', center: { lat: 1, lon: 1 }, radiusM: 5 },
      { name: 'Huge', kind: 'circle', center: { lat: 1, lon: 1 }, radiusM: 100_001 },
      { name: 'Extra', kind: 'circle', center: { lat: 1, lon: 1 }, radiusM: 100, orgId: randomUUID() },
    ]) {
      expect((await create(body)).status, body.name).toBe(400)
    }
  })

  it('changes settings, replaces the geometry, and audits before and after', async () => {
    const g = (await create({ name: 'Change me', kind: 'circle', center: { lat: 1, lon: 1 }, radiusM: 100, speedLimitKmh: 50 })).body
    const renamed = await api(base, 'PATCH', `/api/v1/geofences/${g.id}`, { token: admin, body: { name: 'Changed', speedLimitKmh: null } })
    expect(renamed.body).toMatchObject({ name: 'Changed', kind: 'circle', radiusM: 100, speedLimitKmh: null })
    const reshaped = await api(base, 'PATCH', `/api/v1/geofences/${g.id}`, { token: admin, body: { kind: 'polygon', polygon: [square(1, 1, 0.01)] } })
    expect(reshaped.body).toMatchObject({ name: 'Changed', kind: 'polygon', center: null, radiusM: null, polygon: [square(1, 1, 0.01)] })
    expect(Date.parse(reshaped.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(renamed.body.updatedAt))
    // A geometry needs all of its fields; a partial one is refused.
    expect((await api(base, 'PATCH', `/api/v1/geofences/${g.id}`, { token: admin, body: { kind: 'circle', radiusM: 100 } })).status).toBe(400)
    expect((await api(base, 'PATCH', `/api/v1/geofences/${g.id}`, { token: admin, body: {} })).status).toBe(400)
    const { rows } = await platform.postgres.pool.query(
      `SELECT action, before, after FROM audit_log WHERE entity_type = 'geofence' AND entity_id = $1 ORDER BY id`, [g.id])
    expect(rows.map((r) => r.action)).toEqual(['geofence.create', 'geofence.update', 'geofence.update'])
    expect(rows[2].before).toMatchObject({ kind: 'circle' })
    expect(rows[2].after).toMatchObject({ kind: 'polygon' })
  })

  it('deletes softly: gone from the API, kept with deleted_at and a newer updated_at for the stream', async () => {
    const g = (await create({ name: 'Short-lived', kind: 'circle', center: { lat: 2, lon: 2 }, radiusM: 100 })).body
    const before = await stored(g.id)
    const res = await api(base, 'DELETE', `/api/v1/geofences/${g.id}`, { token: tokens.fleet_manager })
    expect(res.status).toBe(204)
    const after = await stored(g.id)
    expect(after.deleted_at).not.toBeNull()
    expect(after.updated_at.getTime()).toBeGreaterThan(before.updated_at.getTime())
    expect((await api(base, 'GET', `/api/v1/geofences/${g.id}`, { token: admin })).status).toBe(404)
    expect((await api(base, 'PATCH', `/api/v1/geofences/${g.id}`, { token: admin, body: { name: 'back' } })).status).toBe(404)
    expect((await api(base, 'DELETE', `/api/v1/geofences/${g.id}`, { token: admin })).status).toBe(404)
    const list = await api(base, 'GET', '/api/v1/geofences?q=Short-lived', { token: admin })
    expect(list.body.items).toEqual([])
  })

  it('lists by name search across cursor pages, only the caller organization, and answers 404 to another organization', async () => {
    const tag = randomUUID().slice(0, 6)
    const names = ['delta', 'alpha', 'charlie', 'bravo'].map((n) => `${tag}-${n}`)
    const ids: string[] = []
    for (const name of names) ids.push((await create({ name, kind: 'circle', center: { lat: 3, lon: 3 }, radiusM: 50 })).body.id)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const res: { status: number; body: any } = await api(base, 'GET', `/api/v1/geofences?q=${tag}&sort=name&limit=3${cursor ? `&cursor=${cursor}` : ''}`, { token: tokens.analyst })
      expect(res.status).toBe(200)
      seen.push(...res.body.items.map((g: { name: string }) => g.name))
      cursor = res.body.nextCursor
    } while (cursor)
    expect(seen).toEqual([...names].sort())
    expect((await api(base, 'GET', `/api/v1/geofences?q=${tag}`, { token: other })).body.items).toEqual([])
    expect((await api(base, 'GET', '/api/v1/geofences?q=a%00b', { token: admin })).status).toBe(400)
    for (const [method, body] of [['GET', undefined], ['PATCH', { name: 'stolen' }], ['DELETE', undefined]] as const) {
      expect((await api(base, method, `/api/v1/geofences/${ids[0]}`, { token: other, body })).status, method).toBe(404)
    }
    expect((await stored(ids[0]!)).name).toBe(names[0])
  })
})

describe("a vehicle's destination", () => {
  it('is set, replaced, read and cleared, audited on the vehicle; 204 without one', async () => {
    const v = await provisionVehicle(base, admin, 'Heading somewhere')
    const url = `/api/v1/vehicles/${v.vehicleId}/destination`
    expect((await api(base, 'GET', url, { token: tokens.analyst })).status).toBe(204)
    const set = await api(base, 'PUT', url, { token: tokens.dispatcher, body: { lat: 52.52, lon: 13.405 } })
    expect(set.status).toBe(200)
    expect(set.body).toMatchObject({ vehicleId: v.vehicleId, lat: 52.52, lon: 13.405, radiusM: 100, orderId: null })
    // An order's destination, replaced by hand, belongs to no order any more.
    await platform.postgres.pool.query('UPDATE vehicle_destinations SET order_id = gen_random_uuid() WHERE vehicle_id = $1', [v.vehicleId])
    const replaced = await api(base, 'PUT', url, { token: tokens.fleet_manager, body: { lat: 48.1, lon: 11.5, radiusM: 500 } })
    expect(replaced.body).toMatchObject({ lat: 48.1, lon: 11.5, radiusM: 500, orderId: null })
    expect((await api(base, 'GET', url, { token: tokens.analyst })).body).toEqual(replaced.body)
    expect((await api(base, 'PUT', url, { token: tokens.analyst, body: { lat: 1, lon: 1 } })).status).toBe(403)
    for (const body of [{ lat: 91, lon: 0 }, { lat: 0, lon: 0, radiusM: 1 }, { lat: 0 }, { lat: 0, lon: 0, orderId: randomUUID() }]) {
      expect((await api(base, 'PUT', url, { token: admin, body })).status, JSON.stringify(body)).toBe(400)
    }
    expect((await api(base, 'DELETE', url, { token: tokens.dispatcher })).status).toBe(204)
    expect((await api(base, 'GET', url, { token: admin })).status).toBe(204)
    // Clearing again is idempotent: 204, nothing audited.
    expect((await api(base, 'DELETE', url, { token: admin })).status).toBe(204)
    const { rows } = await platform.postgres.pool.query(
      `SELECT action FROM audit_log WHERE entity_type = 'vehicle' AND entity_id = $1 AND action LIKE 'vehicle.destination%' ORDER BY id`, [v.vehicleId])
    expect(rows.map((r) => r.action)).toEqual(['vehicle.destination_set', 'vehicle.destination_set', 'vehicle.destination_clear'])
  })

  it("answers 404 for another organization's vehicle and a missing one, and 409 for a retired vehicle", async () => {
    const v = await provisionVehicle(base, admin, 'Not theirs')
    await api(base, 'PUT', `/api/v1/vehicles/${v.vehicleId}/destination`, { token: admin, body: { lat: 1, lon: 1 } })
    for (const [method, body] of [['GET', undefined], ['PUT', { lat: 2, lon: 2 }], ['DELETE', undefined]] as const) {
      expect((await api(base, method, `/api/v1/vehicles/${v.vehicleId}/destination`, { token: other, body })).status, method).toBe(404)
      expect((await api(base, method, `/api/v1/vehicles/${randomUUID()}/destination`, { token: admin, body })).status, method).toBe(404)
    }
    expect((await api(base, 'GET', `/api/v1/vehicles/${v.vehicleId}/destination`, { token: admin })).body).toMatchObject({ lat: 1, lon: 1 })
    const retired = (await api(base, 'POST', '/api/v1/vehicles', { token: admin, body: { name: 'Old' } })).body.id
    await api(base, 'POST', `/api/v1/vehicles/${retired}/retire`, { token: admin })
    expect((await api(base, 'PUT', `/api/v1/vehicles/${retired}/destination`, { token: admin, body: { lat: 1, lon: 1 } })).status).toBe(409)
  })
})

describe('analytics settings', () => {
  it('answers the default until changed, then the stored limit, per organization', async () => {
    expect((await api(base, 'GET', '/api/v1/analytics/settings', { token: tokens.analyst })).body).toEqual({ overspeedLimitKmh: 90, updatedAt: null })
    const put = await api(base, 'PUT', '/api/v1/analytics/settings', { token: tokens.fleet_manager, body: { overspeedLimitKmh: 80 } })
    expect(put.status).toBe(200)
    expect(put.body.overspeedLimitKmh).toBe(80)
    expect((await api(base, 'GET', '/api/v1/analytics/settings', { token: tokens.analyst })).body).toEqual(put.body)
    expect((await api(base, 'GET', '/api/v1/analytics/settings', { token: other })).body.overspeedLimitKmh).toBe(90)
    expect((await api(base, 'PUT', '/api/v1/analytics/settings', { token: tokens.analyst, body: { overspeedLimitKmh: 70 } })).status).toBe(403)
    expect((await api(base, 'GET', '/api/v1/analytics/settings', { token: tokens.dispatcher })).status).toBe(403)
    for (const body of [{ overspeedLimitKmh: 0 }, { overspeedLimitKmh: 301 }, { overspeedLimitKmh: '80' }, {}]) {
      expect((await api(base, 'PUT', '/api/v1/analytics/settings', { token: admin, body })).status, JSON.stringify(body)).toBe(400)
    }
  })
})
