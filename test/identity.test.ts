/**
 * Identity administration over real HTTP: organizations (platform admin only),
 * users within an organization (create, list, role, deactivate, password
 * reset), the grant rule, rate limits on credential routes, security headers
 * and CORS.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { csvCell } from '../api/audit/audit.service.js'
import { PACKAGE_ROOT } from '../core/paths.js'
import { missingToGrant, ROLES, type Permission } from '../api/permissions.js'
import { api, login, startTestPlatform, type TestPlatform } from './helpers/platform.js'

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

const auditRows = async (action: string, entityId: string) =>
  (await platform.postgres.pool.query('SELECT * FROM audit_log WHERE action = $1 AND entity_id = $2', [action, entityId])).rows

let seq = 0
const email = (what: string) => `${what}-${++seq}-${Date.now()}@example.com`

async function createUser(token: string, role: string, password = 'a good long password') {
  const body = { email: email(role), password, name: `A ${role}`, role }
  const res = await api(base, 'POST', '/api/v1/users', { token, body })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return { ...res.body, password } as { id: string; email: string; role: string; password: string }
}

async function loginPair(emailAddress: string, password: string) {
  const res = await api(base, 'POST', '/api/v1/auth/login', { body: { email: emailAddress, password } })
  return res
}

describe('organizations', () => {
  it('lets the platform admin create an organization with its first admin, who works only inside it', async () => {
    const adminEmail = email('org-admin')
    const res = await api(base, 'POST', '/api/v1/organizations', {
      token: admin, body: { name: 'Acme Logistics', admin: { email: adminEmail, password: 'acme admin password' } },
    })
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toMatchObject({ name: 'Acme Logistics', admin: { email: adminEmail, role: 'operational_admin', active: true } })
    expect(res.body.admin).not.toHaveProperty('passwordHash')
    const [row] = await auditRows('organization.create', res.body.id)
    expect(row.after).toMatchObject({ name: 'Acme Logistics', admin: { email: adminEmail, role: 'operational_admin' } })

    const acme = await login(base, adminEmail, 'acme admin password')
    const users = await api(base, 'GET', '/api/v1/users', { token: acme })
    expect(users.body.items.map((u: { email: string }) => u.email)).toEqual([adminEmail])
    // An organization's admin is not a platform admin.
    expect((await api(base, 'GET', '/api/v1/organizations', { token: acme })).status).toBe(403)
    expect((await api(base, 'POST', '/api/v1/organizations', { token: acme, body: { name: 'x', admin: { email: email('x'), password: 'xxxxxxxxxx' } } })).status).toBe(403)

    const list = await api(base, 'GET', '/api/v1/organizations', { token: admin })
    expect(list.status).toBe(200)
    expect(list.body.items.map((o: { id: string }) => o.id)).toContain(res.body.id)
  })

  it('refuses an admin email that is taken (409) and creates no organization', async () => {
    const before = (await platform.postgres.pool.query('SELECT count(*)::int AS n FROM organizations')).rows[0].n
    const res = await api(base, 'POST', '/api/v1/organizations', {
      token: admin, body: { name: 'Dup', admin: { email: 'admin@test.local', password: 'whatever password' } },
    })
    expect(res.status).toBe(409)
    expect(res.body.code).toBe('conflict')
    expect((await platform.postgres.pool.query('SELECT count(*)::int AS n FROM organizations')).rows[0].n).toBe(before)
  })
})

describe('users', () => {
  it('creates a user who can log in with the given role, and audits it without the password', async () => {
    const u = await createUser(admin, 'dispatcher')
    expect(u).toMatchObject({ role: 'dispatcher', active: true })
    const rows = await auditRows('user.create', u.id)
    expect(rows).toHaveLength(1)
    expect(JSON.stringify(rows[0])).not.toContain(u.password)
    expect((await loginPair(u.email, u.password)).status).toBe(200)
  })

  it('refuses a taken email with 409, an unknown role or a client-set field with 400', async () => {
    const u = await createUser(admin, 'analyst')
    const dup = await api(base, 'POST', '/api/v1/users', { token: admin, body: { email: u.email.toUpperCase(), password: 'another password', name: 'x', role: 'analyst' } })
    expect(dup.status).toBe(409)
    for (const extra of [{ role: 'superuser' }, { orgId: '00000000-0000-4000-8000-000000000000' }, { active: false }, { isPlatformAdmin: true }, { id: '00000000-0000-4000-8000-000000000000' }]) {
      const res = await api(base, 'POST', '/api/v1/users', { token: admin, body: { email: email('mass'), password: 'a long password', name: 'x', role: 'analyst', ...extra } })
      expect(res.status, JSON.stringify(extra)).toBe(400)
    }
  })

  it('lists users with filters and cursor pages', async () => {
    for (let i = 0; i < 3; i++) await createUser(admin, 'support_agent')
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const res: { status: number; body: any } = await api(base, 'GET', `/api/v1/users?role=support_agent&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: admin })
      expect(res.status).toBe(200)
      for (const u of res.body.items) expect(u.role).toBe('support_agent')
      seen.push(...res.body.items.map((u: { id: string }) => u.id))
      cursor = res.body.nextCursor
    } while (cursor)
    expect(seen.length).toBeGreaterThanOrEqual(3)
    expect(new Set(seen).size).toBe(seen.length)
  })

  it('changes a role (audited with before and after); the new permissions apply at once', async () => {
    const u = await createUser(admin, 'auditor')
    const token = await login(base, u.email, u.password)
    expect((await api(base, 'GET', '/api/v1/vehicles', { token })).status).toBe(403)
    const res = await api(base, 'PUT', `/api/v1/users/${u.id}/role`, { token: admin, body: { role: 'fleet_manager' } })
    expect(res.status).toBe(200)
    expect(res.body.role).toBe('fleet_manager')
    const [row] = await auditRows('user.role_change', u.id)
    expect(row.before.role).toBe('auditor')
    expect(row.after.role).toBe('fleet_manager')
    expect((await api(base, 'GET', '/api/v1/vehicles', { token })).status).toBe(200)
  })

  it('deactivates a user: access and refresh tokens stop at once; activation lets them log in again', async () => {
    const u = await createUser(admin, 'fleet_manager')
    const pair = (await loginPair(u.email, u.password)).body
    expect((await api(base, 'POST', `/api/v1/users/${u.id}/deactivate`, { token: admin })).status).toBe(200)
    expect((await api(base, 'GET', '/api/v1/vehicles', { token: pair.accessToken })).status).toBe(401)
    expect((await api(base, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: pair.refreshToken } })).status).toBe(401)
    expect((await loginPair(u.email, u.password)).status).toBe(401)
    expect((await api(base, 'POST', `/api/v1/users/${u.id}/activate`, { token: admin })).status).toBe(200)
    expect((await loginPair(u.email, u.password)).status).toBe(200)
    expect(await auditRows('user.deactivate', u.id)).toHaveLength(1)
  })

  it('resets a password: the old one and old sessions stop working', async () => {
    const u = await createUser(admin, 'analyst')
    const pair = (await loginPair(u.email, u.password)).body
    const res = await api(base, 'POST', `/api/v1/users/${u.id}/password`, { token: admin, body: { password: 'a brand new password' } })
    expect(res.status).toBe(200)
    expect((await loginPair(u.email, u.password)).status).toBe(401)
    expect((await loginPair(u.email, 'a brand new password')).status).toBe(200)
    expect((await api(base, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: pair.refreshToken } })).status).toBe(401)
    const [row] = await auditRows('user.password_reset', u.id)
    expect(JSON.stringify(row)).not.toContain('a brand new password')
  })

  it('refuses to change your own role or status (409)', async () => {
    const me = (await platform.postgres.pool.query(`SELECT id FROM users WHERE email = 'admin@test.local'`)).rows[0].id
    expect((await api(base, 'POST', `/api/v1/users/${me}/deactivate`, { token: admin })).status).toBe(409)
    expect((await api(base, 'PUT', `/api/v1/users/${me}/role`, { token: admin, body: { role: 'driver' } })).status).toBe(409)
  })

  it('answers 404 for a user of another organization and changes nothing', async () => {
    const otherEmail = email('other-admin')
    const org = await api(base, 'POST', '/api/v1/organizations', { token: admin, body: { name: 'Other', admin: { email: otherEmail, password: 'other admin password' } } })
    const other = await login(base, otherEmail, 'other admin password')
    const victim = await createUser(admin, 'dispatcher')
    expect((await api(base, 'GET', `/api/v1/users/${victim.id}`, { token: other })).status).toBe(404)
    expect((await api(base, 'PUT', `/api/v1/users/${victim.id}/role`, { token: other, body: { role: 'analyst' } })).status).toBe(404)
    expect((await api(base, 'POST', `/api/v1/users/${victim.id}/deactivate`, { token: other })).status).toBe(404)
    expect((await api(base, 'POST', `/api/v1/users/${victim.id}/password`, { token: other, body: { password: 'hijacked password' } })).status).toBe(404)
    const after = await api(base, 'GET', `/api/v1/users/${victim.id}`, { token: admin })
    expect(after.body).toMatchObject({ role: 'dispatcher', active: true })
    expect((await loginPair(victim.email, victim.password)).status).toBe(200)
    expect(org.body.admin.id).toBeDefined()
  })

  it('lets no role without users:manage administer users', async () => {
    for (const role of ['fleet_manager', 'dispatcher', 'support_agent', 'analyst', 'driver', 'auditor']) {
      const u = await createUser(admin, role)
      const token = await login(base, u.email, u.password)
      const res = await api(base, 'POST', '/api/v1/users', { token, body: { email: email('x'), password: 'a long password', name: 'x', role: 'driver' } })
      expect(res.status, role).toBe(403)
    }
  })
})

describe('audit log API', () => {
  it('lets an auditor read the organization log newest first, filtered by entity, in cursor pages', async () => {
    const auditor = await createUser(admin, 'auditor')
    const token = await login(base, auditor.email, auditor.password)
    const target = await createUser(admin, 'analyst')
    await api(base, 'PUT', `/api/v1/users/${target.id}/role`, { token: admin, body: { role: 'dispatcher' } })
    await api(base, 'POST', `/api/v1/users/${target.id}/deactivate`, { token: admin })

    const all = await api(base, 'GET', `/api/v1/audit?entityType=user&entityId=${target.id}`, { token })
    expect(all.status).toBe(200)
    expect(all.body.items.map((e: { action: string }) => e.action)).toEqual(['user.deactivate', 'user.role_change', 'user.create'])
    expect(all.body.items[1]).toMatchObject({ before: { role: 'analyst' }, after: { role: 'dispatcher' }, actorEmail: 'admin@test.local' })
    expect(all.body.items[0].requestId).toBeTruthy()

    const first = await api(base, 'GET', `/api/v1/audit?entityId=${target.id}&limit=2`, { token })
    const second = await api(base, 'GET', `/api/v1/audit?entityId=${target.id}&limit=2&cursor=${first.body.nextCursor}`, { token })
    const ids = all.body.items.map((e: { id: string }) => Number(e.id))
    expect(ids).toEqual([...ids].sort((a, b) => b - a))
    expect([...first.body.items, ...second.body.items].map((e: { id: string }) => e.id)).toEqual(all.body.items.map((e: { id: string }) => e.id))
    expect(second.body.nextCursor).toBeNull()

    const logins = await api(base, 'GET', `/api/v1/audit?action=auth.login&actorId=${auditor.id}`, { token })
    expect(logins.body.items).toHaveLength(1)
    const empty = await api(base, 'GET', '/api/v1/audit?from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z', { token })
    expect([empty.status, empty.body.items]).toEqual([200, []])
    expect((await api(base, 'GET', '/api/v1/audit?cursor=bm9wZQ', { token })).status).toBe(400)
    // Any RFC 3339 date-time is taken: far years, odd offsets, a leap second.
    for (const at of ['0267-04-20T19:57:44.7412-20:16', '9999-12-31T23:59:60Z', '1990-06-30T23:59:60+00:00']) {
      expect((await api(base, 'GET', `/api/v1/audit?from=${encodeURIComponent(at)}`, { token })).status, at).toBe(200)
    }
  })

  it('refuses roles without audit:read and shows another organization none of these rows', async () => {
    const dispatcher = await createUser(admin, 'dispatcher')
    expect((await api(base, 'GET', '/api/v1/audit', { token: await login(base, dispatcher.email, dispatcher.password) })).status).toBe(403)
    const otherEmail = email('audit-other')
    await api(base, 'POST', '/api/v1/organizations', { token: admin, body: { name: 'Elsewhere', admin: { email: otherEmail, password: 'elsewhere password' } } })
    const other = await login(base, otherEmail, 'elsewhere password')
    const res = await api(base, 'GET', '/api/v1/audit?limit=500', { token: other })
    expect(res.status).toBe(200)
    // Its creation (by the platform admin) and its admin's login, nothing of the first organization.
    for (const e of res.body.items) expect([otherEmail, 'admin@test.local']).toContain(e.actorEmail)
    expect(res.body.items.map((e: { action: string }) => e.action).sort()).toEqual(['auth.login', 'organization.create'])
  })

  it('exports CSV with a header and one line per row', async () => {
    const auditor = await createUser(admin, 'auditor')
    const token = await login(base, auditor.email, auditor.password)
    const res = await fetch(`${base}/api/v1/audit/export?action=user.create`, { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/)
    expect(res.headers.get('content-disposition')).toMatch(/attachment; filename="audit-/)
    const lines = (await res.text()).trimEnd().split('\r\n')
    expect(lines[0]).toBe('id,at,actorId,actorEmail,action,entityType,entityId,requestId,ip,before,after')
    const json = await api(base, 'GET', '/api/v1/audit?action=user.create&limit=500', { token })
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(json.body.items.map((e: { id: string }) => e.id))
    expect(lines[1]).toContain(',user.create,user,')
  })
})

describe('CSV cells', () => {
  it('quotes separators and neutralises spreadsheet formulas', () => {
    expect(csvCell('plain')).toBe('plain')
    expect(csvCell('a,b')).toBe('"a,b"')
    expect(csvCell('say "hi"')).toBe('"say ""hi"""')
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`)
    expect(csvCell('+1')).toBe("'+1")
    expect(csvCell(null)).toBe('')
    expect(csvCell({ role: 'x' })).toBe('"{""role"":""x""}"')
  })
})

describe('the roles table in the README', () => {
  it('lists exactly the roles and permissions of api/permissions.ts', async () => {
    const readme = await readFile(path.join(PACKAGE_ROOT, 'README.md'), 'utf8')
    const start = readme.indexOf('| role | permissions |')
    const rows = readme.slice(start, readme.indexOf('\n\n', start)).split('\n').slice(2)
    const table = Object.fromEntries(rows.map((l) => {
      const [role, perms] = l.split('|').slice(1, 3).map((c) => c.trim())
      return [role!.replaceAll('`', ''), [...perms!.matchAll(/`([^`]+)`/g)].map((m) => m[1])]
    }))
    expect(table).toEqual(Object.fromEntries(Object.entries(ROLES).map(([r, ps]) => [r, [...ps]])))
  })
})

describe('the grant rule', () => {
  it('lets a role be given only by someone holding all of its permissions', () => {
    const admin = new Set<Permission>(ROLES.operational_admin)
    for (const role of Object.keys(ROLES) as Array<keyof typeof ROLES>) expect(missingToGrant(admin, role)).toEqual([])
    const manager = new Set<Permission>([...ROLES.fleet_manager, 'users:manage'])
    expect(missingToGrant(manager, 'fleet_manager')).toEqual([])
    expect(missingToGrant(manager, 'dispatcher')).toEqual(['orders:read', 'orders:write'])
    expect(missingToGrant(manager, 'operational_admin')).toContain('audit:read')
    expect(missingToGrant(manager, 'auditor')).toEqual(['audit:read'])
    // own:* comes with the broad permission it narrows.
    expect(missingToGrant(new Set<Permission>(['users:manage', 'vehicles:read', 'tickets:write', 'notifications:read']), 'driver')).toEqual(['own:orders'])
  })
})

describe('rate limits, headers and CORS', () => {
  let limited: TestPlatform
  beforeAll(async () => {
    // API only (no ClickHouse): this file's chDB belongs to the first platform.
    limited = await startTestPlatform({
      AUTH_RATE_LIMIT_PER_ACCOUNT: '3', AUTH_RATE_LIMIT_PER_ADDRESS: '6', AUTH_RATE_LIMIT_WINDOW_S: '60',
      CORS_ORIGINS: 'https://console.example.com',
    }, ['api'])
  })
  afterAll(async () => {
    await limited?.close()
  })

  it('answers 429 with Retry-After after too many attempts on one account, and then on one address', async () => {
    const attempt = (who: string) => api(limited.apiUrl, 'POST', '/api/v1/auth/login', { body: { email: who, password: 'wrong password' } })
    for (let i = 0; i < 3; i++) expect((await attempt('victim@example.com')).status).toBe(401)
    const blocked = await attempt('victim@example.com')
    expect(blocked.status).toBe(429)
    expect(blocked.body.code).toBe('rate_limited')
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
    // Other accounts from the same address: allowed until the address bound (6 attempts in all).
    expect((await attempt('other1@example.com')).status).toBe(401)
    expect((await attempt('other2@example.com')).status).toBe(401)
    expect((await attempt('other3@example.com')).status).toBe(429)
  })

  it('sends security headers on API responses', async () => {
    const res = await api(limited.apiUrl, 'GET', '/healthz')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=/)
    expect(res.headers.get('content-security-policy')).toBeTruthy()
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN')
  })

  it('allows CORS only for configured origins', async () => {
    const preflight = (origin: string) => fetch(`${limited.apiUrl}/api/v1/vehicles`, {
      method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    })
    const ok = await preflight('https://console.example.com')
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://console.example.com')
    const evil = await preflight('https://evil.example.com')
    expect(evil.headers.get('access-control-allow-origin')).toBeNull()
  })
})
