/**
 * The driver onboarding workflow through the REST API, with a stand-in for the
 * background-check vendor (the one outside service we cannot run) on a real
 * local HTTP server: requests signed by us, results signed back to our callback.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SIGNATURE_HEADER, signBody, verifySignature } from '../core/signing.js'
import { api, connectLive, login, startTestPlatform, tokenForRole, type TestPlatform } from './helpers/platform.js'

const SECRET = 'background-check-shared-secret-0123456789'
const CALLBACK = '/api/v1/drivers/background-check/callback'

interface VendorRequest { body: any; signed: boolean }
const vendor = { requests: [] as VendorRequest[], down: false }
let vendorServer: Server
let platform: TestPlatform
let base: string
let admin: string
const tokens = { fleet_manager: '', dispatcher: '' }

beforeAll(async () => {
  vendorServer = createServer((req, res) => {
    let raw = ''
    req.on('data', (d) => (raw += d))
    req.on('end', () => {
      if (vendor.down) return res.writeHead(502).end()
      vendor.requests.push({ body: JSON.parse(raw), signed: verifySignature(SECRET, req.headers[SIGNATURE_HEADER] as string, raw) })
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ reference: `chk-${randomUUID()}` }))
    })
  })
  await new Promise<void>((r) => vendorServer.listen(0, '127.0.0.1', r))
  platform = await startTestPlatform({
    BACKGROUND_CHECK_URL: `http://127.0.0.1:${(vendorServer.address() as AddressInfo).port}/checks`,
    BACKGROUND_CHECK_SECRET: SECRET,
    PUBLIC_URL: 'https://fleet.example.com',
  })
  base = platform.apiUrl
  admin = await login(base)
  for (const role of ['fleet_manager', 'dispatcher'] as const) tokens[role] = await tokenForRole(base, admin, role)
})
afterAll(async () => {
  await platform?.close()
  vendorServer?.close()
})

const newDriver = async (token = admin) =>
  (await api(base, 'POST', '/api/v1/drivers', { token, body: { name: `Driver ${randomUUID().slice(0, 6)}`, licenceNumber: 'B-123 456' } })).body as { id: string; state: string }
const post = (url: string, token = admin, body?: unknown) => api(base, 'POST', url, { token, body })
const referenceOf = async (driverId: string) =>
  (await platform.postgres.pool.query('SELECT background_check_ref AS r FROM drivers WHERE id = $1', [driverId])).rows[0].r as string

async function callback(reference: string, result: 'passed' | 'failed', sign: (body: string) => string | undefined = (b) => signBody(SECRET, b)) {
  const body = JSON.stringify({ reference, result })
  const signature = sign(body)
  const res = await fetch(`${base}${CALLBACK}`, {
    method: 'POST', body, headers: { 'content-type': 'application/json', ...(signature ? { [SIGNATURE_HEADER]: signature } : {}) },
  })
  return { status: res.status, body: res.status === 204 ? undefined : await res.json() }
}

/** A driver through to `state` along the happy path. */
async function driverIn(state: 'background_check' | 'passed' | 'training' | 'approved' | 'active') {
  const d = await newDriver()
  await post(`/api/v1/drivers/${d.id}/background-check`)
  if (state === 'background_check') return d.id
  expect((await callback(await referenceOf(d.id), 'passed')).status).toBe(204)
  if (state === 'passed') return d.id
  await post(`/api/v1/drivers/${d.id}/training`, admin, { modules: ['safety-101'] })
  if (state === 'training') return d.id
  await post(`/api/v1/drivers/${d.id}/training/safety-101/complete`)
  await post(`/api/v1/drivers/${d.id}/approve`)
  if (state === 'approved') return d.id
  await post(`/api/v1/drivers/${d.id}/activate`)
  return d.id
}

async function vehicleIn(state: 'approved' | 'active') {
  const v = (await api(base, 'POST', '/api/v1/vehicles', { token: admin, body: { name: `Car ${randomUUID().slice(0, 6)}` } })).body.id as string
  for (const step of state === 'active' ? ['submit', 'approve', 'activate'] : ['submit', 'approve']) await post(`/api/v1/vehicles/${v}/${step}`)
  return v
}

