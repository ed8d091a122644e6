/**
 * Notifications on real components: the pg-boss queue on PGlite (and on
 * PostgreSQL when DATABASE_URL is set), a real SMTP server, webhook and SMS
 * receivers on loopback HTTP (the SMS one stands in for the vendor), the REST
 * routes through Fastify's inject with real access tokens.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { SMTPServer } from 'smtp-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authenticateToken } from '../api/access.js'
import { TokenService } from '../api/auth/tokens.js'
import { UsersRepository } from '../api/auth/users.repository.js'
import { AppError, registerErrorHandling } from '../api/errors.js'
import { isPrivateAddress } from '../api/notifications/http.client.js'
import { createNotifications, type Notifications, type NotificationsConfig } from '../api/notifications/notifications.module.js'
import { retryDelayMs } from '../api/notifications/notifications.dispatcher.js'
import { notificationsRoutes } from '../api/notifications/notifications.routes.js'
import { NOTIFICATIONS_READ } from '../api/notifications/notifications.service.js'
import { registerValidation } from '../api/validation.js'
import { startJobQueue, type JobQueue } from '../core/jobs.js'
import { createLogger } from '../core/logger.js'
import { migratePostgres } from '../core/migrate.js'
import { createPostgres, type Postgres } from '../core/postgres.js'
import { DELIVERY_JOB, type Notification } from '../schemas/notifications.v1.js'
import { freshDatabase } from './helpers/services.js'

const logger = createLogger((process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent')
const JWT_SECRET = 'notifications-test-secret-0123456789abcdef'
const WEBHOOK_SECRET = 'whsec_test_0123456789abcdefghijklmnop'

async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// --- the world outside: SMTP, webhook and SMS receivers on loopback

interface Mail { from: string; to: string[]; user: string | undefined; raw: string }

async function startSmtp(): Promise<{ url: string; mails: Mail[]; close(): Promise<void> }> {
  const mails: Mail[] = []
  const server = new SMTPServer({
    // Plain SMTP on loopback: no STARTTLS offer (its built-in test certificate would not verify).
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: false,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'mailer' && auth.password === 'mail-password') return callback(null, { user: auth.username })
      callback(new Error('bad credentials'))
    },
    onData(stream, session, callback) {
      let raw = ''
      stream.setEncoding('utf8')
      stream.on('data', (chunk: string) => (raw += chunk))
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user as string | undefined,
          raw,
        })
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.server.address() as AddressInfo
  return { url: `smtp://mailer:mail-password@127.0.0.1:${port}`, mails, close: () => new Promise((r) => server.close(() => r())) }
}

interface Received { at: number; headers: IncomingHttpHeaders; body: string }

/** An HTTP receiver answering each request with the next status of `statuses` (the last one repeats). */
async function startReceiver(statuses: number[]): Promise<{ url: string; requests: Received[]; close(): Promise<void> }> {
  const requests: Received[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => (body += chunk))
    req.on('end', () => {
      requests.push({ at: Date.now(), headers: req.headers, body })
      res.statusCode = statuses[Math.min(requests.length, statuses.length) - 1]!
      res.end(res.statusCode < 300 ? 'ok' : 'try later')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hooks/fleetpulse`,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()) }),
  }
}

/** What a receiver does: HMAC-SHA256 over "<t>.<raw body>" with the shared secret, compared in constant time. */
function verifySignature(header: string | string[] | undefined, body: string, secret: string): { t: number } | undefined {
  const parts = Object.fromEntries(String(header).split(',').map((kv) => kv.split('=') as [string, string]))
  if (!parts.t || !parts.v1) return undefined
  const expected = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest()
  const given = Buffer.from(parts.v1, 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
  return { t: Number(parts.t) }
}

// --- databases

const BACKENDS = ['pglite', ...(process.env.DATABASE_URL ? ['postgresql'] : [])] as const

interface TestDatabase {
  /** Connects (PGlite: opens the data directory again) to the same database each call. */
  open(): Promise<Postgres>
  drop(): Promise<void>
}

async function newDatabase(backend: (typeof BACKENDS)[number], durable: boolean): Promise<TestDatabase> {
  if (backend === 'postgresql') {
    const db = await freshDatabase()
    return { open: () => createPostgres({ databaseUrl: db.url, pgliteDir: 'memory://', logger }), drop: db.drop }
  }
  if (!durable) return { open: () => createPostgres({ databaseUrl: undefined, pgliteDir: 'memory://', logger }), drop: async () => {} }
  const dir = mkdtempSync(path.join(tmpdir(), 'fleetpulse-notifications-'))
  return { open: () => createPostgres({ databaseUrl: undefined, pgliteDir: path.join(dir, 'pglite'), logger }), drop: () => rm(dir, { recursive: true, force: true }) }
}

interface Org { orgId: string; users: Array<{ id: string; email: string; role: string }> }

async function seedOrg(pg: Postgres, roles: Array<{ role: string; active?: boolean }>): Promise<Org> {
  const tag = randomUUID().slice(0, 8)
  const org = await pg.pool.query<{ id: string }>('INSERT INTO organizations (name) VALUES ($1) RETURNING id', [`Org ${tag}`])
  const orgId = org.rows[0]!.id
  const users: Org['users'] = []
  for (const [i, r] of roles.entries()) {
    const email = `${r.role}-${i}-${tag}@example.com`
    const { rows } = await pg.pool.query<{ id: string }>(
      `INSERT INTO users (org_id, email, name, password_hash, role, active) VALUES ($1, $2, $3, 'not-a-hash', $4, $5) RETURNING id`,
      [orgId, email, `${r.role} ${i}`, r.role, r.active ?? true],
    )
    users.push({ id: rows[0]!.id, email, role: r.role })
  }
  return { orgId, users }
}

async function setSettings(pg: Postgres, orgId: string, channels: Record<string, string[]>, webhookUrl?: string) {
  await pg.pool.query(
    `INSERT INTO notification_settings (org_id, channels, webhook_url, webhook_secret) VALUES ($1, $2, $3, $4)
     ON CONFLICT (org_id) DO UPDATE SET channels = EXCLUDED.channels, webhook_url = EXCLUDED.webhook_url, webhook_secret = EXCLUDED.webhook_secret`,
    [orgId, JSON.stringify(channels), webhookUrl ?? null, webhookUrl ? WEBHOOK_SECRET : null],
  )
}

const deliveryOf = async (pg: Postgres, id: string) =>
  (await pg.pool.query('SELECT * FROM notification_deliveries WHERE id = $1', [id])).rows[0]
const attemptsOf = async (pg: Postgres, id: string) =>
  (await pg.pool.query('SELECT * FROM notification_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt', [id])).rows

// --- the module under test

const CONFIG: NotificationsConfig = {
  smtpUrl: undefined,
  mailFrom: 'fleetpulse <noreply@fleetpulse.test>',
  smsUrl: undefined,
  smsToken: undefined,
  maxAttempts: 5,
  retryBaseMs: 200,
  retryMaxMs: 2000,
  concurrency: 4,
  sendTimeoutMs: 5000,
  allowPrivateWebhooks: true,
}

interface Stack { jobs: JobQueue; notifications: Notifications; pushes: Array<{ userId: string; notification: Notification }>; stop(): Promise<void> }

async function startStack(pg: Postgres, config: Partial<NotificationsConfig> = {}, work = true): Promise<Stack> {
  const jobs = await startJobQueue({ pool: pg.pool, logger, pollIntervalMs: 50 })
  const notifications = createNotifications({ pool: pg.pool, jobs, logger, config: { ...CONFIG, ...config } })
  const pushes: Stack['pushes'] = []
  notifications.onInApp((userId, notification) => pushes.push({ userId, notification }))
  await notifications.start({ work })
  return {
    jobs, notifications, pushes,
    stop: async () => {
      await jobs.stop(5000)
      await notifications.close()
    },
  }
}

/** The REST routes behind the real token check; every role gets notifications:read, as api/permissions.ts will give it. */
async function buildRestApi(pg: Postgres, notifications: Notifications): Promise<FastifyInstance> {
  const tokens = new TokenService(JWT_SECRET, 900)
  const users = new UsersRepository(pg.pool)
  const app = Fastify().withTypeProvider<TypeBoxTypeProvider>()
  registerValidation(app)
  registerErrorHandling(app, [])
  app.addHook('onRequest', async (req) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')
    if (!match) throw new AppError('unauthorized')
    const principal = await authenticateToken(match[1]!, tokens, users)
    if (!principal) throw new AppError('invalid_token')
    principal.permissions.add(NOTIFICATIONS_READ)
    req.principal = principal
    const permission = req.routeOptions.config.permission
    if (permission && !principal.permissions.has(permission)) throw new AppError('forbidden')
  })
  await app.register(notificationsRoutes, { service: notifications.service })
  await app.ready()
  return app
}

const tokenFor = (org: Org, user: { id: string; role: string }) =>
  `Bearer ${new TokenService(JWT_SECRET, 900).signAccess({ userId: user.id, orgId: org.orgId, role: user.role, platformAdmin: false })}`

describe('retry backoff', () => {
  it('doubles from the base up to the cap, within ±20 % jitter', () => {
    const policy = { retryBaseMs: 200, retryMaxMs: 1000 }
    for (let i = 0; i < 50; i++) {
      for (const [attempt, nominal] of [[1, 200], [2, 400], [3, 800], [4, 1000], [30, 1000]] as const) {
        const d = retryDelayMs(policy, attempt)
        expect(d).toBeGreaterThanOrEqual(nominal * 0.8)
        expect(d).toBeLessThanOrEqual(nominal * 1.2)
      }
    }
  })
})

describe('webhook address guard', () => {
  it('treats loopback, private, link-local and mapped addresses as private', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1']) {
      expect(isPrivateAddress(a), a).toBe(true)
    }
    for (const a of ['93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(isPrivateAddress(a), a).toBe(false)
  })
})

describe.each(BACKENDS)('notifications on %s', (backend) => {
  let database: TestDatabase
  let pg: Postgres

  beforeAll(async () => {
    database = await newDatabase(backend, false)
    pg = await database.open()
    await migratePostgres(pg, logger)
  })
  afterAll(async () => {
    await pg?.close()
    await database?.drop()
  })

  it('emails the recipient through a real SMTP server, authenticated, with the title and body', async () => {
    const smtp = await startSmtp()
    const stack = await startStack(pg, { smtpUrl: smtp.url })
    try {
      const org = await seedOrg(pg, [{ role: 'fleet_manager' }])
      const user = org.users[0]!
      await setSettings(pg, org.orgId, { 'vehicle.submitted': ['in_app', 'email'] })
      const sent = await stack.notifications.dispatcher.notify({
        orgId: org.orgId, recipient: { userId: user.id }, kind: 'vehicle.submitted',
        entity: { type: 'vehicle', id: 'veh-42' }, title: 'Truck 42 awaits review', body: 'Truck 42 was submitted for review by Dana.',
      })
      expect(sent.notificationIds).toHaveLength(1)
      const mail = await eventually(() => smtp.mails[0], 'the email')
      expect(mail.to).toEqual([user.email])
      expect(mail.from).toBe('noreply@fleetpulse.test')
      expect(mail.user).toBe('mailer')
      expect(mail.raw).toMatch(/^Subject: Truck 42 awaits review\r?$/m)
      expect(mail.raw).toContain('Truck 42 was submitted for review by Dana.')
      expect(mail.raw).toMatch(/^x-fleetpulse-kind: vehicle\.submitted\r?$/im)

      const emailDelivery = (await pg.pool.query(`SELECT id FROM notification_deliveries WHERE event_id = $1 AND channel = 'email'`, [sent.eventId])).rows[0]
      await eventually(async () => (await deliveryOf(pg, emailDelivery.id)).status === 'delivered', 'the delivery marked delivered')
      const [log] = await attemptsOf(pg, emailDelivery.id)
      expect(log).toMatchObject({ attempt: 1, status: 'delivered', response_code: 250, error: null })
      // And the in-app push went to the user's listener.
      await eventually(() => stack.pushes.length === 1, 'the live push')
      expect(stack.pushes[0]).toMatchObject({ userId: user.id, notification: { id: sent.notificationIds[0], kind: 'vehicle.submitted', read: false } })
      expect(smtp.mails).toHaveLength(1)
    } finally {
      await stack.stop()
      await smtp.close()
    }
  })

  it('retries a failing webhook with backoff; after two failures it gets the event exactly once more, signed', async () => {
    const receiver = await startReceiver([500, 503, 200])
    const stack = await startStack(pg)
    try {
      const org = await seedOrg(pg, [{ role: 'operational_admin' }])
      await setSettings(pg, org.orgId, { 'driver.background_check_passed': ['webhook'] }, receiver.url)
      const sent = await stack.notifications.dispatcher.notify({
        orgId: org.orgId, recipient: { role: 'operational_admin' }, kind: 'driver.background_check_passed',
        entity: { type: 'driver', id: 'drv-7' }, title: 'Background check passed', body: 'Sam Driver passed the background check.',
        data: { driverId: 'drv-7', vendor: 'checkr' },
      })
      const [deliveryId] = sent.deliveryIds
      await eventually(async () => (await deliveryOf(pg, deliveryId!)).status === 'delivered', 'the webhook delivered')
      await sleep(1000) // nothing more may arrive
      expect(receiver.requests).toHaveLength(3)

      for (const r of receiver.requests) {
        const signed = verifySignature(r.headers['x-fleetpulse-signature'], r.body, WEBHOOK_SECRET)
        expect(signed, 'a valid signature').toBeDefined()
        expect(Math.abs(signed!.t - Date.now() / 1000)).toBeLessThan(60)
        expect(verifySignature(r.headers['x-fleetpulse-signature'], r.body, `${WEBHOOK_SECRET}x`)).toBeUndefined()
        expect(r.headers['x-fleetpulse-delivery']).toBe(deliveryId)
        expect(r.headers['x-fleetpulse-event']).toBe('driver.background_check_passed')
        expect(r.headers['content-type']).toBe('application/json')
        expect(JSON.parse(r.body)).toEqual({
          id: sent.eventId, type: 'driver.background_check_passed', version: 1, createdAt: expect.any(String), organizationId: org.orgId,
          entity: { type: 'driver', id: 'drv-7' }, title: 'Background check passed', body: 'Sam Driver passed the background check.',
          data: { driverId: 'drv-7', vendor: 'checkr' },
        })
      }
      // Exponential backoff: ~200 ms, then ~400 ms (each ±20 %, plus up to a poll interval).
      const gaps = [receiver.requests[1]!.at - receiver.requests[0]!.at, receiver.requests[2]!.at - receiver.requests[1]!.at]
      expect(gaps[0]).toBeGreaterThanOrEqual(150)
      expect(gaps[1]).toBeGreaterThanOrEqual(310)

      const log = await attemptsOf(pg, deliveryId!)
      expect(log.map((a) => [a.attempt, a.status, a.response_code])).toEqual([[1, 'failed', 500], [2, 'failed', 503], [3, 'delivered', 200]])
      expect(log[0].error).toMatch(/^HTTP 500/)
      expect(await deliveryOf(pg, deliveryId!)).toMatchObject({ status: 'delivered', attempts: 3, last_response_code: 200, next_attempt_at: null })

      // A job delivered again (a worker died after logging its attempt) sends nothing and logs nothing.
      for (const attempt of [1, 2, 3]) await stack.jobs.send(DELIVERY_JOB, { deliveryId: deliveryId!, attempt })
      stack.jobs.wake(DELIVERY_JOB)
      await sleep(500)
      expect(receiver.requests).toHaveLength(3)
      expect(await attemptsOf(pg, deliveryId!)).toHaveLength(3)
    } finally {
      await stack.stop()
      await receiver.close()
    }
  })

  it('marks a delivery dead after the configured number of tries, and stops trying', async () => {
    const receiver = await startReceiver([503])
    const stack = await startStack(pg, { maxAttempts: 3, retryBaseMs: 100 })
    try {
      const org = await seedOrg(pg, [{ role: 'fleet_manager' }])
      await setSettings(pg, org.orgId, { '*': ['webhook'] }, receiver.url)
      const sent = await stack.notifications.dispatcher.notify({
        orgId: org.orgId, recipient: { role: 'fleet_manager' }, kind: 'document.expiring',
        entity: { type: 'document', id: 'doc-1' }, title: 'Insurance expires soon', body: 'Truck 9 insurance expires in 14 days.',
      })
      const [deliveryId] = sent.deliveryIds
      await eventually(async () => (await deliveryOf(pg, deliveryId!)).status === 'dead', 'the delivery dead')
      await sleep(1000)
      expect(receiver.requests).toHaveLength(3)
      expect((await attemptsOf(pg, deliveryId!)).map((a) => [a.attempt, a.status, a.response_code])).toEqual([[1, 'failed', 503], [2, 'failed', 503], [3, 'failed', 503]])
      expect(await deliveryOf(pg, deliveryId!)).toMatchObject({ status: 'dead', attempts: 3, max_attempts: 3, last_response_code: 503 })
      const open = await pg.pool.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE data->>'deliveryId' = $1 AND state < 'completed'`, [deliveryId])
      expect(open.rows[0].n).toBe(0)
    } finally {
      await stack.stop()
      await receiver.close()
    }
  })

  it('refuses webhook URLs on private addresses unless allowed, without sending anything', async () => {
    const receiver = await startReceiver([200])
    const stack = await startStack(pg, { allowPrivateWebhooks: false, maxAttempts: 1 })
    try {
      const org = await seedOrg(pg, [{ role: 'fleet_manager' }])
      await setSettings(pg, org.orgId, { '*': ['webhook'] }, receiver.url)
      const sent = await stack.notifications.dispatcher.notify({
        orgId: org.orgId, recipient: { role: 'fleet_manager' }, kind: 'vehicle.submitted',
        entity: { type: 'vehicle', id: 'veh-ssrf' }, title: 'Internal', body: 'Must not reach loopback.',
      })
      await eventually(async () => (await deliveryOf(pg, sent.deliveryIds[0]!)).status === 'dead', 'the delivery refused')
      expect((await deliveryOf(pg, sent.deliveryIds[0]!)).last_error).toMatch(/127\.0\.0\.1 is a private address/)
      expect(receiver.requests).toHaveLength(0)

      const app = await buildRestApi(pg, stack.notifications)
      const admin = await seedOrg(pg, [{ role: 'operational_admin' }])
      for (const url of [receiver.url, 'http://localhost:8080/x', 'http://[::1]/x', 'http://169.254.169.254/latest/meta-data']) {
        const res = await app.inject({
          method: 'PUT', url: '/api/v1/notification-settings', headers: { authorization: tokenFor(admin, admin.users[0]!) },
          payload: { channels: { '*': ['webhook'] }, webhook: { url, secret: WEBHOOK_SECRET } },
        })
        expect(res.statusCode, url).toBe(409)
      }
      await app.close()
    } finally {
      await stack.stop()
      await receiver.close()
    }
  })

  it("fans a role notification out to every active user with the role in that organization, and no one else", async () => {
    const smtp = await startSmtp()
    const stack = await startStack(pg, { smtpUrl: smtp.url })
    try {
      const a = await seedOrg(pg, [{ role: 'dispatcher' }, { role: 'dispatcher' }, { role: 'dispatcher', active: false }, { role: 'analyst' }])
      const b = await seedOrg(pg, [{ role: 'dispatcher' }, { role: 'dispatcher' }])
      await setSettings(pg, a.orgId, { '*': ['in_app', 'email'] })
      await setSettings(pg, b.orgId, { '*': ['in_app', 'email'] })
      const sent = await stack.notifications.dispatcher.notify({
        orgId: a.orgId, recipient: { role: 'dispatcher' }, kind: 'order.unassigned',
        entity: { type: 'order', id: 'ord-1' }, title: 'Order 1 needs a driver', body: 'Order 1 lost its driver.',
      })
      const expected = a.users.slice(0, 2)
      const inboxes = await pg.pool.query('SELECT user_id, org_id FROM notifications WHERE event_id = $1 ORDER BY user_id', [sent.eventId])
      expect(inboxes.rows.map((r) => r.user_id).sort()).toEqual(expected.map((u) => u.id).sort())
      for (const r of inboxes.rows) expect(r.org_id).toBe(a.orgId)

      await eventually(() => smtp.mails.length >= 2 && stack.pushes.length >= 2, 'emails and pushes')
      await sleep(500)
      expect(smtp.mails.flatMap((m) => m.to).sort()).toEqual(expected.map((u) => u.email).sort())
      expect(stack.pushes.map((p) => p.userId).sort()).toEqual(expected.map((u) => u.id).sort())
      const others = await pg.pool.query('SELECT count(*)::int AS n FROM notifications WHERE org_id = $1', [b.orgId])
      expect(others.rows[0].n).toBe(0)
    } finally {
      await stack.stop()
      await smtp.close()
    }
  })

  it('texts users who gave a phone number through the SMS provider, with its token', async () => {
    const provider = await startReceiver([202])
    const stack = await startStack(pg, { smsUrl: provider.url, smsToken: 'sms-token-123' })
    const app = await buildRestApi(pg, stack.notifications)
    try {
      const org = await seedOrg(pg, [{ role: 'driver' }, { role: 'driver' }])
      const [withPhone, withoutPhone] = org.users
      const put = await app.inject({ method: 'PUT', url: '/api/v1/notifications/preferences', headers: { authorization: tokenFor(org, withPhone!) }, payload: { phone: '+4915112345678' } })
      expect(put.statusCode, put.body).toBe(200)
      expect((await app.inject({ method: 'PUT', url: '/api/v1/notifications/preferences', headers: { authorization: tokenFor(org, withoutPhone!) }, payload: { phone: '0151 123' } })).statusCode).toBe(400)
      await setSettings(pg, org.orgId, { 'document.expiring': ['sms'] })
      const sent = await stack.notifications.dispatcher.notify({
        orgId: org.orgId, recipient: { role: 'driver' }, kind: 'document.expiring',
        entity: { type: 'document', id: 'lic-1' }, title: 'Licence expiring', body: 'Your driving licence expires in 30 days.',
      })
      expect(sent.notificationIds).toHaveLength(2)
      expect(sent.deliveryIds).toHaveLength(1)
      await eventually(async () => (await deliveryOf(pg, sent.deliveryIds[0]!)).status === 'delivered', 'the SMS delivered')
      expect(provider.requests).toHaveLength(1)
      expect(provider.requests[0]!.headers.authorization).toBe('Bearer sms-token-123')
      expect(JSON.parse(provider.requests[0]!.body)).toEqual({
        to: '+4915112345678', text: 'Licence expiring: Your driving licence expires in 30 days.', reference: sent.deliveryIds[0],
      })
    } finally {
      await app.close()
      await stack.stop()
      await provider.close()
    }
  })

  it('delivers a notification queued by a process that stopped before any worker ran', async () => {
    const receiver = await startReceiver([200])
    const sender = await startStack(pg, {}, false)
    const org = await seedOrg(pg, [{ role: 'fleet_manager' }])
    await setSettings(pg, org.orgId, { '*': ['webhook'] }, receiver.url)
    const sent = await sender.notifications.dispatcher.notify({
      orgId: org.orgId, recipient: { role: 'fleet_manager' }, kind: 'vehicle.approved',
      entity: { type: 'vehicle', id: 'veh-1' }, title: 'Truck 1 approved', body: 'Truck 1 may drive.',
    })
    await sleep(300)
    expect(receiver.requests).toHaveLength(0)
    await sender.stop()
    const worker = await startStack(pg)
    try {
      await eventually(async () => (await deliveryOf(pg, sent.deliveryIds[0]!)).status === 'delivered', 'the queued delivery')
      expect(receiver.requests).toHaveLength(1)
    } finally {
      await worker.stop()
      await receiver.close()
    }
  })

  it('rolls the notification and its jobs back with the caller\'s transaction', async () => {
    const stack = await startStack(pg)
    try {
      const org = await seedOrg(pg, [{ role: 'fleet_manager' }])
      const client = await pg.pool.connect()
      let eventId: string
      try {
        await client.query('BEGIN')
        const sent = await stack.notifications.dispatcher.notify({
          orgId: org.orgId, recipient: { userId: org.users[0]!.id }, kind: 'vehicle.submitted',
          entity: { type: 'vehicle', id: 'veh-rb' }, title: 'Never', body: 'This is rolled back.',
        }, client)
        eventId = sent.eventId
        expect(sent.deliveryIds).toHaveLength(1)
        await client.query('ROLLBACK')
      } finally {
        client.release()
      }
      expect((await pg.pool.query('SELECT count(*)::int AS n FROM notification_events WHERE id = $1', [eventId])).rows[0].n).toBe(0)
      expect((await pg.pool.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'notifications.deliver.v1' AND state < 'completed' AND data->>'deliveryId' IS NULL`)).rows[0].n).toBe(0)
      await expect(stack.notifications.dispatcher.notify({
        orgId: org.orgId, recipient: { userId: org.users[0]!.id }, kind: 'Not A Kind', entity: { type: 'vehicle', id: 'x' }, title: 't', body: 'b',
      })).rejects.toThrow(/invalid notification: \/kind/)
    } finally {
      await stack.stop()
    }
  })

  describe('REST', () => {
    let stack: Stack
    let app: FastifyInstance
    let org: Org
    let other: Org
    const auditCount = async (action: string, orgId: string) =>
      (await pg.pool.query('SELECT count(*)::int AS n FROM audit_log WHERE action = $1 AND org_id = $2', [action, orgId])).rows[0].n as number

    beforeAll(async () => {
      stack = await startStack(pg)
      app = await buildRestApi(pg, stack.notifications)
      org = await seedOrg(pg, [{ role: 'dispatcher' }, { role: 'dispatcher' }, { role: 'operational_admin' }])
      other = await seedOrg(pg, [{ role: 'dispatcher' }, { role: 'operational_admin' }])
    })
    afterAll(async () => {
      await app?.close()
      await stack?.stop()
    })

    const notifyUser = (o: Org, userId: string, n: number) => stack.notifications.dispatcher.notify({
      orgId: o.orgId, recipient: { userId }, kind: 'ticket.assigned', entity: { type: 'ticket', id: `t-${n}` }, title: `Ticket ${n}`, body: `Ticket ${n} is yours.`,
    })

    it('lists your notifications newest first in cursor pages, filters unread, marks one and all read (audited)', async () => {
      const me = org.users[0]!
      const auth = { authorization: tokenFor(org, me) }
      for (let i = 1; i <= 5; i++) await notifyUser(org, me.id, i)
      await notifyUser(org, org.users[1]!.id, 99) // a colleague's

      const seen: Notification[] = []
      let cursor: string | null = null
      do {
        const res = await app.inject({ method: 'GET', url: `/api/v1/notifications?limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: auth })
        expect(res.statusCode, res.body).toBe(200)
        const body = res.json() as { items: Notification[]; nextCursor: string | null }
        expect(body.items.length).toBeLessThanOrEqual(2)
        seen.push(...body.items)
        cursor = body.nextCursor
      } while (cursor)
      expect(seen.map((n) => n.title)).toEqual(['Ticket 5', 'Ticket 4', 'Ticket 3', 'Ticket 2', 'Ticket 1'])
      expect(seen[0]).toMatchObject({ kind: 'ticket.assigned', entity: { type: 'ticket', id: 't-5' }, body: 'Ticket 5 is yours.', read: false, readAt: null })

      const first = await app.inject({ method: 'POST', url: `/api/v1/notifications/${seen[2]!.id}/read`, headers: auth })
      expect(first.statusCode, first.body).toBe(200)
      expect(first.json()).toMatchObject({ id: seen[2]!.id, read: true, readAt: expect.any(String) })
      const again = await app.inject({ method: 'POST', url: `/api/v1/notifications/${seen[2]!.id}/read`, headers: auth })
      expect(again.json().readAt).toBe(first.json().readAt)
      expect(await auditCount('notification.read', org.orgId)).toBe(2)

      const unread = await app.inject({ method: 'GET', url: '/api/v1/notifications?unread=true', headers: auth })
      expect(unread.json().items.map((n: Notification) => n.title)).toEqual(['Ticket 5', 'Ticket 4', 'Ticket 2', 'Ticket 1'])

      const all = await app.inject({ method: 'POST', url: '/api/v1/notifications/read-all', headers: auth })
      expect(all.statusCode).toBe(200)
      expect(all.json()).toEqual({ updated: 4 })
      expect(await auditCount('notification.read_all', org.orgId)).toBe(1)
      expect((await app.inject({ method: 'GET', url: '/api/v1/notifications?unread=true', headers: auth })).json().items).toEqual([])
      // The colleague's stays unread.
      const theirs = await app.inject({ method: 'GET', url: '/api/v1/notifications?unread=true', headers: { authorization: tokenFor(org, org.users[1]!) } })
      expect(theirs.json().items.map((n: Notification) => n.title)).toEqual(['Ticket 99'])
    })

    it("never shows another user's or organization's notifications, and answers 404 to marking them", async () => {
      const owner = org.users[1]!
      const sent = await notifyUser(org, owner.id, 7)
      const id = sent.notificationIds[0]!
      for (const [o, u] of [[other, other.users[0]!], [org, org.users[0]!]] as const) {
        const auth = { authorization: tokenFor(o, u) }
        const list = await app.inject({ method: 'GET', url: '/api/v1/notifications?limit=200', headers: auth })
        expect(list.json().items.map((n: Notification) => n.id)).not.toContain(id)
        const before = await pg.pool.query('SELECT count(*)::int AS n FROM audit_log')
        const res = await app.inject({ method: 'POST', url: `/api/v1/notifications/${id}/read`, headers: auth })
        expect(res.statusCode).toBe(404)
        expect(res.json().code).toBe('not_found')
        expect((await pg.pool.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n).toBe(before.rows[0].n)
      }
      expect((await pg.pool.query('SELECT read_at FROM notifications WHERE id = $1', [id])).rows[0].read_at).toBeNull()
      expect((await app.inject({ method: 'GET', url: '/api/v1/notifications' })).statusCode).toBe(401)
    })

    it('reads and replaces the organization settings; the webhook secret is never shown, audited without it', async () => {
      const admin = { authorization: tokenFor(org, org.users[2]!) }
      const initial = await app.inject({ method: 'GET', url: '/api/v1/notification-settings', headers: admin })
      expect(initial.statusCode).toBe(200)
      expect(initial.json()).toEqual({ channels: { '*': ['in_app'] }, webhook: null, availableChannels: ['in_app', 'webhook'], updatedAt: null })

      const body = { channels: { '*': ['in_app'], 'vehicle.submitted': ['in_app', 'webhook'] }, webhook: { url: 'https://hooks.example.com/fleet', secret: WEBHOOK_SECRET } }
      const put = await app.inject({ method: 'PUT', url: '/api/v1/notification-settings', headers: admin, payload: body })
      expect(put.statusCode, put.body).toBe(200)
      expect(put.json()).toMatchObject({ channels: body.channels, webhook: { url: 'https://hooks.example.com/fleet', secretHint: `…${WEBHOOK_SECRET.slice(-4)}` } })
      const read = await app.inject({ method: 'GET', url: '/api/v1/notification-settings', headers: admin })
      expect(read.body).not.toContain(WEBHOOK_SECRET)
      expect(put.body).not.toContain(WEBHOOK_SECRET)

      // Moving the URL without a secret keeps the secret.
      const moved = await app.inject({ method: 'PUT', url: '/api/v1/notification-settings', headers: admin, payload: { ...body, webhook: { url: 'https://hooks.example.com/v2' } } })
      expect(moved.statusCode, moved.body).toBe(200)
      expect((await pg.pool.query('SELECT webhook_secret FROM notification_settings WHERE org_id = $1', [org.orgId])).rows[0].webhook_secret).toBe(WEBHOOK_SECRET)

      const audit = await pg.pool.query(`SELECT before, after FROM audit_log WHERE action = 'notification_settings.update' AND org_id = $1 ORDER BY id`, [org.orgId])
      expect(audit.rows).toHaveLength(2)
      expect(JSON.stringify(audit.rows)).not.toContain(WEBHOOK_SECRET)
      expect(audit.rows[1].after.webhook.url).toBe('https://hooks.example.com/v2')

      const notSetUp = await app.inject({ method: 'PUT', url: '/api/v1/notification-settings', headers: admin, payload: { channels: { '*': ['email'] }, webhook: null } })
      expect(notSetUp.statusCode).toBe(409) // no SMTP_URL on this server
      const refusals = [
        { channels: { '*': ['fax'] }, webhook: null },
        { channels: { 'Not A Kind': ['in_app'] }, webhook: null },
        { channels: {}, webhook: { url: 'ftp://example.com/x', secret: WEBHOOK_SECRET } },
        { channels: {}, webhook: { url: 'https://example.com/x', secret: 'short' } },
        { channels: {}, webhook: null, extra: true },
      ]
      for (const payload of refusals) {
        const res = await app.inject({ method: 'PUT', url: '/api/v1/notification-settings', headers: admin, payload })
        expect(res.statusCode, JSON.stringify(payload)).toBe(400)
      }
      const noSecret = await seedOrg(pg, [{ role: 'operational_admin' }])
      const first = await app.inject({
        method: 'PUT', url: '/api/v1/notification-settings', headers: { authorization: tokenFor(noSecret, noSecret.users[0]!) },
        payload: { channels: {}, webhook: { url: 'https://example.com/x' } },
      })
      expect(first.statusCode).toBe(409)
      expect(first.json().detail).toMatch(/secret is required/)

      const dispatcher = { authorization: tokenFor(org, org.users[0]!) }
      expect((await app.inject({ method: 'GET', url: '/api/v1/notification-settings', headers: dispatcher })).statusCode).toBe(403)
      expect((await app.inject({ method: 'PUT', url: '/api/v1/notification-settings', headers: dispatcher, payload: body })).statusCode).toBe(403)
      // The other organization's settings are untouched.
      const theirs = await app.inject({ method: 'GET', url: '/api/v1/notification-settings', headers: { authorization: tokenFor(other, other.users[1]!) } })
      expect(theirs.json().webhook).toBeNull()
    })
  })
})

