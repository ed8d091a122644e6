/**
 * What the bench asks of its helper processes: one type per helper, shared by
 * the helper (which implements it) and bench/run.ts (which calls it).
 */
import type { ProvisionedDevice } from '../sim/fleet.js'

export interface LoadCounters {
  /** QoS 1 PUBLISHes sent. */
  published: number
  /** PUBACKs received: what the broker accepted. */
  acked: number
  /** Publishes that failed (connection torn down before the PUBACK). */
  errors: number
  /** Rate mode: fixes due when every connection already had its window full. */
  skipped: number
  inflight: number
  /** Payload bytes of the PUBLISHes sent (the JSON fix; topic and MQTT header not counted). */
  payloadBytes: number
  connected: number
  reconnects: number
}

export interface DriveSpec {
  /** Fixes per second over the whole fleet; 0 = as fast as PUBACKs come back (closed loop). */
  rate: number
  /** Unacknowledged QoS 1 publishes allowed per connection. */
  window: number
}

export type LoadgenApi = {
  connect(arg: { mqttUrl: string; devices: ProvisionedDevice[]; concurrency: number }): Promise<{ connected: number; seconds: number }>
  start(arg: DriveSpec): void
  snapshot(): LoadCounters
  /** Starts a new window of publish → PUBACK times. */
  resetAckLatency(): void
  ackLatency(): LatencyStats
  /** Stops publishing and waits (bounded) for the PUBACKs still outstanding. */
  stop(arg: { ackTimeoutMs: number }): Promise<LoadCounters>
  close(): Promise<void>
}

export interface LatencyStats {
  count: number
  p50Ms: number | null
  p99Ms: number | null
  maxMs: number | null
}

export type LiveProbeApi = {
  connect(arg: { url: string; token: string }): Promise<void>
  /** Starts a new recording window. */
  reset(): void
  stats(): LatencyStats
  close(): Promise<void>
}

export type SubscriberApi = {
  connect(arg: { mqttUrl: string; topic: string; qos: 0 | 1 }): Promise<void>
  received(): number
  close(): Promise<void>
}

export type AedesSinkApi = {
  listen(): Promise<{ port: number }>
  close(): Promise<void>
}

export interface LiveClientsStats {
  /** Sockets connected and joined to the org room. */
  joined: number
  /** Position items received by all clients since the last reset. */
  items: number
  /** Batches (position events) received by all clients since the last reset. */
  batches: number
  /** Fix time → arrival at a sampled subset of the clients (every client counts items). */
  latency: LatencyStats
  /** Items the least-served client received (0 = a client got nothing). */
  minClientItems: number
  disconnects: number
}

export type LiveClientsApi = {
  /** Opens `clients` sockets, each joining the organization room; resolves once all have their snapshot. */
  connect(arg: { url: string; token: string; clients: number; sampled: number }): Promise<{ seconds: number; snapshotVehicles: number }>
  reset(): void
  stats(): LiveClientsStats
  close(): Promise<void>
}

/** The query section's helper: owns a chDB of its own, fills it, times the dashboard reads. */
export interface QueryDataFigures {
  positions: number
  vehicles: number
  days: number
  /** Seconds generating the positions (SQL), and deriving the facts (detector, writes, rollups). */
  generateS: number
  deriveS: number
  /** Seconds reading the fixes back, in the detector alone, writing facts, refreshing rollups. */
  readS: number
  detectS: number
  writeS: number
  rollupS: number
  facts: Record<string, number>
  /** positions on disk: compressed and uncompressed bytes, active parts. */
  positionsBytes: number
  positionsRawBytes: number
  positionsParts: number
}

export interface QueryTiming extends LatencyStats {
  name: string
  /** What one call reads, for the report. */
  what: string
  /** Rows the last call returned (a sanity check that it found data). */
  rows: number
}

export type QueryBenchApi = {
  prepare(arg: { dir: string; positions: number; nowMs: number }): Promise<QueryDataFigures>
  measure(arg: { repetitions: number }): Promise<QueryTiming[]>
  close(): Promise<void>
}
