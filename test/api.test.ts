/**
 * The REST API over real HTTP against the real platform (PGlite, chDB, the bus):
 * problem+json errors and request ids, bearer-token authentication and its
 * attacks, login auditing, refresh-token rotation, vehicles and devices,
 * tenancy, permissions, and the operational endpoints.
 */
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto'
import jwt from 'jsonwebtoken'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PERMISSIONS } from '../api/permissions.js'
import { hashPassword, hashSecret } from '../core/secrets.js'
import {
  ADMIN_EMAIL, ADMIN_PASSWORD, api, createOrganization, login, provisionVehicle, startTestPlatform, TEST_JWT_SECRET as JWT_SECRET,
  type ApiResponse, type TestPlatform,
} from './helpers/platform.js'

const ISSUER = 'fleetpulse'
const AUDIENCE = 'fleetpulse-api'
const MIB = 1024 * 1024

let platform: TestPlatform
let base: string
let token: string
let adminId: string
let orgId: string

beforeAll(async () => {
  platform = await startTestPlatform()
  base = platform.apiUrl
  token = await login(base)
  const { rows } = await platform.postgres.pool.query<{ id: string; org_id: string }>('SELECT id, org_id FROM users WHERE email = $1', [ADMIN_EMAIL])
  adminId = rows[0]!.id
  orgId = rows[0]!.org_id
})
afterAll(async () => {
  await platform?.close()
})

// --- helpers -------------------------------------------------------------

const query = async <T extends Record<string, any> = Record<string, any>>(sql: string, params: unknown[] = []): Promise<T[]> =>
  (await platform.postgres.pool.query<T>(sql, params)).rows

