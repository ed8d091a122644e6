/**
 * What the distributed tests share: the environment of a cluster of fleetpulse
 * processes (a fresh PostgreSQL database, a Kafka namespace, one JWT secret),
 * simulated trackers that number every fix, and exact counts from ClickHouse.
 *
 * A tracker here behaves as a real one does: it records a fix at its own pace
 * whether or not the broker is reachable, publishes it at QoS 1 with a
 * persistent session (clean: false, a fixed client id) and keeps it until the
 * PUBACK. MQTT.js holds every unacknowledged QoS 1 PUBLISH in its outgoing
 * store, including those published while offline, and on each CONNACK replays
 * the whole store, one message after the other (the next once the previous is
 * acknowledged), before it sends anything new (client.js `_onConnect`).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { createClickHouse } from '../../core/clickhouse.js'
import { createLogger } from '../../core/logger.js'
import { ADMIN_EMAIL, ADMIN_PASSWORD, type ProvisionedVehicle } from '../helpers/platform.js'
import { freshDatabase, uniqueNamespace } from '../helpers/services.js'
import { deleteNamespace, groupLag, topicMessages } from '../helpers/kafka.js'
import type { FleetProcess } from '../helpers/processes.js'
import { SINK_GROUP } from '../../stream/positions.processor.js'
import { TOPICS } from '../../schemas/topics.v1.js'

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export interface ClusterEnv {
  env: Record<string, string>
  dataDir: string
  chdbDir: string
  namespace: string
  kafkaBrokers: string
  cleanup(): Promise<void>
}

/** The environment every process of one test file shares; processes add their own ports. */
export async function clusterEnv(options: { kafkaBrokers?: string; env?: Record<string, string> } = {}): Promise<ClusterEnv> {
  const kafkaBrokers = options.kafkaBrokers ?? process.env.KAFKA_BROKERS
  if (!kafkaBrokers) throw new Error('KAFKA_BROKERS is not set: the distributed tests run in the services project')
  const db = await freshDatabase()
  const namespace = uniqueNamespace('dist')
  const dataDir = mkdtempSync(path.join(tmpdir(), 'fleetpulse-dist-'))
  return {
    env: {
      HOST: '127.0.0.1', PORT: '0', MQTT_PORT: '0', MQTT_WS_PORT: '0',
      DATABASE_URL: db.url, KAFKA_BROKERS: kafkaBrokers, BUS_NAMESPACE: namespace, CLICKHOUSE_URL: '',
      DATA_DIR: dataDir,
      // Tokens issued by one API process are accepted by every other.
      JWT_SECRET: 'distributed-test-secret-0123456789-abcdefghij',
      FLEETPULSE_ADMIN_EMAIL: ADMIN_EMAIL, FLEETPULSE_ADMIN_PASSWORD: ADMIN_PASSWORD,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      SINK_FLUSH_MS: '200',
      SHUTDOWN_TIMEOUT_MS: '30000',
      ...options.env,
    },
    dataDir,
    chdbDir: path.join(dataDir, 'chdb'),
    namespace,
    kafkaBrokers,
    cleanup: async () => {
      await deleteNamespace(kafkaBrokers, namespace)
      await db.drop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export interface Fix {
  ts: number
  lat: number
  lon: number
  speed: number
  heading: number
  seq: number
}

/** Fix number `seq` of a tracker: one a second from t0, so (vehicle, ts) — the table's key — is unique per fix. */
export function fixAt(t0: number, seq: number): Fix {
  return { ts: t0 + seq * 1000, lat: 48 + (seq % 5000) / 10_000, lon: 11 + (seq % 3000) / 10_000, speed: seq % 120, heading: (seq * 7) % 360, seq }
}

export class Tracker {
  /** Seqs whose PUBACK arrived. */
  readonly acked = new Set<number>()
  /** Fixes handed to MQTT.js (sent, or stored until the connection is back). */
  published = 0
  /** Accepted connections (CONNACK 0), the first included. */
  connects = 0
  /** Publishes MQTT.js dropped with an error, published again. */
  republished = 0
  readonly errors: string[] = []
  private closing = false

  private constructor(
    readonly vehicle: ProvisionedVehicle,
    readonly client: MqttClient,
    readonly t0: number,
  ) {}

  static connect(url: string, vehicle: ProvisionedVehicle, t0: number): Promise<Tracker> {
    const client = mqtt.connect(url, {
      username: vehicle.deviceId,
      password: vehicle.secret,
      clientId: vehicle.deviceId,
      clean: false,
      reconnectPeriod: 500,
      connectTimeout: 5000,
      keepalive: 30,
    })
    const tracker = new Tracker(vehicle, client, t0)
    // Counted from the CONNACKs: MQTT.js emits 'connect' only once its store is replayed, so not for a connection lost during the replay.
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'connack' && !packet.returnCode && !packet.reasonCode) tracker.connects++
    })
    // Refused connections and resets while a broker is down; the client retries by itself.
    client.on('error', (err) => tracker.errors.push(err.message))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        client.end(true)
        reject(new Error(`tracker ${vehicle.deviceId} did not connect to ${url}: ${tracker.errors.join('; ')}`))
      }, 15_000)
      client.once('connect', () => {
        clearTimeout(timer)
        resolve(tracker)
      })
    })
  }

  /** Publishes fix `seq` at QoS 1 and records its PUBACK. */
  publish(seq: number): void {
    this.published++
    this.send(seq)
  }

  private send(seq: number): void {
    this.client.publish(this.vehicle.topic, JSON.stringify(fixAt(this.t0, seq)), { qos: 1 }, (err) => {
      if (!err) {
        this.acked.add(seq)
        return
      }
      // MQTT.js gives up on a publish that was queued behind the replay of its
      // store (not yet stored itself) when the connection closes during that
      // replay ("Connection closed", client.js `_flushStoreProcessingQueue`).
      // A tracker keeps a fix until it is acknowledged: publish it again.
      this.errors.push(`publish ${seq}: ${err.message}`)
      this.republished++
      if (!this.closing) setTimeout(() => this.send(seq), 100)
    })
  }

  close(): Promise<void> {
    this.closing = true
    return this.client.endAsync(true)
  }
}