describe.each(BACKENDS)('a restart between retries, on %s', (backend) => {
  it('still delivers: the next attempt waits in the database and a new process makes it', async () => {
    const database = await newDatabase(backend, true)
    const receiver = await startReceiver([500, 200])
    let pg = await database.open()
    try {
      await migratePostgres(pg, logger)
      const org = await seedOrg(pg, [{ role: 'fleet_manager' }])
      await setSettings(pg, org.orgId, { '*': ['webhook'] }, receiver.url)
      // A long first backoff: the retry is still waiting when the process goes away.
      const first = await startStack(pg, { retryBaseMs: 1500, retryMaxMs: 1500 })
      const sent = await first.notifications.dispatcher.notify({
        orgId: org.orgId, recipient: { role: 'fleet_manager' }, kind: 'vehicle.submitted',
        entity: { type: 'vehicle', id: 'veh-r' }, title: 'Truck R submitted', body: 'Survives a restart.',
      })
      const deliveryId = sent.deliveryIds[0]!
      await eventually(async () => (await deliveryOf(pg, deliveryId)).status === 'retrying', 'the first attempt failed')
      await first.stop()
      await pg.close() // the database goes too (PGlite: its data directory is opened again)
      expect(receiver.requests).toHaveLength(1)

      pg = await database.open()
      const second = await startStack(pg)
      try {
        await eventually(async () => (await deliveryOf(pg, deliveryId)).status === 'delivered', 'the retry after the restart')
        await sleep(500)
        expect(receiver.requests).toHaveLength(2)
        expect(verifySignature(receiver.requests[1]!.headers['x-fleetpulse-signature'], receiver.requests[1]!.body, WEBHOOK_SECRET)).toBeDefined()
        // The backoff held across the restart.
        expect(receiver.requests[1]!.at - receiver.requests[0]!.at).toBeGreaterThanOrEqual(1200 - 50)
        expect((await attemptsOf(pg, deliveryId)).map((a) => [a.attempt, a.status])).toEqual([[1, 'failed'], [2, 'delivered']])
      } finally {
        await second.stop()
      }
    } finally {
      await pg.close().catch(() => {})
      await receiver.close()
      await database.drop()
    }
  })
})

