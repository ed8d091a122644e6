/**
 * The message bus contract, modelled on Kafka so that the in-process bus and the
 * kafkajs bus are interchangeable without touching callers:
 * - named topics split into partitions; a message's key picks its partition, so
 *   messages with one key keep their order;
 * - consumer groups share a topic's partitions; each group has its own offsets;
 * - a handler receives a batch from one partition, and the batch's offsets are
 *   committed only after the handler resolved; a rejected handler gets the same
 *   messages again (at-least-once), so sinks must be idempotent;
 * - partitions are handled independently: handlers of different partitions
 *   may run at the same time.
 */

export type BusMessage = {
  key: string
  headers?: Record<string, string>
} & (
  | {
      value: Buffer
      /**
       * The value already decoded and validated by its producer. Only the
       * in-process bus carries it (to consumers in the same process, built from
       * the same code), which spares them parsing and checking `value` again;
       * Kafka carries `value` alone.
       */
      decoded?: unknown
    }
  | {
      /**
       * Left out, the bytes are `JSON.stringify(decoded)`, made only when a
       * bus needs them: Kafka at send, the in-process bus when a consumer reads
       * `value` (most take `decoded`, so the hot path never serializes).
       */
      value?: undefined
      decoded: unknown
    }
)

/** A message's bytes: its value, or its decoded form as JSON. */
export function bytesOf(m: BusMessage): Buffer {
  return m.value ?? Buffer.from(JSON.stringify(m.decoded))
}

export interface ConsumedMessage {
  key: string
  value: Buffer
  headers?: Record<string, string>
  /** See BusMessage. */
  decoded?: unknown
  partition: number
  offset: number
  /** Publish time, epoch ms. */
  timestamp: number
}

export interface ConsumedBatch {
  topic: string
  partition: number
  messages: ConsumedMessage[]
}

export interface SubscribeOptions {
  topic: string
  groupId: string
  /** A group with no committed offset starts at the oldest retained message (true) or at the end (false). */
  fromBeginning?: boolean
  /** Most messages handed to one handler call. */
  maxBatchSize?: number
  /**
   * How long to wait for a batch to fill before handing over what is there
   * (0 = hand over at once). Lets a sink write big batches "by size or at most
   * every N ms" without holding uncommitted state of its own.
   */
  maxWaitMs?: number
  /**
   * Commit handled offsets together at most this often instead of after every
   * batch (0, the default). A crash or rebalance then redelivers up to that
   * much more, so it suits feeds that are cheap to repeat (live relays); a
   * commit still never covers a message whose handler has not resolved.
   */
  commitIntervalMs?: number
  /**
   * The group is this process's alone (a per-node reader under a group id of
   * its own): it is deleted when its last member here leaves, so restarts do
   * not leave groups behind. A process that is killed leaves it to Kafka,
   * which forgets an empty group with its offsets (offsets.retention.minutes).
   */
  ephemeral?: boolean
}

/** publish() refused at once because too much already waits; the caller must not acknowledge. */
export class BusFullError extends Error {
  constructor(buffered: number) {
    super(`bus buffer full: ${buffered} messages wait for the bus`)
    this.name = 'BusFullError'
  }
}

export type BatchHandler = (batch: ConsumedBatch) => Promise<void>

export interface Subscription {
  /** Stops fetching, waits for the handler in flight, and leaves the group. */
  close(): Promise<void>
}

export interface BusLag {
  topic: string
  groupId: string
  /** Messages published but not yet committed by the group, over all partitions. */
  lag: number
}

export interface Bus {
  readonly kind: 'memory' | 'kafka'
  /** Creates topics if they do not exist. */
  ensureTopics(topics: string[]): Promise<void>
  /**
   * Resolves once the bus has accepted every message (for Kafka: acknowledged by
   * all in-sync replicas). Messages of one call with one key keep their order.
   */
  publish(topic: string, messages: BusMessage[]): Promise<void>
  subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription>
  /** Consumer lag for every group with a member in this process. */
  lag(): BusLag[]
  /** True while the bus can accept publishes. */
  isReady(): boolean
  /**
   * Waits until every subscribed group has committed everything published so
   * far (bounded by timeoutMs). Used by graceful shutdown to flush the pipeline.
   */
  drain(timeoutMs: number): Promise<boolean>
  close(): Promise<void>
}

/** Kafka's default partitioner is murmur2; any stable hash keeps per-key order. */
export function partitionForKey(key: string, partitions: number): number {
  // FNV-1a, 32 bit.
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % partitions
}