export interface DriveOptions {
  /** Fixes per tracker, seq 0 .. count-1. */
  count: number
  /** Fixes per second per tracker. */
  perSecond: number
}

/**
 * Every tracker records `count` fixes at `perSecond`, whether or not the
 * earlier ones were acknowledged. Resolves once all are handed to MQTT.js.
 */
export async function drive(trackers: Tracker[], { count, perSecond }: DriveOptions): Promise<void> {
  const start = Date.now()
  let next = 0
  while (next < count) {
    const due = Math.min(count, Math.floor(((Date.now() - start) / 1000) * perSecond) + 1)
    for (; next < due; next++) for (const t of trackers) t.publish(next)
    await sleep(20)
  }
}

export const totalAcked = (trackers: Tracker[]) => trackers.reduce((n, t) => n + t.acked.size, 0)
export const totalPublished = (trackers: Tracker[]) => trackers.reduce((n, t) => n + t.published, 0)

/** Waits until every fix of every tracker is acknowledged. */
export async function waitAllAcked(trackers: Tracker[], count: number, timeoutMs: number, report: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (trackers.some((t) => t.acked.size < count)) {
    if (Date.now() > deadline) {
      const behind = trackers.filter((t) => t.acked.size < count).map((t) => `${t.vehicle.deviceId}: ${t.acked.size}/${count} acked, ${t.connects} connects, last errors ${t.errors.slice(-3).join(' | ')}`)
      throw new Error(`not every fix was acknowledged within ${timeoutMs} ms:\n${behind.join('\n')}\n${report()}`)
    }
    await sleep(100)
  }
}