describe.runIf(process.env.DATABASE_URL)('processes starting together on a fresh PostgreSQL database', () => {
  it('each start their job queue and create the same queues, none failing on the race', async () => {
    const database = await newDatabase('postgresql', true)
    const pools = await Promise.all(Array.from({ length: 4 }, () => database.open()))
    const queues: JobQueue[] = []
    try {
      await migratePostgres(pools[0]!, logger)
      // Several rounds: create_queue's deadlock between two fresh creators is a race, not a certainty.
      for (let round = 0; round < 3; round++) {
        const policy = { retryLimit: 1, retryDelayS: 1, expireInS: 60 }
        const started = await Promise.all(pools.map((pg) => startJobQueue({ pool: pg.pool, logger, pollIntervalMs: 50 })))
        queues.push(...started)
        await Promise.all(started.flatMap((jobs) => ['a', 'b', 'c'].map((q) => jobs.createQueue(`race-${round}-${q}`, policy))))
      }
      const { rows } = await pools[0]!.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.queue WHERE name LIKE 'race-%'`)
      expect(rows[0]!.n).toBe(9)
    } finally {
      await Promise.all(queues.map((q) => q.stop(1000)))
      await Promise.all(pools.map((pg) => pg.close()))
      await database.drop()
    }
  })
})
