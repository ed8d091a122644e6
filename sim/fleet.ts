/**
 * MQTT side of the simulator: one client per device, and a single shared
 * timer that walks the fleet so per-vehicle publishes are spread evenly over
 * each tick interval. Exported piecemeal so benchmarks can reuse the parts.
 */
import { performance } from 'node:perf_hooks'
import { connect, type MqttClient } from 'mqtt'
import { Vehicle, hashSeed, type LatLon, type VehicleSnapshot } from './motion.js'
import { mapPool } from './pool.js'
import { telemetryTopic, type ProvisionedDevice } from './provision.js'

export {
  ApiClient,
  ApiError,
  loadFleetFile,
  provisionFleet,
  saveFleetFile,
  type AuthTokens,
  type ProvisionOptions,
  type ProvisionedDevice,
} from './provision.js'

export interface ConnectOptions {
  mqttUrl: string
  /** Connection attempts in flight at once. Default 100. */
  concurrency?: number
  /** Give up on a client that has no CONNACK after this long (MQTT.js retries meanwhile). Default 30 s. */
  connectTimeoutMs?: number
  signal?: AbortSignal
  onProgress?: (connected: number, total: number) => void
}

export interface FleetClient {
  device: ProvisionedDevice
  topic: string
  client: MqttClient
  /** QoS 1 publishes awaiting PUBACK. */
  inflight: number
}

export interface ConnectionStats {
  errors: number
  reconnects: number
  lastError: string | undefined
}

export interface ConnectedFleet {
  clients: FleetClient[]
  stats: ConnectionStats
  connectedCount(): number
  /** Ends every client; forced for those still holding unacknowledged messages. */
  close(): Promise<void>
}

// Socket errors that mean the broker is not there at all; anything else
// (resets, timeouts) MQTT.js retries on its own within the connect timeout.
const FATAL_SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'])

function connectOne(device: ProvisionedDevice, url: string, timeoutMs: number, stats: ConnectionStats): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = connect(url, {
      username: device.deviceId,
      password: device.secret,
      clientId: device.deviceId,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: Math.min(timeoutMs, 10_000),
    })
    // Permanent handlers: an 'error' without a listener would crash the process.
    client.on('error', (err) => {
      stats.errors++
      stats.lastError = `${device.deviceId}: ${err.message}`
    })
    client.on('reconnect', () => stats.reconnects++)
    const settle = (err?: Error): void => {
      clearTimeout(timer)
      client.off('connect', onConnect)
      client.off('error', onError)
      if (!err) return resolve(client)
      client.end(true)
      reject(err)
    }
    const onConnect = (): void => settle()
    const onError = (err: Error & { code?: string | number }): void => {
      // A numeric code is a CONNACK refusal (bad credentials, banned): MQTT.js
      // will not retry it, and neither should we.
      if (typeof err.code === 'number' || (typeof err.code === 'string' && FATAL_SOCKET_ERRORS.has(err.code))) {
        settle(new Error(`device ${device.deviceId}: ${err.message}${typeof err.code === 'string' ? ` (${url})` : ''}`))
      }
    }
    const timer = setTimeout(
      () => settle(new Error(`device ${device.deviceId}: no CONNACK from ${url} within ${timeoutMs} ms`)),
      timeoutMs,
    )
    client.on('connect', onConnect)
    client.on('error', onError)
  })
}

async function endClient(c: FleetClient): Promise<void> {
  const force = c.inflight > 0 || !c.client.connected
  await Promise.race([c.client.endAsync(force), new Promise((r) => setTimeout(r, 2000).unref())]).catch(() => undefined)
}