const count = async (table: 'vehicles' | 'devices' | 'audit_log'): Promise<number> =>
  (await query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

const PROBLEM_KEYS = ['type', 'title', 'status', 'code', 'detail', 'instance', 'requestId']

/** An RFC 9457 problem with our extra members, whose request id is the response's x-request-id. */
function expectProblem(res: ApiResponse, status: number, code: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  for (const key of PROBLEM_KEYS) expect(res.body, `problem member ${key}`).toHaveProperty(key)
  expect(res.body).toMatchObject({ type: `https://fleetpulse.dev/problems/${code}`, status, code })
  expect(typeof res.body.title).toBe('string')
  expect(typeof res.body.detail).toBe('string')
  expect(typeof res.body.instance).toBe('string')
  const requestId = res.headers.get('x-request-id')
  expect(requestId).toBeTruthy()
  expect(res.body.requestId).toBe(requestId)
}

/** A raw request, for bodies the JSON helper cannot send (broken JSON, other media types, huge bodies). */
async function raw(method: string, url: string, body: string, headers: Record<string, string>): Promise<ApiResponse> {
  const res = await fetch(`${base}${url}`, { method, headers, body })
  const text = await res.text()
  let parsed: any = text
  try {
    parsed = text ? JSON.parse(text) : undefined
  } catch {
    // keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed }
}

function accessToken(opts: {
  secret?: string
  algorithm?: jwt.Algorithm
  issuer?: string
  audience?: string
  typ?: string | null
  sub?: string
  org?: string
  role?: string
  expiresIn?: number
  exp?: number
} = {}): string {
  const payload: Record<string, unknown> = { org: opts.org ?? orgId, role: opts.role ?? 'operational_admin' }
  if (opts.exp !== undefined) {
    payload.exp = opts.exp
    payload.iat = opts.exp - 600
  }
  const header: Record<string, unknown> = { alg: opts.algorithm ?? 'HS256' }
  if (opts.typ !== null) header.typ = opts.typ ?? 'at+jwt'
  return jwt.sign(payload, opts.secret ?? JWT_SECRET, {
    algorithm: opts.algorithm ?? 'HS256',
    header: header as unknown as jwt.JwtHeader,
    issuer: opts.issuer ?? ISSUER,
    audience: opts.audience ?? AUDIENCE,
    subject: opts.sub ?? adminId,
    ...(opts.exp === undefined ? { expiresIn: opts.expiresIn ?? 300 } : {}),
    jwtid: randomUUID(),
  })
}

async function loginPair(email = ADMIN_EMAIL, password = ADMIN_PASSWORD): Promise<{ accessToken: string; refreshToken: string }> {
  const res = await api(base, 'POST', '/api/v1/auth/login', { body: { email, password } })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body
}

async function createUser(role: string, email: string, password: string, org = orgId): Promise<string> {
  const rows = await query<{ id: string }>(
    'INSERT INTO users (org_id, email, name, password_hash, role) VALUES ($1, $2, $3, $4, $5) RETURNING id',
    [org, email, `${role} user`, await hashPassword(password), role],
  )
  return rows[0]!.id
}

async function createVehicle(name: string, tok = token): Promise<any> {
  const res = await api(base, 'POST', '/api/v1/vehicles', { token: tok, body: { name } })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}

// --- 1. errors and request ids --------------------------------------------

describe('errors and request ids', () => {
  it('answers an unknown route with a 404 route_not_found problem', async () => {
    for (const [method, url] of [['GET', '/api/v1/nope'], ['POST', '/nothing/here'], ['GET', '/api/v1/vehicles/x/y/z']] as const) {
      const res = await api(base, method, url, { token })
      expectProblem(res, 404, 'route_not_found')
      expect(res.body.instance).toBe(url)
    }
  })

  it('puts x-request-id on every response, success or error', async () => {
    const responses = await Promise.all([
      api(base, 'GET', '/healthz'),
      api(base, 'GET', '/metrics'),
      api(base, 'GET', '/docs/json'),
      api(base, 'GET', '/api/v1/vehicles', { token }),
      api(base, 'GET', '/api/v1/vehicles'),
      api(base, 'GET', '/api/v1/unknown'),
      api(base, 'POST', '/api/v1/vehicles', { token, body: {} }),
    ])
    const ids = responses.map((r) => r.headers.get('x-request-id'))
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9._:-]{1,128}$/)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('echoes a sane incoming x-request-id and replaces an unsafe one', async () => {
    const sane = `client-${randomUUID()}:1.a_b`
    const ok = await api(base, 'GET', '/api/v1/vehicles', { token, headers: { 'x-request-id': sane } })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('x-request-id')).toBe(sane)

    const err = await api(base, 'GET', '/api/v1/nope', { headers: { 'x-request-id': sane } })
    expect(err.headers.get('x-request-id')).toBe(sane)
    expect(err.body.requestId).toBe(sane)

    for (const bad of ['a'.repeat(129), 'has space', 'semi;colon', '<script>']) {
      const res = await api(base, 'GET', '/healthz', { headers: { 'x-request-id': bad } })
      const id = res.headers.get('x-request-id')
      expect(id).not.toBe(bad)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    }
  })

  it('answers an invalid JSON body with 400 bad_request', async () => {
    const res = await raw('POST', '/api/v1/auth/login', '{"email": "a@b.c", "password":', { 'content-type': 'application/json' })
    expectProblem(res, 400, 'bad_request')
    const authed = await raw('POST', '/api/v1/vehicles', '{name: oops}', { 'content-type': 'application/json', authorization: `Bearer ${token}` })
    expectProblem(authed, 400, 'bad_request')
  })

  it('answers an unsupported content type with 415 unsupported_media_type', async () => {
    const before = await count('vehicles')
    const res = await raw('POST', '/api/v1/vehicles', 'name=x', { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${token}` })
    expectProblem(res, 415, 'unsupported_media_type')
    expect(await count('vehicles')).toBe(before)
  })

  it('answers a body over 1 MiB with 413 payload_too_large and creates nothing', async () => {
    const before = await count('vehicles')
    const body = JSON.stringify({ name: 'x'.repeat(MIB + 10) })
    const res = await raw('POST', '/api/v1/vehicles', body, { 'content-type': 'application/json', authorization: `Bearer ${token}` })
    expectProblem(res, 413, 'payload_too_large')
    expect(await count('vehicles')).toBe(before)
  })

  it('accepts a body just under the limit as far as size goes (then validates it)', async () => {
    const body = JSON.stringify({ name: 'x'.repeat(MIB - 100) })
    expect(Buffer.byteLength(body)).toBeLessThan(MIB)
    const res = await raw('POST', '/api/v1/vehicles', body, { 'content-type': 'application/json', authorization: `Bearer ${token}` })
    // Too long for the name's maxLength, but not too large for the server.
    expectProblem(res, 400, 'validation_failed')
  })

  it('answers a schema violation with 400 validation_failed listing errors[]', async () => {
    const res = await api(base, 'POST', '/api/v1/vehicles', { token, body: { name: '' } })
    expectProblem(res, 400, 'validation_failed')
    expect(Array.isArray(res.body.errors)).toBe(true)
    expect(res.body.errors.length).toBeGreaterThan(0)
    for (const e of res.body.errors) {
      expect(typeof e.path).toBe('string')
      expect(typeof e.message).toBe('string')
    }
    expect(res.body.errors[0].path).toMatch(/^body/)

    const missing = await api(base, 'POST', '/api/v1/auth/login', { body: { email: ADMIN_EMAIL } })
    expectProblem(missing, 400, 'validation_failed')
    expect(missing.body.errors.length).toBeGreaterThan(0)

    const badQuery = await api(base, 'GET', '/api/v1/vehicles?limit=0', { token })
    expectProblem(badQuery, 400, 'validation_failed')
    expect(badQuery.body.errors[0].path).toMatch(/^querystring/)
    expectProblem(await api(base, 'GET', '/api/v1/vehicles?limit=201', { token }), 400, 'validation_failed')
    expectProblem(await api(base, 'GET', '/api/v1/vehicles?foo=bar', { token }), 400, 'validation_failed')
  })
})

// --- 2. authentication -------------------------------------------------------

describe('bearer authentication', () => {
  const url = '/api/v1/vehicles'

  it('answers a request without a token with 401 unauthorized and www-authenticate: Bearer', async () => {
    const res = await api(base, 'GET', url)
    expectProblem(res, 401, 'unauthorized')
    expect(res.headers.get('www-authenticate')).toBe('Bearer')

    for (const header of ['Basic YWRtaW46cGFzcw==', 'Bearer', 'Bearer ', token]) {
      const r = await api(base, 'GET', url, { headers: { authorization: header } })
      expectProblem(r, 401, 'unauthorized')
      expect(r.headers.get('www-authenticate')).toBe('Bearer')
    }
  })

  it('answers a garbage token with 401 invalid_token', async () => {
    for (const garbage of ['garbage', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9.e30.', `${token}x`]) {
      expectProblem(await api(base, 'GET', url, { token: garbage }), 401, 'invalid_token')
    }
  })

  it('accepts a correctly built access token (the control for the attacks below)', async () => {
    const res = await api(base, 'GET', url, { token: accessToken() })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
  })

  it('refuses an alg:none token', async () => {
    const now = Math.floor(Date.now() / 1000)
    const payload = { org: orgId, role: 'operational_admin', sub: adminId, iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 300, jti: randomUUID() }
    for (const alg of ['none', 'None', 'NONE']) {
      const unsigned = `${b64url({ alg, typ: 'at+jwt' })}.${b64url(payload)}.`
      expectProblem(await api(base, 'GET', url, { token: unsigned }), 401, 'invalid_token')
    }
  })

  it('refuses a token signed with another secret', async () => {
    const res = await api(base, 'GET', url, { token: accessToken({ secret: 'another-secret-another-secret-another-secret' }) })
    expectProblem(res, 401, 'invalid_token')
  })

  it('refuses a token signed with the right secret but another HMAC algorithm', async () => {
    expectProblem(await api(base, 'GET', url, { token: accessToken({ algorithm: 'HS512' }) }), 401, 'invalid_token')
  })

  it('refuses an RS256 token with the right claims (no HS/RS algorithm confusion)', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const payload = { sub: adminId, org: orgId, role: 'operational_admin' }
    const rs = jwt.sign(payload, privateKey, { algorithm: 'RS256', issuer: ISSUER, audience: AUDIENCE, expiresIn: 300, header: { alg: 'RS256', typ: 'at+jwt' } })
    expectProblem(await api(base, 'GET', url, { token: rs }), 401, 'invalid_token')
    // The classic confusion: HS256 "signed" with a public key as the secret.
    const publicPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const hsWithPem = `${b64url({ alg: 'HS256', typ: 'at+jwt' })}.${b64url({ ...payload, iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 })}`
    const sig = createHmac('sha256', publicPem).update(hsWithPem).digest('base64url')
    expectProblem(await api(base, 'GET', url, { token: `${hsWithPem}.${sig}` }), 401, 'invalid_token')
  })

  it('refuses a token with the wrong issuer or the wrong audience', async () => {
    expectProblem(await api(base, 'GET', url, { token: accessToken({ issuer: 'evil' }) }), 401, 'invalid_token')
    expectProblem(await api(base, 'GET', url, { token: accessToken({ audience: 'some-other-api' }) }), 401, 'invalid_token')
  })

  it('refuses an expired token', async () => {
    const exp = Math.floor(Date.now() / 1000) - 60
    expectProblem(await api(base, 'GET', url, { token: accessToken({ exp }) }), 401, 'invalid_token')
  })

  it('refuses a token without the at+jwt type header', async () => {
    expectProblem(await api(base, 'GET', url, { token: accessToken({ typ: null }) }), 401, 'invalid_token')
    expectProblem(await api(base, 'GET', url, { token: accessToken({ typ: 'JWT' }) }), 401, 'invalid_token')
  })

  it('refuses a token whose subject or organization does not match a user', async () => {
    expectProblem(await api(base, 'GET', url, { token: accessToken({ sub: randomUUID() }) }), 401, 'invalid_token')
    expectProblem(await api(base, 'GET', url, { token: accessToken({ org: randomUUID() }) }), 401, 'invalid_token')
  })

  it('refuses a refresh token used as an access token', async () => {
    const pair = await loginPair()
    expectProblem(await api(base, 'GET', url, { token: pair.refreshToken }), 401, 'invalid_token')
  })
})

// --- 3. login --------------------------------------------------------------

describe('login', () => {
  it('issues a token pair for the right password and audits auth.login', async () => {
    const requestId = `login-ok-${randomUUID()}`
    const res = await api(base, 'POST', '/api/v1/auth/login', { body: { email: ADMIN_EMAIL.toUpperCase(), password: ADMIN_PASSWORD }, headers: { 'x-request-id': requestId } })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ tokenType: 'Bearer', expiresIn: expect.any(Number), accessToken: expect.any(String), refreshToken: expect.any(String) })
    expect(jwt.decode(res.body.accessToken, { complete: true })?.header).toMatchObject({ alg: 'HS256', typ: 'at+jwt' })

    const rows = await query('SELECT * FROM audit_log WHERE request_id = $1', [requestId])
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ action: 'auth.login', actor_id: adminId, org_id: orgId, entity_type: 'user', entity_id: adminId })
    expect(JSON.stringify(rows[0])).not.toContain(res.body.refreshToken)
    expect(JSON.stringify(rows[0])).not.toContain(ADMIN_PASSWORD)
  })

  it('answers a wrong password and an unknown email with the same 401 invalid_credentials, and audits both', async () => {
    const wrongId = `login-wrong-${randomUUID()}`
    const unknownId = `login-unknown-${randomUUID()}`
    const wrong = await api(base, 'POST', '/api/v1/auth/login', { body: { email: ADMIN_EMAIL, password: 'not the password' }, headers: { 'x-request-id': wrongId } })
    const unknown = await api(base, 'POST', '/api/v1/auth/login', { body: { email: 'nobody@test.local', password: 'not the password' }, headers: { 'x-request-id': unknownId } })
    expectProblem(wrong, 401, 'invalid_credentials')
    expectProblem(unknown, 401, 'invalid_credentials')
    const { requestId: _a, ...wrongRest } = wrong.body
    const { requestId: _b, ...unknownRest } = unknown.body
    expect(unknownRest).toEqual(wrongRest)
    expect(Object.keys(unknown.body).sort()).toEqual(Object.keys(wrong.body).sort())

    const wrongRows = await query('SELECT * FROM audit_log WHERE request_id = $1', [wrongId])
    expect(wrongRows).toHaveLength(1)
    expect(wrongRows[0]).toMatchObject({ action: 'auth.login_failed', actor_email: ADMIN_EMAIL, entity_id: adminId })
    expect(JSON.stringify(wrongRows[0])).not.toContain('not the password')

    const unknownRows = await query('SELECT * FROM audit_log WHERE request_id = $1', [unknownId])
    expect(unknownRows).toHaveLength(1)
    expect(unknownRows[0]).toMatchObject({ action: 'auth.login_failed', actor_email: 'nobody@test.local', actor_id: null })
    expect(JSON.stringify(unknownRows[0])).not.toContain('not the password')
  })

  it('refuses a deactivated user with the same 401 invalid_credentials', async () => {
    const email = `inactive-${randomUUID()}@test.local`
    const id = await createUser('fleet_manager', email, 'inactive-password-1')
    await query('UPDATE users SET active = false WHERE id = $1', [id])
    const res = await api(base, 'POST', '/api/v1/auth/login', { body: { email, password: 'inactive-password-1' } })
    expectProblem(res, 401, 'invalid_credentials')
  })
})

// --- 4. refresh rotation and logout ------------------------------------------

describe('refresh tokens', () => {
  const refresh = (refreshToken: string) => api(base, 'POST', '/api/v1/auth/refresh', { body: { refreshToken } })

  it('rotates: a refresh answers a new pair that works', async () => {
    const first = await loginPair()
    const res = await refresh(first.refreshToken)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ tokenType: 'Bearer', accessToken: expect.any(String), refreshToken: expect.any(String) })
    expect(res.body.refreshToken).not.toBe(first.refreshToken)
    expect(res.body.accessToken).not.toBe(first.accessToken)
    expect((await api(base, 'GET', '/api/v1/vehicles', { token: res.body.accessToken })).status).toBe(200)
    expect((await refresh(res.body.refreshToken)).status).toBe(200)
  })

  it('treats reuse of a used refresh token as theft: 401 and the whole family is revoked', async () => {
    const first = await loginPair()
    const second = await refresh(first.refreshToken)
    expect(second.status).toBe(200)
    expectProblem(await refresh(first.refreshToken), 401, 'invalid_token')
    // The legitimate-looking newer token of the same family no longer works either.
    expectProblem(await refresh(second.body.refreshToken), 401, 'invalid_token')
  })

  it('lets exactly one of two concurrent refreshes with one token succeed', async () => {
    const pair = await loginPair()
    const results = await Promise.all([refresh(pair.refreshToken), refresh(pair.refreshToken)])
    expect(results.map((r) => r.status).sort()).toEqual([200, 401])
  })

  it('refuses an unknown refresh token with 401 and a malformed one with 400', async () => {
    expectProblem(await refresh('x'.repeat(43)), 401, 'invalid_token')
    expectProblem(await refresh('short'), 400, 'validation_failed')
  })

  it('stops a refresh token from working after logout (204, then 401)', async () => {
    const pair = await loginPair()
    const out = await api(base, 'POST', '/api/v1/auth/logout', { body: { refreshToken: pair.refreshToken } })
    expect(out.status).toBe(204)
    expectProblem(await refresh(pair.refreshToken), 401, 'invalid_token')
  })

  it('revokes the rotated token of the family on logout with an older token', async () => {
    const pair = await loginPair()
    const rotated = await refresh(pair.refreshToken)
    expect(rotated.status).toBe(200)
    expect((await api(base, 'POST', '/api/v1/auth/logout', { body: { refreshToken: rotated.body.refreshToken } })).status).toBe(204)
    expectProblem(await refresh(rotated.body.refreshToken), 401, 'invalid_token')
  })
})

// --- 5. vehicles -------------------------------------------------------------

describe('vehicles', () => {
  it('creates a vehicle: 201 with its id and timestamps, as a draft', async () => {
    const res = await api(base, 'POST', '/api/v1/vehicles', { token, body: { name: 'Truck 1', plate: 'B-FP 1', vin: '1HGCM82633A004352' } })
    expect(res.status).toBe(201)
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      name: 'Truck 1',
      plate: 'B-FP 1',
      vin: '1HGCM82633A004352',
      make: null,
      model: null,
      year: null,
      maxWeightKg: null,
      maxVolumeM3: null,
      state: 'draft',
      rejectReason: null,
      driverId: null,
      createdAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      updatedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
    })
    expect(Math.abs(Date.parse(res.body.createdAt) - Date.now())).toBeLessThan(60_000)
    const got = await api(base, 'GET', `/api/v1/vehicles/${res.body.id}`, { token })
    expect(got.status).toBe(200)
    expect(got.body).toEqual(res.body)
    const row = await query('SELECT org_id FROM vehicles WHERE id = $1', [res.body.id])
    expect(row[0]!.org_id).toBe(orgId)
  })

  it('refuses mass assignment of id, orgId, organizationId, status or any unknown field, creating nothing', async () => {
    const other = await createOrganization(platform, 'Mass assignment target', `mass-${randomUUID()}@test.local`, 'mass-password-1')
    const extras: Record<string, unknown>[] = [
      { id: randomUUID() },
      { orgId: other },
      { organizationId: other },
      { org_id: other },
      { status: 'active' },
      { createdAt: '2000-01-01T00:00:00.000Z' },
      { isAdmin: true },
    ]
    const before = await count('vehicles')
    for (const extra of extras) {
      const res = await api(base, 'POST', '/api/v1/vehicles', { token, body: { name: 'Sneaky', ...extra } })
      expectProblem(res, 400, 'validation_failed')
      expect(res.body.errors[0].field).toBe(Object.keys(extra)[0])
    }
    // The same through a raw body whose own key is "__proto__".
    const proto = await raw('POST', '/api/v1/vehicles', '{"name":"Sneaky","__proto__":{"polluted":true}}', { 'content-type': 'application/json', authorization: `Bearer ${token}` })
    expect(proto.status).toBe(400)
    expect(await count('vehicles')).toBe(before)
    expect((await query('SELECT count(*)::int AS n FROM vehicles WHERE org_id = $1', [other]))[0]!.n).toBe(0)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('refuses an invalid VIN', async () => {
    const before = await count('vehicles')
    for (const vin of ['123', '1HGCM82633A0043521', '1hgcm82633a004352', '1HGCM82633A00435I', 'OOOOOOOOOOOOOOOOO', 'QQQQQQQQQQQQQQQQQ', '1HGCM82633A00435 ']) {
      const res = await api(base, 'POST', '/api/v1/vehicles', { token, body: { name: 'Bad VIN', vin } })
      expectProblem(res, 400, 'validation_failed')
      expect(res.body.errors[0].path).toMatch(/vin/)
    }
    expect(await count('vehicles')).toBe(before)
  })

  it('pages through the list with nextCursor: every vehicle exactly once, in creation order', async () => {
    // A fresh organization so that the list holds exactly these vehicles.
    const email = `pager-${randomUUID()}@test.local`
    await createOrganization(platform, 'Pager fleet', email, 'pager-password-1')
    const pagerToken = await login(base, email, 'pager-password-1')
    const created: string[] = []
    for (let i = 0; i < 7; i++) created.push((await createVehicle(`Pager ${i}`, pagerToken)).id)

    const seen: string[] = []
    const pageSizes: number[] = []
    let cursor: string | null = null
    for (let guard = 0; guard < 10; guard++) {
      const res: ApiResponse = await api(base, 'GET', `/api/v1/vehicles?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: pagerToken })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      seen.push(...res.body.items.map((v: any) => v.id))
      pageSizes.push(res.body.items.length)
      cursor = res.body.nextCursor
      if (cursor === null) break
      expect(typeof cursor).toBe('string')
    }
    expect(cursor).toBeNull()
    expect(pageSizes).toEqual([3, 3, 1])
    expect(seen).toEqual(created)

    const all = await api(base, 'GET', '/api/v1/vehicles', { token: pagerToken })
    expect(all.body.items.map((v: any) => v.id)).toEqual(created)
    expect(all.body.nextCursor).toBeNull()
  })

  it('accepts any cursor of the documented shape as a position (a well-formed cursor never fails)', async () => {
    for (const cursor of [`0.${randomUUID()}`, `9999999999999999.${randomUUID()}`]) {
      const res = await api(base, 'GET', `/api/v1/vehicles?cursor=${cursor}`, { token })
      expect(res.status).toBe(200)
    }
  })

  it('has no nextCursor when the last page is exactly full', async () => {
    const email = `exact-${randomUUID()}@test.local`
    await createOrganization(platform, 'Exact fleet', email, 'exact-password-1')
    const t = await login(base, email, 'exact-password-1')
    for (let i = 0; i < 3; i++) await createVehicle(`Exact ${i}`, t)
    const res = await api(base, 'GET', '/api/v1/vehicles?limit=3', { token: t })
    expect(res.body.items).toHaveLength(3)
    expect(res.body.nextCursor).toBeNull()
  })

  it('refuses an invalid cursor with 400', async () => {
    for (const cursor of ['not-a-cursor', `123.${'z'.repeat(36)}`, "1.'; DROP TABLE vehicles; --", 'x'.repeat(201), `1.${randomUUID().toUpperCase()}`]) {
      const res = await api(base, 'GET', `/api/v1/vehicles?limit=3&cursor=${encodeURIComponent(cursor)}`, { token })
      expectProblem(res, 400, 'validation_failed')
    }
  })

  // Shapes Postgres would reject (a micros value beyond bigint or the interval range, an "id" of 36 hex digits
  // or dashes that is not a uuid) are outside the cursor pattern: 400, never 500.
  it('refuses a forged cursor that looks like one of ours with 400, not 500', async () => {
    const forged = [
      `99999999999999999999.${randomUUID()}`,
      `9223372036854775807.${randomUUID()}`,
      '1.------------------------------------',
      '1.000000000000000000000000000000000000',
      '1.0000000-00000-0000-0000-000000000000',
    ]
    const statuses: Record<string, number> = {}
    for (const key of forged) {
      const res = await api(base, 'GET', `/api/v1/vehicles?limit=3&cursor=${encodeURIComponent(key)}`, { token })
      statuses[key] = res.status
    }
    expect(statuses).toEqual(Object.fromEntries(forged.map((k) => [k, 400])))
  })

  // Postgres text cannot hold U+0000, and the schema lets it through: the insert fails with a 500.
  it('refuses a NUL character in a vehicle name or plate with 400, not 500', async () => {
    const before = await count('vehicles')
    for (const body of [{ name: 'a\u0000b' }, { name: 'ok', plate: 'AB\u00001' }]) {
      const res = await api(base, 'POST', '/api/v1/vehicles', { token, body })
      expectProblem(res, 400, 'validation_failed')
    }
    expect(await count('vehicles')).toBe(before)
  })

  it('never leaks database error text in a response body', async () => {
    const responses = [
      await api(base, 'POST', '/api/v1/vehicles', { token, body: { name: 'a\u0000b' } }),
      await api(base, 'GET', `/api/v1/vehicles?cursor=99999999999999999999.${randomUUID()}`, { token }),
      await api(base, 'GET', '/api/v1/vehicles?cursor=1.------------------------------------', { token }),
    ]
    for (const res of responses) {
      expect(res.status).toBeGreaterThanOrEqual(400)
      expect(res.body.code).toBeTypeOf('string')
      expect(res.body.requestId).toBe(res.headers.get('x-request-id'))
      const text = JSON.stringify(res.body)
      for (const leak of ['UTF8', 'bigint', 'invalid input syntax', 'out of range', 'stack', 'SELECT', 'INSERT', 'node_modules']) {
        expect(text).not.toContain(leak)
      }
    }
  })

  it('answers GET /vehicles/:id with 400 for a non-uuid and 404 not_found for an unknown uuid', async () => {
    for (const id of ['123', 'not-a-uuid', `${randomUUID()}x`, "1' OR '1'='1"]) {
      expectProblem(await api(base, 'GET', `/api/v1/vehicles/${encodeURIComponent(id)}`, { token }), 400, 'validation_failed')
    }
    const res = await api(base, 'GET', `/api/v1/vehicles/${randomUUID()}`, { token })
    expectProblem(res, 404, 'not_found')
  })

  it('provisions a device: 201 with its MQTT credentials', async () => {
    const v = await createVehicle('Device host')
    const res = await api(base, 'POST', `/api/v1/vehicles/${v.id}/devices`, { token, body: { kind: 'dashcam' } })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ vehicleId: v.id, kind: 'dashcam', secret: expect.any(String), topic: `devices/${res.body.id}/telemetry` })
    expect(res.body.secret.length).toBeGreaterThanOrEqual(32)
    const row = await query('SELECT secret_hash FROM devices WHERE id = $1', [res.body.id])
    expect(row[0]!.secret_hash).toBe(hashSecret(res.body.secret))
    expectProblem(await api(base, 'POST', `/api/v1/vehicles/${v.id}/devices`, { token, body: { kind: 'toaster' } }), 400, 'validation_failed')
    expectProblem(await api(base, 'POST', `/api/v1/vehicles/${randomUUID()}/devices`, { token, body: { kind: 'gps' } }), 404, 'not_found')
  })
})

