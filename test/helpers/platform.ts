/**
 * Builds the real platform for a test: every role in this process on ephemeral
 * loopback ports, a throwaway PGlite, chDB in a fresh temp directory (one per
 * test file: chDB allows one directory per process).
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { io as ioClient, type Socket } from 'socket.io-client'
import { loadConfig, type Config } from '../../core/config.js'
import { createLogger } from '../../core/logger.js'
import { hashPassword } from '../../core/secrets.js'
import { startPlatform, type Platform, type RoleName } from '../../bin/platform.js'
import { serviceEnv } from './services.js'

export const ADMIN_EMAIL = 'admin@test.local'
export const ADMIN_PASSWORD = 'correct horse battery'

export interface TestPlatform extends Platform {
  apiUrl: string
  mqttUrl: string
}

/** The platform's JWT secret in tests: tests may sign tokens of their own with it. */
export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789'

export function testConfig(env: Record<string, string> = {}): Config {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'fleetpulse-test-'))
  return loadConfig({
    DATA_DIR: dataDir,
    PORT: '0',
    MQTT_PORT: '0',
    MQTT_WS_PORT: '0',
    FLEETPULSE_ADMIN_EMAIL: ADMIN_EMAIL,
    FLEETPULSE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SINK_FLUSH_MS: '100',
    SHUTDOWN_TIMEOUT_MS: '5000',
    // Tests log in often from one address; the limits have their own test.
    AUTH_RATE_LIMIT_PER_ACCOUNT: '100000',
    AUTH_RATE_LIMIT_PER_ADDRESS: '100000',
    ...env,
  })
}

/** The "services" vitest project runs platform tests on PostgreSQL and Kafka (see vitest.config.ts). */
export const ON_SERVICES = process.env.FLEETPULSE_TEST_BACKEND === 'services'

export async function startTestPlatform(env: Record<string, string> = {}, roles: RoleName[] = ['ingest', 'stream', 'api']): Promise<TestPlatform> {
  const services = ON_SERVICES ? await serviceEnv() : undefined
  const config = testConfig({ ...services?.env, ...env })
  let platform: Platform
  try {
    platform = await startPlatform(config, roles, { logger: createLogger(config.logLevel), pgliteDir: 'memory://' })
  } catch (err) {
    await services?.cleanup()
    throw err
  }
  const close = platform.close
  return Object.assign(platform, {
    apiUrl: platform.urls.api ?? '',
    mqttUrl: platform.urls.mqtt ?? '',
    close: async () => {
      await close()
      await services?.cleanup()
    },
  })
}

export interface ApiResponse<T = any> {
  status: number
  headers: Headers
  body: T
}

export async function api<T = any>(base: string, method: string, url: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`
  // A FormData body goes as multipart/form-data (fetch sets the boundary); anything else as JSON.
  const form = opts.body instanceof FormData
  if (opts.body !== undefined && !form) headers['content-type'] = 'application/json'
  const payload = opts.body === undefined ? undefined : form ? (opts.body as FormData) : JSON.stringify(opts.body)
  const res = await fetch(`${base}${url}`, { method, headers, body: payload })
  const text = await res.text()
  let body: any = text
  try {
    body = text ? JSON.parse(text) : undefined
  } catch {
    // not JSON (e.g. /metrics)
  }
  return { status: res.status, headers: res.headers, body }
}

export async function login(base: string, email = ADMIN_EMAIL, password = ADMIN_PASSWORD): Promise<string> {
  const res = await api(base, 'POST', '/api/v1/auth/login', { body: { email, password } })
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.accessToken as string
}

/** A new user of the admin's organization with the role, logged in: its access token. */
export async function tokenForRole(base: string, adminToken: string, role: string): Promise<string> {
  const email = `${role}-${randomUUID()}@example.com`
  const res = await api(base, 'POST', '/api/v1/users', { token: adminToken, body: { email, password: 'role user password', name: role, role } })
  if (res.status !== 201) throw new Error(`create ${role}: ${res.status} ${JSON.stringify(res.body)}`)
  return login(base, email, 'role user password')
}

export interface ProvisionedVehicle {
  vehicleId: string
  deviceId: string
  secret: string
  topic: string
}

export async function provisionVehicle(base: string, token: string, name = 'Test truck'): Promise<ProvisionedVehicle> {
  const v = await api(base, 'POST', '/api/v1/vehicles', { token, body: { name } })
  if (v.status !== 201) throw new Error(`create vehicle: ${v.status} ${JSON.stringify(v.body)}`)
  const d = await api(base, 'POST', `/api/v1/vehicles/${v.body.id}/devices`, { token, body: { kind: 'gps' } })
  if (d.status !== 201) throw new Error(`provision device: ${d.status} ${JSON.stringify(d.body)}`)
  return { vehicleId: v.body.id, deviceId: d.body.id, secret: d.body.secret, topic: d.body.topic }
}

/** A second organization with its own admin, straight in the database (org management is a later API). */
export async function createOrganization(platform: Platform, name: string, email: string, password: string): Promise<string> {
  const pool = platform.postgres.pool
  const org = await pool.query<{ id: string }>('INSERT INTO organizations (name) VALUES ($1) RETURNING id', [name])
  const orgId = org.rows[0]!.id
  await pool.query(
    `INSERT INTO users (org_id, email, name, password_hash, role) VALUES ($1, $2, $3, $4, 'operational_admin')`,
    [orgId, email, name, await hashPassword(password)],
  )
  return orgId
}

export function connectDevice(url: string, device: { deviceId: string; secret: string }, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, {
    username: device.deviceId,
    password: device.secret,
    clientId: device.deviceId,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts,
  })
}

/** Resolves with the CONNACK return code of a refused connection (undefined if it was accepted). */
export function refusedCode(url: string, opts: IClientOptions): Promise<number | undefined> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
    client.once('connect', () => {
      client.end(true)
      resolve(undefined)
    })
    client.once('error', (err: Error & { code?: number }) => {
      client.end(true)
      resolve(err.code)
    })
  })
}

export function connectLive(apiUrl: string, token: string | undefined): Socket {
  return ioClient(`${apiUrl}/live`, { auth: token === undefined ? {} : { token }, transports: ['websocket'], reconnection: false, forceNew: true })
}

export async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, { timeoutMs = 10_000, intervalMs = 50, what = 'condition' } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

export async function clickhouseRows<T>(platform: Platform, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await platform.clickhouse!.client.query({ query, query_params: params, format: 'JSONEachRow' })
  return rs.json<T>()
}