export interface VehicleCount {
  /** Rows as a reader sees them (FINAL). */
  rows: number
  distinctSeqs: number
  /** Expected seqs that are not stored (at most the first 10). */
  missing: number[]
  missingCount: number
  /** Stored seqs that were never published. */
  unexpected: number
}

export interface StoredCounts {
  byVehicle: Map<string, VehicleCount>
  /** Rows without FINAL (informative: a replayed fix is stored twice until a background merge collapses it). */
  rawRows: number
  finalRows: number
}

/**
 * Opens the chDB directory a (stopped) stream process owned, in this test
 * process, and counts what it holds per vehicle. A process may open one chDB
 * directory in its lifetime: call this at most once per test file.
 */
export async function countStored(chdbDir: string, expected: Map<string, number[]>): Promise<StoredCounts> {
  const ch = await createClickHouse({ clickhouseUrl: undefined, database: 'fleetpulse', chdbDir, logger: createLogger('silent') })
  try {
    const query = async <T>(sql: string) => (await ch.client.query({ query: sql, format: 'JSONEachRow' })).json<T>()
    const rows = await query<{ v: string; seq: string | null }>('SELECT toString(vehicle_id) AS v, seq FROM positions FINAL')
    const [raw] = await query<{ n: string }>('SELECT count() AS n FROM positions')
    const stored = new Map<string, number[]>()
    for (const r of rows) {
      const list = stored.get(r.v) ?? []
      list.push(r.seq === null ? -1 : Number(r.seq))
      stored.set(r.v, list)
    }
    const byVehicle = new Map<string, VehicleCount>()
    for (const vehicleId of new Set([...expected.keys(), ...stored.keys()])) {
      const seqs = stored.get(vehicleId) ?? []
      const want = new Set(expected.get(vehicleId) ?? [])
      const have = new Set(seqs)
      const missing = [...want].filter((s) => !have.has(s)).sort((a, b) => a - b)
      byVehicle.set(vehicleId, {
        rows: seqs.length, distinctSeqs: have.size, missing: missing.slice(0, 10), missingCount: missing.length,
        unexpected: [...have].filter((s) => !want.has(s)).length,
      })
    }
    return { byVehicle, rawRows: Number(raw?.n ?? 0), finalRows: rows.length }
  } finally {
    await ch.close()
  }
}

/** What countStored must find when every tracker's fixes 0..count-1 are stored exactly once. */
export function exactlyOnce(expected: Map<string, number[]>): Map<string, VehicleCount> {
  return new Map([...expected].map(([v, seqs]) => [v, { rows: seqs.length, distinctSeqs: seqs.length, missing: [], missingCount: 0, unexpected: 0 }]))
}

export const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** A counter or gauge of a process's /metrics (summed over its labels). */
export async function metric(proc: FleetProcess, name: string): Promise<number> {
  const text = await (await fetch(`${proc.healthUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
  let sum = 0
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1])
  return sum
}

/** Waits until the stream's sink group has committed every position on the bus (it wrote them all). */
export async function waitSinkCaughtUp(cluster: ClusterEnv, timeoutMs: number, report: () => string): Promise<void> {
  const group = `${cluster.namespace}.${SINK_GROUP}`
  const topic = `${cluster.namespace}.${TOPICS.positions}`
  const deadline = Date.now() + timeoutMs
  let lag: number | string = 'unknown'
  for (;;) {
    lag = await groupLag(cluster.kafkaBrokers, group, topic).catch((err: unknown) => String(err))
    if (lag === 0) return
    if (Date.now() > deadline) throw new Error(`the sink group ${group} still lags (${lag}) after ${timeoutMs} ms\n${report()}`)
    await sleep(500)
  }
}

/** Position messages on the bus: more than the fixes when devices sent some again after a lost PUBACK (at-least-once). */
export function positionsOnBus(cluster: ClusterEnv): Promise<number> {
  return topicMessages(cluster.kafkaBrokers, `${cluster.namespace}.${TOPICS.positions}`)
}