// --- 6. tenancy --------------------------------------------------------------

describe('tenancy', () => {
  it("hides another organization's vehicles: 404 on every per-vehicle route, absent from the list, nothing created", async () => {
    const a = await provisionVehicle(base, token, 'Org A truck')
    const email = `tenant-b-${randomUUID()}@test.local`
    await createOrganization(platform, 'Org B', email, 'tenant-b-password')
    const tokenB = await login(base, email, 'tenant-b-password')
    const devicesBefore = await count('devices')
    const vehiclesBefore = await count('vehicles')

    expectProblem(await api(base, 'GET', `/api/v1/vehicles/${a.vehicleId}`, { token: tokenB }), 404, 'not_found')
    expectProblem(await api(base, 'GET', `/api/v1/vehicles/${a.vehicleId}/position`, { token: tokenB }), 404, 'not_found')
    expectProblem(await api(base, 'GET', `/api/v1/vehicles/${a.vehicleId}/track`, { token: tokenB }), 404, 'not_found')
    expectProblem(await api(base, 'POST', `/api/v1/vehicles/${a.vehicleId}/devices`, { token: tokenB, body: { kind: 'gps' } }), 404, 'not_found')

    // The 404 for someone else's vehicle is indistinguishable from one for a vehicle that does not exist.
    const foreign = await api(base, 'GET', `/api/v1/vehicles/${a.vehicleId}`, { token: tokenB })
    const missing = await api(base, 'GET', `/api/v1/vehicles/${randomUUID()}`, { token: tokenB })
    expect(foreign.body.detail).toBe(missing.body.detail)
    expect(foreign.body.title).toBe(missing.body.title)

    const list = await api(base, 'GET', '/api/v1/vehicles?limit=200', { token: tokenB })
    expect(list.status).toBe(200)
    expect(list.body.items).toEqual([])

    const mine = await createVehicle('Org B van', tokenB)
    const listB = await api(base, 'GET', '/api/v1/vehicles?limit=200', { token: tokenB })
    expect(listB.body.items.map((v: any) => v.id)).toEqual([mine.id])
    // And the other way round.
    expectProblem(await api(base, 'GET', `/api/v1/vehicles/${mine.id}`, { token }), 404, 'not_found')

    expect(await count('devices')).toBe(devicesBefore)
    expect(await count('vehicles')).toBe(vehiclesBefore + 1)
    expect((await query('SELECT count(*)::int AS n FROM devices WHERE vehicle_id = $1', [a.vehicleId]))[0]!.n).toBe(1)
  })
})

