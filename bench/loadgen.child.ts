/**
 * Load generator helper: one MQTT connection per device (the simulator's
 * connectFleet), each publishing single fixes from the simulator's vehicle
 * model at QoS 1. Two pacings:
 * - closed loop (rate 0): every connection keeps `window` fixes in flight and
 *   sends the next one on each PUBACK, so the broker sets the pace;
 * - fixed rate: fixes are spread round-robin over the connections at `rate`
 *   per second; a connection whose window is full is skipped (counted) rather
 *   than queued, so a slow broker shows up as skips, not as growing latency.
 * The simulator's driveFleet paces each vehicle on its own timer and has no
 * closed-loop mode, which is why the pacing lives here.
 */
import type { MqttClient } from 'mqtt'
import { connectFleet, type ConnectedFleet, type FleetClient } from '../sim/fleet.js'
import { Vehicle, hashSeed } from '../sim/motion.js'
import type { DriveSpec, LoadCounters, LoadgenApi } from './protocol.js'
import { serveRpc } from './rpc.js'
import { latencyStats } from './stats.js'

const CENTER = { lat: 52.52, lon: 13.405 }
const RATE_TICK_MS = 5
// Cap the model's time step: a vehicle idle between phases must not jump.
const MAX_STEP_S = 5

class Driver {
  readonly counters = { published: 0, acked: 0, errors: 0, skipped: 0, inflight: 0, payloadBytes: 0 }
  /** Publish → PUBACK times of the current window, ms. */
  ackMs: number[] = []
  private readonly vehicles: Vehicle[]
  private readonly lastTs: number[]
  private readonly inflight: number[]
  private spec: DriveSpec = { rate: 0, window: 1 }
  private running = false
  private timer: NodeJS.Timeout | undefined
  private cursor = 0

  constructor(private readonly clients: FleetClient[]) {
    this.vehicles = clients.map((c) => new Vehicle({ center: CENTER, seed: hashSeed(c.device.deviceId, 1) }))
    this.lastTs = clients.map(() => Date.now())
    this.inflight = clients.map(() => 0)
  }

  /**
   * Publishes one fix on connection `i` if its window allows. Its ts is the
   * publish time, nudged to stay strictly increasing per vehicle: fixes with
   * the same (vehicle, ts) are one row to ClickHouse's ReplacingMergeTree and
   * an old position to the live path. (Only a vehicle sending over 1,000
   * fixes/s would drift ahead of the clock: --devices 1 in a closed loop.)
   */
  private publish(i: number): boolean {
    const fc = this.clients[i]!
    if (!fc.client.connected || this.inflight[i]! >= this.spec.window) return false
    const last = this.lastTs[i]!
    const ts = Math.max(Date.now(), last + 1)
    this.lastTs[i] = ts
    const payload = JSON.stringify(this.vehicles[i]!.step(Math.min(MAX_STEP_S, (ts - last) / 1000), ts))
    this.inflight[i]!++
    this.counters.inflight++
    this.counters.published++
    this.counters.payloadBytes += payload.length
    const sentAt = performance.now()
    fc.client.publish(fc.topic, payload, { qos: 1 }, (err) => {
      this.inflight[i]!--
      this.counters.inflight--
      if (err) this.counters.errors++
      else {
        this.counters.acked++
        this.ackMs.push(performance.now() - sentAt)
      }
      if (this.running && this.spec.rate === 0) this.publish(i)
    })
    return true
  }

  start(spec: DriveSpec): void {
    this.stopTimer()
    this.spec = spec
    this.running = true
    if (spec.rate === 0) this.closedLoop()
    else this.paced(spec.rate)
  }

  /** Fills every window; refilled periodically too, for connections that came back after a drop. */
  private closedLoop(): void {
    const fill = () => {
      for (let i = 0; i < this.clients.length; i++) while (this.publish(i));
    }
    fill()
    this.timer = setInterval(fill, 100)
  }

  private paced(rate: number): void {
    const t0 = performance.now()
    let due = 0
    const tick = () => {
      const target = Math.floor(((performance.now() - t0) / 1000) * rate)
      for (; due < target; due++) if (!this.publishNext()) this.counters.skipped++
    }
    this.timer = setInterval(tick, RATE_TICK_MS)
  }

  /** Round-robin: the next connection with room in its window. */
  private publishNext(): boolean {
    const n = this.clients.length
    for (let tries = 0; tries < n; tries++) {
      const i = this.cursor
      this.cursor = (this.cursor + 1) % n
      if (this.publish(i)) return true
    }
    return false
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  async stop(ackTimeoutMs: number): Promise<void> {
    this.running = false
    this.stopTimer()
    const deadline = performance.now() + ackTimeoutMs
    while (this.counters.inflight > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  }
}

/**
 * MQTT.js leaves Nagle's algorithm on: a publish written while an earlier
 * segment is unacknowledged would wait for that ACK (which the receiver may
 * delay by up to 40 ms), adding the load generator's own delay to every figure.
 */
function noDelay(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (on: boolean) => void } | undefined
  stream?.setNoDelay?.(true)
}

let fleet: ConnectedFleet | undefined
let driver: Driver | undefined

function snapshot(): LoadCounters {
  const c = driver?.counters ?? { published: 0, acked: 0, errors: 0, skipped: 0, inflight: 0, payloadBytes: 0 }
  return { ...c, connected: fleet?.connectedCount() ?? 0, reconnects: fleet?.stats.reconnects ?? 0 }
}

const api: LoadgenApi = {
  async connect({ mqttUrl, devices, concurrency }) {
    const started = performance.now()
    fleet = await connectFleet(devices, { mqttUrl, concurrency })
    for (const { client } of fleet.clients) {
      noDelay(client)
      client.on('connect', () => noDelay(client))
    }
    driver = new Driver(fleet.clients)
    return { connected: fleet.clients.length, seconds: (performance.now() - started) / 1000 }
  },
  start(spec) {
    if (!driver) throw new Error('start before connect')
    driver.start(spec)
  },
  snapshot,
  resetAckLatency() {
    if (driver) driver.ackMs = []
  },
  ackLatency() {
    return latencyStats(driver?.ackMs ?? [])
  },
  async stop({ ackTimeoutMs }) {
    await driver?.stop(ackTimeoutMs)
    return snapshot()
  },
  async close() {
    await driver?.stop(0)
    await fleet?.close()
    fleet = undefined
  },
}

serveRpc(api)