/** Connects one client per device with bounded concurrency; any client that cannot connect fails the whole fleet. */
export async function connectFleet(devices: readonly ProvisionedDevice[], opts: ConnectOptions): Promise<ConnectedFleet> {
  const stats: ConnectionStats = { errors: 0, reconnects: 0, lastError: undefined }
  const timeoutMs = opts.connectTimeoutMs ?? 30_000
  const connected: FleetClient[] = []
  try {
    await mapPool(
      devices,
      opts.concurrency ?? 100,
      async (device) => {
        const client = await connectOne(device, opts.mqttUrl, timeoutMs, stats)
        connected.push({ device, topic: device.topic ?? telemetryTopic(device.deviceId), client, inflight: 0 })
        opts.onProgress?.(connected.length, devices.length)
      },
      opts.signal,
    )
  } catch (err) {
    await Promise.all(connected.map(endClient))
    throw err
  }
  // Keep the caller's device order, which completion order scrambled.
  const order = new Map(devices.map((d, i) => [d.deviceId, i]))
  connected.sort((a, b) => (order.get(a.device.deviceId) ?? 0) - (order.get(b.device.deviceId) ?? 0))
  return {
    clients: connected,
    stats,
    connectedCount: () => connected.reduce((n, c) => n + (c.client.connected ? 1 : 0), 0),
    close: async () => {
      await Promise.all(connected.map(endClient))
    },
  }
}

export interface DriveOptions {
  /** Fixes per second per vehicle; fractional allowed. */
  hz: number
  /** Seconds to publish for; 0 = until `signal` aborts. */
  durationS: number
  center: LatLon
  radiusKm?: number
  timeScale?: number
  /** Run seed; each vehicle's model is seeded from it and its device id. */
  seed?: number
  /** How long to wait for outstanding PUBACKs after publishing stops. Default 10 s. */
  ackTimeoutMs?: number
  /** Beyond this many unacknowledged publishes a device skips fixes instead of queueing. Default 100. */
  maxInflightPerDevice?: number
  signal?: AbortSignal
  /** Default 5 s. */
  progressIntervalMs?: number
  onProgress?: (p: DriveProgress) => void
}

export interface DriveProgress {
  elapsedS: number
  published: number
  acked: number
  /** Publishes that failed (no PUBACK because the connection was torn down, ...). */
  errors: number
  /** Fixes generated but not sent: client offline or too many unacknowledged. */
  dropped: number
  inflight: number
  connected: number
  /** Client-level errors (refused or reset connections), apart from failed publishes. */
  connectionErrors: number
  reconnects: number
  /** Acknowledged fixes per second over the last progress window. */
  ratePerS: number
  /** How far the shared timer ran behind schedule at worst in the window, ms. */
  maxLagMs: number
}

export interface DriveSummary extends DriveProgress {
  /** Publishes still unacknowledged when the ack wait ended. */
  unacked: number
  lastError: string | undefined
  /** Final vehicle states, in `fleet.clients` order, for resuming later. */
  states: VehicleSnapshot[]
}

// A suspended process (laptop sleep, debugger) must not make the model
// integrate hours of motion in one go.
const MAX_STEP_S = 30