// --- 7. audit ----------------------------------------------------------------

describe('audit log', () => {
  it('records exactly one vehicle.create with actor, entity, after and request id', async () => {
    const requestId = `create-${randomUUID()}`
    const res = await api(base, 'POST', '/api/v1/vehicles', { token, body: { name: 'Audited', plate: 'AUD 1' }, headers: { 'x-request-id': requestId } })
    expect(res.status).toBe(201)
    const rows = await query("SELECT * FROM audit_log WHERE action = 'vehicle.create' AND entity_id = $1", [res.body.id])
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({
      org_id: orgId,
      actor_id: adminId,
      actor_email: ADMIN_EMAIL,
      entity_type: 'vehicle',
      entity_id: res.body.id,
      request_id: requestId,
      before: null,
    })
    expect(rows[0]!.after).toEqual(res.body)
    expect((await query('SELECT count(*)::int AS n FROM audit_log WHERE request_id = $1', [requestId]))[0]!.n).toBe(1)
  })

  it('writes no vehicle.create row when the creation is refused', async () => {
    const requestId = `create-refused-${randomUUID()}`
    const res = await api(base, 'POST', '/api/v1/vehicles', { token, body: { name: 'x', orgId }, headers: { 'x-request-id': requestId } })
    expect(res.status).toBe(400)
    expect(await query('SELECT * FROM audit_log WHERE request_id = $1', [requestId])).toEqual([])
  })

  it('records device.provision without the secret (or its hash) anywhere in the row', async () => {
    const v = await createVehicle('Audited device host')
    const requestId = `provision-${randomUUID()}`
    const res = await api(base, 'POST', `/api/v1/vehicles/${v.id}/devices`, { token, body: { kind: 'gps' }, headers: { 'x-request-id': requestId } })
    expect(res.status).toBe(201)
    const secret: string = res.body.secret
    const rows = await query<{ j: Record<string, any> }>(
      "SELECT to_jsonb(a) AS j FROM audit_log a WHERE action = 'device.provision' AND entity_id = $1", [res.body.id])
    expect(rows).toHaveLength(1)
    const row = rows[0]!.j
    expect(row).toMatchObject({ actor_id: adminId, org_id: orgId, entity_type: 'device', request_id: requestId })
    expect(row.after).toMatchObject({ id: res.body.id, vehicleId: v.id, kind: 'gps' })
    const text = JSON.stringify(row)
    expect(text).not.toContain(secret)
    expect(text).not.toContain(hashSecret(secret))
  })

  it('cannot be rewritten or deleted', async () => {
    await expect(query("UPDATE audit_log SET action = 'tampered' WHERE id = (SELECT min(id) FROM audit_log)")).rejects.toThrow(/append-only/)
    await expect(query('DELETE FROM audit_log')).rejects.toThrow(/append-only/)
  })
})