describe('driver workflow', () => {
  it('walks applicant -> background check -> training -> approved -> active, gets an account, is assigned a vehicle', async () => {
    const d = await newDriver(tokens.fleet_manager)
    expect(d.state).toBe('applicant')
    const started = await post(`/api/v1/drivers/${d.id}/background-check`, tokens.fleet_manager)
    expect(started.body).toMatchObject({ state: 'background_check', backgroundCheck: 'pending' })
    const request = vendor.requests.at(-1)!
    expect(request.signed).toBe(true)
    expect(request.body).toMatchObject({ driverId: d.id, licenceNumber: 'B-123 456', callbackUrl: `https://fleet.example.com${CALLBACK}` })

    expect((await callback(await referenceOf(d.id), 'passed')).status).toBe(204)
    const training = await post(`/api/v1/drivers/${d.id}/training`, tokens.fleet_manager, { modules: ['safety-101', 'eco-driving'] })
    expect(training.body.state).toBe('training')
    expect(training.body.training.map((m: { module: string }) => m.module)).toEqual(['eco-driving', 'safety-101'])
    const early = await post(`/api/v1/drivers/${d.id}/approve`)
    expect(early.status).toBe(409)
    expect(early.body.detail).toContain('eco-driving')
    await post(`/api/v1/drivers/${d.id}/training/safety-101/complete`, tokens.fleet_manager)
    await post(`/api/v1/drivers/${d.id}/training/eco-driving/complete`, tokens.fleet_manager)
    expect((await post(`/api/v1/drivers/${d.id}/approve`, tokens.fleet_manager)).status).toBe(403)
    expect((await post(`/api/v1/drivers/${d.id}/approve`)).body.state).toBe('approved')
    expect((await post(`/api/v1/drivers/${d.id}/activate`, tokens.fleet_manager)).body.state).toBe('active')

    const email = `driver-${randomUUID()}@example.com`
    const account = await post(`/api/v1/drivers/${d.id}/account`, admin, { email, password: 'driver own password' })
    expect(account.body.userId).toBeTruthy()
    const driverToken = await login(base, email, 'driver own password')
    const me = await api(base, 'GET', '/api/v1/me/driver', { token: driverToken })
    expect(me.body).toMatchObject({ id: d.id, state: 'active' })
    expect((await api(base, 'GET', '/api/v1/drivers', { token: driverToken })).status).toBe(403)

    // The driver hears of the assignment live, on a socket without live:read (no positions, own notifications).
    const socket = connectLive(base, driverToken)
    const pushed = new Promise<any>((resolve) => socket.on('notification', resolve))
    await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('connect_error', reject) })
    const vehicleId = await vehicleIn('active')
    const assigned = await post(`/api/v1/vehicles/${vehicleId}/assign-driver`, tokens.dispatcher, { driverId: d.id })
    expect(assigned.body.driverId).toBe(d.id)
    expect(await pushed).toMatchObject({ kind: 'vehicle.assigned', entity: { type: 'vehicle', id: vehicleId } })
    socket.close()
    const told = await api(base, 'GET', '/api/v1/notifications', { token: tokens.fleet_manager })
    expect(told.body.items.map((n: { kind: string }) => n.kind)).toEqual(expect.arrayContaining(['driver.background_check_passed', 'driver.approved']))
    const log = await api(base, 'GET', `/api/v1/drivers/${d.id}/log`, { token: admin })
    expect(log.body.items.map((e: { action: string }) => e.action).reverse()).toEqual([
      'driver.create', 'driver.start_background_check', 'driver.background_check_result', 'driver.start_training',
      'driver.complete_module', 'driver.complete_module', 'driver.approve', 'driver.activate', 'driver.create_account', 'vehicle.assign_driver',
    ])
  })

  it('refuses a step from the wrong state with 409 and the allowed steps', async () => {
    const d = await newDriver()
    const res = await post(`/api/v1/drivers/${d.id}/training`, admin, { modules: ['x'] })
    expect(res.status).toBe(409)
    expect(res.body).toMatchObject({ code: 'invalid_transition', state: 'applicant', allowed: ['start_background_check', 'reject'] })
  })

  it('does not let a failed background check into training; the applicant can be rejected with a reason', async () => {
    const d = await driverIn('background_check')
    await callback(await referenceOf(d), 'failed')
    const res = await post(`/api/v1/drivers/${d}/training`, admin, { modules: ['safety-101'] })
    expect(res.status).toBe(409)
    expect(res.body.detail).toContain('failed')
    const rejected = await post(`/api/v1/drivers/${d}/reject`, admin, { reason: 'background check failed' })
    expect(rejected.body).toMatchObject({ state: 'rejected', stateReason: 'background check failed' })
  })

  it('takes a callback only with a valid, fresh signature, for a known pending check, once', async () => {
    const d = await driverIn('background_check')
    const ref = await referenceOf(d)
    expect((await callback(ref, 'passed', () => undefined)).status).toBe(401)
    expect((await callback(ref, 'passed', (b) => signBody('another-secret-another-secret-another', b))).status).toBe(401)
    expect((await callback(ref, 'passed', (b) => signBody(SECRET, b, Math.floor(Date.now() / 1000) - 3600))).status).toBe(401)
    expect((await callback(ref, 'passed', (b) => signBody(SECRET, `${b} `))).status).toBe(401)
    expect((await callback('no-such-reference', 'passed')).status).toBe(404)
    expect((await callback(ref, 'passed')).status).toBe(204)
    expect((await callback(ref, 'failed')).status).toBe(409)
    expect((await api(base, 'GET', `/api/v1/drivers/${d}`, { token: admin })).body.backgroundCheck).toBe('passed')
  })

  it('answers 503 when the vendor fails, leaving the applicant as it was', async () => {
    const d = await newDriver()
    vendor.down = true
    try {
      const res = await post(`/api/v1/drivers/${d.id}/background-check`)
      expect(res.status).toBe(503)
      expect(res.body.code).toBe('provider_unavailable')
    } finally {
      vendor.down = false
    }
    expect((await api(base, 'GET', `/api/v1/drivers/${d.id}`, { token: admin })).body.state).toBe('applicant')
  })

  it('suspends and reactivates an active driver', async () => {
    const d = await driverIn('active')
    expect((await post(`/api/v1/drivers/${d}/suspend`, admin, { reason: 'licence check due' })).body).toMatchObject({ state: 'suspended', stateReason: 'licence check due' })
    expect((await post(`/api/v1/drivers/${d}/activate`)).body).toMatchObject({ state: 'active', stateReason: null })
  })
})