/** Publishes fixes for every connected vehicle until the duration elapses or `signal` aborts, then drains acks. */
export async function driveFleet(fleet: ConnectedFleet, opts: DriveOptions): Promise<DriveSummary> {
  if (!(opts.hz > 0)) throw new Error('hz must be > 0')
  const clients = fleet.clients
  const n = clients.length
  const seed = opts.seed ?? 0
  const vehicles = clients.map(
    (c) =>
      new Vehicle({
        center: opts.center,
        radiusKm: opts.radiusKm,
        timeScale: opts.timeScale,
        seed: hashSeed(c.device.deviceId, seed),
        resume: c.device.state,
      }),
  )
  const lastStep = new Array<number | undefined>(n).fill(undefined)
  const maxInflight = opts.maxInflightPerDevice ?? 100
  const intervalMs = 1000 / opts.hz
  const slotMs = n > 0 ? intervalMs / n : intervalMs

  const c = { published: 0, acked: 0, errors: 0, dropped: 0, inflight: 0, maxLagMs: 0 }
  let lastError: string | undefined

  const publishOne = (i: number): void => {
    const fc = clients[i]
    const vehicle = vehicles[i]
    if (!fc || !vehicle) return
    const now = Date.now()
    const prev = lastStep[i]
    lastStep[i] = now
    const fix = vehicle.step(prev === undefined ? 0 : Math.min(MAX_STEP_S, (now - prev) / 1000), now)
    // The fix is still generated (and its seq used) so the server sees the gap.
    if (!fc.client.connected || fc.inflight >= maxInflight) {
      c.dropped++
      return
    }
    fc.inflight++
    c.inflight++
    c.published++
    fc.client.publish(fc.topic, JSON.stringify(fix), { qos: 1 }, (err) => {
      fc.inflight--
      c.inflight--
      if (err) {
        c.errors++
        lastError = `${fc.device.deviceId}: ${err.message}`
      } else c.acked++
    })
  }

  const startPerf = performance.now()
  let base = startPerf
  let round = 0
  let idx = 0
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const dueAt = (): number => base + round * intervalMs + idx * slotMs

  const tick = (): void => {
    timer = undefined
    if (stopped || n === 0) return
    const now = performance.now()
    let due = dueAt()
    const lag = now - due
    if (lag > c.maxLagMs) c.maxLagMs = lag
    // More than a whole interval behind: shift the schedule instead of
    // bursting the backlog onto the broker.
    if (lag > intervalMs) {
      base += Math.floor(lag / intervalMs) * intervalMs
      due = dueAt()
    }
    // At most one full pass per wake-up so acks and sockets get serviced.
    for (let budget = n; budget > 0 && due <= now; budget--) {
      publishOne(idx)
      if (++idx === n) {
        idx = 0
        round++
      }
      due = dueAt()
    }
    timer = setTimeout(tick, Math.max(0, due - performance.now()))
  }

  let windowStart = startPerf
  let windowAcked = 0
  const snapshot = (): DriveProgress => {
    const now = performance.now()
    const rate = ((c.acked - windowAcked) * 1000) / Math.max(1, now - windowStart)
    return {
      elapsedS: (now - startPerf) / 1000,
      published: c.published,
      acked: c.acked,
      errors: c.errors,
      dropped: c.dropped,
      inflight: c.inflight,
      connected: fleet.connectedCount(),
      connectionErrors: fleet.stats.errors,
      reconnects: fleet.stats.reconnects,
      ratePerS: rate,
      maxLagMs: Math.max(0, c.maxLagMs),
    }
  }
  const progress = setInterval(() => {
    const p = snapshot()
    windowStart = performance.now()
    windowAcked = c.acked
    c.maxLagMs = 0
    opts.onProgress?.(p)
  }, opts.progressIntervalMs ?? 5000)

  await new Promise<void>((resolve) => {
    const finish = (): void => {
      if (stopped) return
      stopped = true
      if (timer) clearTimeout(timer)
      if (deadline) clearTimeout(deadline)
      opts.signal?.removeEventListener('abort', finish)
      resolve()
    }
    const deadline = opts.durationS > 0 ? setTimeout(finish, opts.durationS * 1000) : undefined
    if (opts.signal?.aborted) return finish()
    opts.signal?.addEventListener('abort', finish)
    tick()
  })
  const publishedFor = (performance.now() - startPerf) / 1000

  const ackDeadline = performance.now() + (opts.ackTimeoutMs ?? 10_000)
  while (c.inflight > 0 && performance.now() < ackDeadline) {
    await new Promise((r) => setTimeout(r, 25))
  }
  clearInterval(progress)

  const total = c.acked / Math.max(publishedFor, 1e-3)
  return {
    ...snapshot(),
    elapsedS: publishedFor,
    ratePerS: total,
    unacked: c.inflight,
    lastError: lastError ?? fleet.stats.lastError,
    states: vehicles.map((v) => v.snapshot()),
  }
}