// --- 8. permissions and deactivation ---------------------------------------

describe('permissions', () => {
  it('forbids an auditor from creating a vehicle (403 forbidden), creating nothing', async () => {
    const email = `auditor-${randomUUID()}@test.local`
    await createUser('auditor', email, 'auditor-password-1')
    const auditorToken = await login(base, email, 'auditor-password-1')
    const before = await count('vehicles')
    const res = await api(base, 'POST', '/api/v1/vehicles', { token: auditorToken, body: { name: 'Not allowed' } })
    expectProblem(res, 403, 'forbidden')
    expect(res.body.detail).toContain('vehicles:write')
    expect(await count('vehicles')).toBe(before)
    // Nor read vehicles, which the role lacks too.
    expectProblem(await api(base, 'GET', '/api/v1/vehicles', { token: auditorToken }), 403, 'forbidden')
  })

  it('lets a dispatcher read but not provision devices', async () => {
    const email = `dispatcher-${randomUUID()}@test.local`
    await createUser('dispatcher', email, 'dispatcher-password-1')
    const t = await login(base, email, 'dispatcher-password-1')
    const v = await createVehicle('Dispatch target')
    expect((await api(base, 'GET', `/api/v1/vehicles/${v.id}`, { token: t })).status).toBe(200)
    expectProblem(await api(base, 'POST', `/api/v1/vehicles/${v.id}/devices`, { token: t, body: { kind: 'gps' } }), 403, 'forbidden')
  })

  it('takes the role from the database, not from the token claims', async () => {
    const email = `driver-${randomUUID()}@test.local`
    const id = await createUser('driver', email, 'driver-password-1')
    const forged = accessToken({ sub: id, role: 'operational_admin' })
    expectProblem(await api(base, 'POST', '/api/v1/vehicles', { token: forged, body: { name: 'Escalated' } }), 403, 'forbidden')
  })

  it("stops a deactivated user's existing access token at once (401)", async () => {
    const email = `leaver-${randomUUID()}@test.local`
    const id = await createUser('fleet_manager', email, 'leaver-password-1')
    const pair = await loginPair(email, 'leaver-password-1')
    expect((await api(base, 'GET', '/api/v1/vehicles', { token: pair.accessToken })).status).toBe(200)
    await query('UPDATE users SET active = false WHERE id = $1', [id])
    expectProblem(await api(base, 'GET', '/api/v1/vehicles', { token: pair.accessToken }), 401, 'invalid_token')
    // Their refresh token no longer yields new tokens either.
    expectProblem(await api(base, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: pair.refreshToken } }), 401, 'invalid_token')
  })
})

