/**
 * REST side of the simulator: log in, create vehicles and their devices, and
 * keep the resulting credentials in a file so a restart can reuse them.
 */
import { randomInt } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import type { VehicleSnapshot } from './motion.js'
import { mapPool } from './pool.js'

export interface ProvisionedDevice {
  vehicleId: string
  deviceId: string
  secret: string
  /** MQTT topic for telemetry; derived from deviceId when absent. */
  topic?: string
  /** Where the vehicle was when the last run stopped, so a restart continues seq and odometer. */
  state?: VehicleSnapshot
}

/** An API failure, carrying the problem+json `code`/`detail` (or a synthetic code for transport errors). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`)
    this.name = 'ApiError'
  }
}

export interface AuthTokens {
  accessToken: string
  refreshToken: string
}

const REQUEST_TIMEOUT_MS = 15_000

export function telemetryTopic(deviceId: string): string {
  return `devices/${deviceId}/telemetry`
}

export class ApiClient {
  private tokens: AuthTokens | undefined

  constructor(
    readonly baseUrl: string,
    private readonly email: string,
    private readonly password: string,
  ) {}

  async login(): Promise<AuthTokens> {
    const body = await this.send('POST', '/api/v1/auth/login', { email: this.email, password: this.password }, false)
    const tokens = body as Partial<AuthTokens> | undefined
    if (typeof tokens?.accessToken !== 'string' || typeof tokens.refreshToken !== 'string') {
      throw new ApiError(200, 'BAD_RESPONSE', 'login response lacks accessToken/refreshToken')
    }
    this.tokens = { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken }
    return this.tokens
  }

  /** Authenticated request; logs in again once if the access token has expired meanwhile. */
  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    if (!this.tokens) await this.login()
    try {
      return await this.send(method, path, body, true)
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err
      await this.login()
      return this.send(method, path, body, true)
    }
  }

  private async send(method: string, path: string, body: unknown, auth: boolean): Promise<unknown> {
    const url = new URL(path, this.baseUrl).toString()
    const headers: Record<string, string> = { accept: 'application/json' }
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (auth && this.tokens) headers.authorization = `Bearer ${this.tokens.accessToken}`
    let res: Response
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      })
    } catch (err) {
      // fetch hides the socket error (ECONNREFUSED, ...) in `cause`.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause
      const why = cause?.code ?? cause?.message ?? (err as Error).message
      throw new ApiError(0, 'API_UNREACHABLE', `${method} ${url} failed: ${why}`)
    }
    const text = await res.text()
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      parsed = undefined
    }
    if (!res.ok) {
      const p = (parsed ?? {}) as { code?: unknown; detail?: unknown; title?: unknown }
      const code = typeof p.code === 'string' ? p.code : `HTTP_${res.status}`
      const detail =
        typeof p.detail === 'string' ? p.detail : typeof p.title === 'string' ? p.title : res.statusText || text.slice(0, 200)
      throw new ApiError(res.status, code, `${detail} (${method} ${path})`)
    }
    return parsed
  }
}

export interface ProvisionOptions {
  client: ApiClient
  count: number
  /** Requests in flight at once. Default 8. */
  concurrency?: number
  /** Vehicle names are `<prefix> <n>`; defaults to a per-run tag so runs stay distinguishable. */
  namePrefix?: string
  signal?: AbortSignal
  onProgress?: (done: number, total: number) => void
}

const LETTERS = 'ABCDEFGHIJKLMNOPRSTUVWXYZ'

/** Creates `count` vehicles with one GPS device each. */
export async function provisionFleet(opts: ProvisionOptions): Promise<ProvisionedDevice[]> {
  const tag = Array.from({ length: 2 }, () => LETTERS[randomInt(LETTERS.length)]).join('')
  const prefix = opts.namePrefix ?? `Sim ${tag}`
  const indices = Array.from({ length: opts.count }, (_, i) => i)
  let done = 0
  return mapPool(
    indices,
    opts.concurrency ?? 8,
    async (i) => {
      // Berlin-style plate, unique within the run; beyond 9999 vehicles the number would not fit.
      const plate = i < 9999 ? `B-${tag} ${i + 1}` : undefined
      const vehicle = (await opts.client.request('POST', '/api/v1/vehicles', {
        name: `${prefix} ${String(i + 1).padStart(4, '0')}`,
        ...(plate ? { plate } : {}),
      })) as { id?: unknown } | undefined
      if (typeof vehicle?.id !== 'string') throw new ApiError(201, 'BAD_RESPONSE', 'vehicle response lacks id')
      const device = (await opts.client.request('POST', `/api/v1/vehicles/${encodeURIComponent(vehicle.id)}/devices`, {
        kind: 'gps',
      })) as { id?: unknown; secret?: unknown; topic?: unknown } | undefined
      if (typeof device?.id !== 'string' || typeof device.secret !== 'string') {
        throw new ApiError(201, 'BAD_RESPONSE', 'device response lacks id/secret')
      }
      opts.onProgress?.(++done, opts.count)
      return {
        vehicleId: vehicle.id,
        deviceId: device.id,
        secret: device.secret,
        topic: typeof device.topic === 'string' ? device.topic : telemetryTopic(device.id),
      }
    },
    opts.signal,
  )
}

/** Reads a fleet file; undefined when it does not exist, an error when it is malformed. */
export async function loadFleetFile(path: string): Promise<ProvisionedDevice[] | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const data: unknown = JSON.parse(text)
  if (!Array.isArray(data)) throw new Error(`${path}: expected a JSON array of {vehicleId, deviceId, secret}`)
  return data.map((raw: unknown, i) => {
    const e = (raw ?? {}) as Record<string, unknown>
    if (typeof e.vehicleId !== 'string' || typeof e.deviceId !== 'string' || typeof e.secret !== 'string') {
      throw new Error(`${path}[${i}]: needs string vehicleId, deviceId and secret`)
    }
    const device: ProvisionedDevice = { vehicleId: e.vehicleId, deviceId: e.deviceId, secret: e.secret }
    if (typeof e.topic === 'string') device.topic = e.topic
    const s = e.state as Partial<VehicleSnapshot> | undefined
    if (s && [s.lat, s.lon, s.odometer, s.seq].every((v) => typeof v === 'number' && Number.isFinite(v))) {
      device.state = s as VehicleSnapshot
    }
    return device
  })
}

/** Writes atomically with owner-only permissions: the file holds device secrets. */
export async function saveFleetFile(path: string, devices: readonly ProvisionedDevice[]): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(devices, null, 2)}\n`, { mode: 0o600 })
  await rename(tmp, path)
}