describe('assignments', () => {
  it('assigns only approved or active drivers, to one active vehicle at a time', async () => {
    const applicant = await newDriver()
    const v1 = await vehicleIn('active')
    expect((await post(`/api/v1/vehicles/${v1}/assign-driver`, admin, { driverId: applicant.id })).status).toBe(409)
    const d = await driverIn('approved')
    expect((await post(`/api/v1/vehicles/${v1}/assign-driver`, admin, { driverId: d })).status).toBe(200)
    const v2 = await vehicleIn('active')
    const second = await post(`/api/v1/vehicles/${v2}/assign-driver`, admin, { driverId: d })
    expect(second.status).toBe(409)
    expect(second.body.detail).toContain('active vehicle')
    // An approved (not yet active) vehicle may take the driver; activating it then would break the rule.
    const v3 = await vehicleIn('approved')
    expect((await post(`/api/v1/vehicles/${v3}/assign-driver`, admin, { driverId: d })).status).toBe(200)
    expect((await post(`/api/v1/vehicles/${v3}/activate`)).status).toBe(409)
    expect((await post(`/api/v1/vehicles/${v1}/unassign-driver`)).body.driverId).toBeNull()
    expect((await post(`/api/v1/vehicles/${v3}/activate`)).status).toBe(200)
  })

  it('lets exactly one of two concurrent assignments of one driver to two active vehicles succeed', async () => {
    const d = await driverIn('active')
    const [a, b] = [await vehicleIn('active'), await vehicleIn('active')]
    const results = await Promise.all([a, b].map((v) => post(`/api/v1/vehicles/${v}/assign-driver`, admin, { driverId: d })))
    expect(results.map((r) => r.status).sort()).toEqual([200, 409])
  })

  it('hides drivers of another organization and refuses roles without the permission', async () => {
    const d = await newDriver()
    expect((await post('/api/v1/drivers', tokens.dispatcher, { name: 'nope' })).status).toBe(403)
    const otherEmail = `drv-other-${randomUUID()}@example.com`
    await api(base, 'POST', '/api/v1/organizations', { token: admin, body: { name: 'Driver thieves', admin: { email: otherEmail, password: 'driver thief password' } } })
    const other = await login(base, otherEmail, 'driver thief password')
    expect((await api(base, 'GET', `/api/v1/drivers/${d.id}`, { token: other })).status).toBe(404)
    expect((await post(`/api/v1/drivers/${d.id}/background-check`, other)).status).toBe(404)
    const theirVehicle = (await api(base, 'POST', '/api/v1/vehicles', { token: other, body: { name: 'theirs' } })).body.id
    expect((await post(`/api/v1/vehicles/${theirVehicle}/assign-driver`, other, { driverId: d.id })).status).toBe(404)
  })

  it('filters, searches and sorts drivers', async () => {
    const tag = randomUUID().slice(0, 6)
    for (const n of ['zulu', 'alpha', 'mike']) await post('/api/v1/drivers', admin, { name: `${tag} ${n}`, email: `${n}-${tag}@example.com` })
    const res = await api(base, 'GET', `/api/v1/drivers?q=${tag}&sort=name&state=applicant`, { token: admin })
    expect(res.body.items.map((d: { name: string }) => d.name)).toEqual([`${tag} alpha`, `${tag} mike`, `${tag} zulu`])
    expect((await api(base, 'GET', `/api/v1/drivers?q=zulu-${tag}`, { token: admin })).body.items).toHaveLength(1)
  })
})