// --- 9. operations -------------------------------------------------------------

describe('methods', () => {
  it('answers a known path with an unknown method 405 with Allow, and an unknown path 404', async () => {
    const res = await fetch(`${base}/healthz`, { method: 'DELETE' })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET, HEAD')
    expect((await res.json()).code).toBe('method_not_allowed')
    const withId = await fetch(`${base}/api/v1/vehicles/${randomUUID()}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })
    expect(withId.status).toBe(405)
    expect((await fetch(`${base}/api/v1/nothing-here`)).status).toBe(404)
  })

  it('answers a method with a body on a known path 405 before parsing that body', async () => {
    const res = await fetch(`${base}/api/v1/vehicles`, { method: 'QUERY', headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(405)
  })
})

describe('typed bodies', () => {
  it('refuses a JSON boolean or number where the schema wants a string (no coercion in bodies), creating nothing', async () => {
    const before = await count('vehicles')
    for (const body of [{ name: 'ok', plate: false }, { name: 12345 }, { name: 'ok', plate: 7 }]) {
      expectProblem(await api(base, 'POST', '/api/v1/vehicles', { token, body }), 400, 'validation_failed')
    }
    expect(await count('vehicles')).toBe(before)
  })

  it('still reads numbers and booleans from a querystring', async () => {
    const res = await api(base, 'GET', '/api/v1/users?limit=2&active=true', { token })
    expect(res.status).toBe(200)
    expect(res.body.items.length).toBeLessThanOrEqual(2)
  })
})

describe('operational endpoints', () => {
  it('answers /healthz with 200 {status: ok}', async () => {
    const res = await api(base, 'GET', '/healthz')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ status: 'ok' })
  })

  it('answers /readyz with 200 and every check true', async () => {
    const res = await api(base, 'GET', '/readyz')
    expect(res.status).toBe(200)
    expect(res.body.status).toBe('ready')
    const checks = Object.entries(res.body.checks as Record<string, boolean>)
    expect(checks.length).toBeGreaterThan(0)
    expect(Object.keys(res.body.checks)).toEqual(expect.arrayContaining(['postgres', 'bus', 'clickhouse']))
    for (const [name, ok] of checks) expect(ok, name).toBe(true)
  })

  it('serves Prometheus text at /metrics', async () => {
    const res = await api(base, 'GET', '/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(typeof res.body).toBe('string')
    expect(res.body).toMatch(/^# HELP fleetpulse_ingest_fixes_published_total /m)
    expect(res.body).toMatch(/^fleetpulse_ingest_fixes_published_total \d+/m)
    expect(res.body).toMatch(/^# TYPE fleetpulse_bus_consumer_lag gauge/m)
  })

  it('documents the API as OpenAPI 3.1 with security and x-permission on every non-auth /api/v1 operation', async () => {
    const res = await api(base, 'GET', '/docs/json')
    expect(res.status).toBe(200)
    const doc = res.body
    expect(doc.openapi).toMatch(/^3\.1\./)
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })

    const methods = ['get', 'put', 'post', 'delete', 'patch']
    const protectedOps: string[] = []
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      if (!path.startsWith('/api/v1/')) continue
      for (const method of methods) {
        const op = item[method]
        if (!op) continue
        // Public: the credential routes, and the provider callback (signed instead).
        if (path.startsWith('/api/v1/auth/') || path === '/api/v1/drivers/background-check/callback') {
          expect(op.security, `${method} ${path}`).toBeUndefined()
          continue
        }
        protectedOps.push(`${method.toUpperCase()} ${path}`)
        expect(op.security, `${method} ${path}`).toEqual([{ bearerAuth: [] }])
        expect(PERMISSIONS, `${method} ${path}`).toContain(op['x-permission'])
        expect(op.responses, `${method} ${path}`).toHaveProperty('401')
      }
    }
    expect(protectedOps).toEqual(expect.arrayContaining([
      'POST /api/v1/vehicles', 'GET /api/v1/vehicles', 'GET /api/v1/vehicles/{id}',
      'POST /api/v1/vehicles/{id}/devices', 'GET /api/v1/vehicles/{id}/position', 'GET /api/v1/vehicles/{id}/track',
    ]))

    const create = doc.paths['/api/v1/vehicles'].post
    expect(create['x-permission']).toBe('vehicles:write')
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '403']))
    expect(doc.paths['/api/v1/auth/login'].post).toBeDefined()
  })
})
