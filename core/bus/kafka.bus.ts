/**
 * The bus on Apache Kafka (kafkajs), behind the same contract as the in-process
 * bus (see bus.ts).
 * - Producer: idempotent, acks from all in-sync replicas. kafkajs sends what it
 *   is given at once, so publishes are collected for a few milliseconds when
 *   idle, and under load each request takes everything that arrived during the
 *   previous one (up to maxBatchBytes); sends are serialized, which keeps
 *   per-key order.
 * - Consumers: one kafkajs consumer per subscription, auto-commit off; a
 *   handler's chunk is committed only after the handler resolved. A failing
 *   handler is retried with backoff on the same chunk; on a rebalance the
 *   uncommitted rest is redelivered to the partition's next owner.
 * - Outages: what waits for Kafka is bounded (`maxBuffered` messages); beyond
 *   it publish() rejects at once, so ingest withholds the PUBACK and the device
 *   keeps the message. The bus reports not ready while a send is stuck, the last
 *   send failed, or the periodic cluster probe fails.
 * - `namespace` prefixes every topic and group name, so several deployments
 *   (or test runs) share one cluster without seeing each other.
 */
import { Kafka, logLevel, type Admin, type Consumer, type LogEntry, type Message, type Producer, type SASLOptions } from 'kafkajs'
import type { Logger } from 'pino'
import { GatheringWriter, type WrittenPart } from '../batcher.js'
import type { KafkaSecurity } from '../config.js'
import { settlesWithin } from '../settle.js'
import { BusFullError, bytesOf } from './bus.js'
import { applyKafkajsIdleFix } from './kafkajs-idle-fix.js'
import type {
  BatchHandler, Bus, BusLag, BusMessage, ConsumedMessage, SubscribeOptions, Subscription,
} from './bus.js'

export interface KafkaBusOptions {
  brokers: string[]
  clientId: string
  /** TLS towards the brokers and SASL authentication, as managed Kafka services require (see Config); default neither. */
  security?: KafkaSecurity
  partitions: number
  /** Replicas of each topic this bus creates; default 3, or the cluster's broker count when it has fewer. */
  replicationFactor?: number | undefined
  logger: Logger
  /** How long publishes are collected before one send. */
  lingerMs?: number
  /**
   * Most bytes (keys, values and per-record overhead) in one send. Kafka
   * refuses a partition's record batch over its message.max.bytes (1 MiB by
   * default) and kafkajs then fails the whole request, so a send stays under
   * it even when all of it is for one partition (one vehicle's buffered fixes,
   * a few hot keys). A publish over it is split into sends under it, in order;
   * only a single record over Kafka's limit is refused (to its publisher alone).
   */
  maxBatchBytes?: number
  /** Most messages queued or in flight towards Kafka; beyond it publish() rejects. */
  maxBuffered?: number
  /** Prefix of topic and group names ('' = none). */
  namespace?: string
  /** How often readiness is probed with a cluster metadata request. */
  probeIntervalMs?: number
  /** How long close() waits for a send in flight before giving up on it (its publishers are rejected). */
  closeTimeoutMs?: number
}

// Before any kafkajs connection exists: idle connections must not spin on a 1 ms timer (see the module).
applyKafkajsIdleFix()

/** Bytes a record costs in a batch besides its key and value: length, attributes, timestamp and offset deltas, header count. */
const RECORD_OVERHEAD_BYTES = 32
/** Default maxBatchBytes: 768 KiB, clear of Kafka's default 1 MiB per partition batch. */
const MAX_BATCH_BYTES = 768 * 1024

/** kafkajs's `ssl` and `sasl` client options for the configured security. */
export function kafkaSecurity(security: KafkaSecurity | undefined): { ssl?: boolean | { ca: string[] }; sasl?: SASLOptions } {
  const tls = security?.tls
  return {
    ...(tls ? { ssl: tls === true ? true : { ca: [tls.ca] } } : {}),
    ...(security?.sasl ? { sasl: security.sasl as SASLOptions } : {}),
  }
}

/** A send in flight for longer than this means Kafka does not answer: not ready. */
const STUCK_SEND_MS = 3000

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

function kafkaLogger(logger: Logger) {
  const log = logger.child({ component: 'kafkajs' })
  return () => ({ level, log: entry }: LogEntry) => {
    const { message, ...extra } = entry
    if (level === logLevel.ERROR) log.error(extra, message)
    else if (level === logLevel.WARN) log.warn(extra, message)
    else log.debug(extra, message)
  }
}

/** One per subscription in this process: its consumer and its group's lag per partition, as last measured. */
interface SubscriptionRecord {
  topic: string
  groupId: string
  fromBeginning: boolean
  consumer: Consumer
  lag: Map<number, number>
  /** Set for lazily committing groups; `closing` makes a batch still in its handler commit at once. */
  committer: LazyCommitter | undefined
  closing: boolean
  ephemeral: boolean
}

/**
 * A consumer that reads "at once" (live feeds, maxWaitMs 0) asks for any data
 * and lets the broker hold an empty fetch up to IDLE_FETCH_WAIT_MS, so a quiet
 * topic costs two requests a second and its first message comes back at once.
 * After a batch that was not full it lingers LIVE_LINGER_MS before the next
 * fetch, so a busy topic is read in batches of that many milliseconds rather
 * than a fetch per handful of messages, which costs both sides more CPU than
 * the messages themselves.
 */
const IDLE_FETCH_WAIT_MS = 500
const LIVE_LINGER_MS = 20
/** Longest wait for Kafka to delete an ephemeral group when its subscription closes. */
const DELETE_GROUP_TIMEOUT_MS = 5000

/**
 * Murmur2 as Kafka's Java client computes it (Utils.murmur2), in 32-bit
 * integer math: kafkajs's own runs on Long objects and was a tenth of the
 * ingest process's CPU.
 */
export function murmur2(data: Uint8Array, length = data.length): number {
  const m = 0x5bd1e995
  let h = 0x9747b28c ^ length
  const whole = length & ~3
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
    k = Math.imul(k, m)
    k ^= k >>> 24
    k = Math.imul(k, m)
    h = Math.imul(h, m) ^ k
  }
  const tail = length & 3
  if (tail === 3) h ^= data[whole + 2]! << 16
  if (tail >= 2) h ^= data[whole + 1]! << 8
  if (tail >= 1) h = Math.imul(h ^ data[whole]!, m)
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

/** Where javaPartitioner writes a string key's UTF-8 bytes to hash them. */
const keyScratch = Buffer.alloc(256)

/**
 * Kafka's default partitioner for keyed messages (the Java client's and
 * kafkajs's DefaultPartitioner: positive murmur2 of the key, modulo the
 * partition count), so every producer of a key picks the same partition.
 * Every fleetpulse message has a key; one without gets a random partition.
 */
export const javaPartitioner = () => ({ partitionMetadata, message }: { partitionMetadata: unknown[]; message: { key?: Buffer | string | null; partition?: number | null } }): number => {
  if (message.partition !== null && message.partition !== undefined) return message.partition
  const n = partitionMetadata.length
  if (message.key === null || message.key === undefined) return Math.floor(Math.random() * n)
  if (typeof message.key !== 'string') return (murmur2(message.key) & 0x7fffffff) % n
  // A string key is hashed as its UTF-8 bytes, written into a reused buffer (no allocation per message).
  // (A UTF-16 code unit is at most 3 UTF-8 bytes.)
  if (message.key.length * 3 > keyScratch.length) return (murmur2(Buffer.from(message.key)) & 0x7fffffff) % n
  return (murmur2(keyScratch, keyScratch.write(message.key)) & 0x7fffffff) % n
}

/**
 * Offsets a group's handlers finished with, committed together at most every
 * `intervalMs` (Kafka's auto-commit, but only ever of handled messages): a
 * commit per partition batch is a round trip that the next batch of that
 * partition waits for, and most of a live feed's Kafka requests.
 */
class LazyCommitter {
  private readonly owed = new Map<number, number>()
  private timer: NodeJS.Timeout | undefined
  private chain: Promise<void> = Promise.resolve()

  constructor(
    private readonly consumer: Consumer,
    private readonly topic: string,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** Everything before `next` on `partition` was handled. */
  handled(partition: number, next: number): void {
    this.owed.set(partition, Math.max(next, this.owed.get(partition) ?? 0))
    if (this.timer) return
    this.timer = setTimeout(() => void this.flush(), this.intervalMs)
    this.timer.unref()
  }

  /** After a rebalance: what is owed may be another member's partition now, and is redelivered from the last commit. */
  forget(): void {
    this.owed.clear()
  }

  /** Commits what is owed now; resolves once that commit (and any before it) is done or has failed. */
  flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.owed.size === 0) return this.chain
    const offsets = [...this.owed].map(([partition, offset]) => ({ topic: this.topic, partition, offset: String(offset) }))
    this.owed.clear()
    this.chain = this.chain.then(() => this.consumer.commitOffsets(offsets)).catch((err: unknown) => {
      // Still owed unless a later offset is: retried at the next interval.
      this.log.debug({ err, topic: this.topic }, 'offset commit failed; retried')
      for (const { partition, offset } of offsets) if (!this.owed.has(partition)) this.handled(partition, Number(offset))
    })
    return this.chain
  }
}

export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const
  private readonly kafka: Kafka
  private producer: Producer
  private producerConnected: Promise<void> | undefined
  private readonly admin: Admin
  private connected: Promise<void> | undefined
  private ready = false
  private closed = false
  /** Gathers publishes into sends, one at a time (which keeps per-key order); a part is one publish, named by its topic. */
  private readonly outbox: GatheringWriter<Message>
  /** Messages queued or in a send not yet acknowledged. */
  private buffered = 0
  private sendStartedAt: number | undefined
  private lastSendFailed = false
  private probeOk = true
  private probeTimer: NodeJS.Timeout | undefined
  private readonly maxBuffered: number
  private readonly maxBatchBytes: number
  private readonly prefix: string
  private readonly subscriptions = new Set<SubscriptionRecord>()
  private readonly log: Logger

  constructor(private readonly options: KafkaBusOptions) {
    this.log = options.logger.child({ component: 'kafka-bus' })
    this.maxBatchBytes = options.maxBatchBytes ?? MAX_BATCH_BYTES
    this.outbox = new GatheringWriter((parts) => this.send(parts), { gatherMs: options.lingerMs ?? 5, maxSize: this.maxBatchBytes, concurrency: 1 })
    this.maxBuffered = options.maxBuffered ?? 50_000
    this.prefix = options.namespace ? `${options.namespace}.` : ''
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      ...kafkaSecurity(options.security),
      logLevel: logLevel.WARN,
      logCreator: kafkaLogger(options.logger),
      retry: { initialRetryTime: 200, retries: 8 },
    })
    this.producer = this.createProducer()
    this.admin = this.kafka.admin()
  }

  private createProducer(): Producer {
    return this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: javaPartitioner })
  }

  private connect(): Promise<void> {
    this.connected ??= (async () => {
      await this.admin.connect()
      await this.connectProducer()
      this.ready = true
      this.startProbe()
    })().catch((err: unknown) => {
      this.connected = undefined
      throw err
    })
    return this.connected
  }

  private connectProducer(): Promise<void> {
    this.producerConnected ??= this.producer.connect().catch((err: unknown) => {
      this.producerConnected = undefined
      throw err
    })
    return this.producerConnected
  }

  /**
   * After a failed send the producer is replaced, never reused. kafkajs takes
   * back a failed batch's sequence numbers; if Kafka did store the batch and
   * only its answer was lost, the next batch would reuse them and be taken as a
   * duplicate (acknowledged, never stored) or refused as out of order for as
   * long as the producer lives. A new producer gets a new id and starts clean.
   */
  private async replaceProducer(): Promise<void> {
    const old = this.producer
    this.producer = this.createProducer()
    this.producerConnected = undefined
    await old.disconnect().catch(() => {})
  }

  private name(topicOrGroup: string): string {
    return this.prefix + topicOrGroup
  }

  /** Asks the cluster for its metadata every few seconds: an idle producer would not notice an outage. */
  private startProbe(): void {
    if (this.probeTimer || this.closed) return
    let inFlight = false
    this.probeTimer = setInterval(() => {
      if (inFlight) return
      inFlight = true
      let timeout: NodeJS.Timeout | undefined
      const expired = new Promise<never>((_, reject) => {
        timeout = setTimeout(() => reject(new Error('probe timed out')), STUCK_SEND_MS)
      })
      Promise.race([this.admin.describeCluster(), expired]).then(
        async () => {
          this.probeOk = true
          // Kafka answers again: the next send will tell whether it takes messages.
          this.lastSendFailed = false
          for (const sub of this.subscriptions) sub.lag = await this.groupLag(sub)
        },
        () => (this.probeOk = false),
      ).catch((err: unknown) => this.log.debug({ err }, 'lag refresh failed')).finally(() => {
        clearTimeout(timeout)
        inFlight = false
      })
    }, this.options.probeIntervalMs ?? 2000)
    this.probeTimer.unref()
  }

  async ensureTopics(topics: string[]): Promise<void> {
    await this.connect()
    const existing = new Set(await this.admin.listTopics())
    const missing = topics.map((t) => this.name(t)).filter((t) => !existing.has(t))
    if (missing.length === 0) return
    const replicationFactor = this.options.replicationFactor ?? Math.min(3, (await this.admin.describeCluster()).brokers.length)
    await this.admin.createTopics({
      topics: missing.map((topic) => ({ topic, numPartitions: this.options.partitions, replicationFactor })),
      waitForLeaders: false,
    }).catch((err: { type?: string }) => {
      // Another process created it meanwhile: fine.
      if (err.type !== 'TOPIC_ALREADY_EXISTS') throw err
    })
    // kafkajs' own waitForLeaders gives up when the new topic's metadata is not
    // yet everywhere (UNKNOWN_TOPIC_OR_PARTITION); wait for leaders ourselves.
    const deadline = Date.now() + 30_000
    for (;;) {
      const ready = await this.admin.fetchTopicMetadata({ topics: missing }).then(
        (md) => md.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)),
        () => false,
      )
      if (ready) return
      if (Date.now() > deadline) throw new Error(`Kafka gave no leaders for ${missing.join(', ')} within 30 s`)
      await sleep(100)
    }
  }

  /**
   * Queued for the next send (see GatheringWriter): collected for `lingerMs`
   * when idle; under load each send takes everything that arrived during the
   * previous one, up to maxBatchBytes, so throughput grows with the load
   * instead of queueing small requests behind each other.
   */
  publish(topic: string, messages: BusMessage[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('bus is closed'))
    if (messages.length === 0) return Promise.resolve()
    if (this.buffered + messages.length > this.maxBuffered) return Promise.reject(new BusFullError(this.buffered))
    this.buffered += messages.length
    const name = this.name(topic)
    // Records in chunks of at most maxBatchBytes (one chunk but for a huge publish), each a part of the outbox.
    const sent: Array<Promise<void>> = []
    let chunk: Message[] = []
    let bytes = 0
    for (const m of messages) {
      const value = bytesOf(m)
      // Keys are ids (ASCII): their length is their size in bytes.
      let size = value.length + m.key.length + RECORD_OVERHEAD_BYTES
      if (m.headers) for (const [k, v] of Object.entries(m.headers)) size += k.length + v.length + 2
      if (bytes + size > this.maxBatchBytes && chunk.length > 0) {
        sent.push(this.outbox.add(chunk, name, bytes))
        chunk = []
        bytes = 0
      }
      chunk.push(m.headers ? { key: m.key, value, headers: m.headers } : { key: m.key, value })
      bytes += size
    }
    sent.push(this.outbox.add(chunk, name, bytes))
    return sent.length === 1 ? sent[0]! : Promise.all(sent).then(() => undefined)
  }

  private async send(parts: Array<WrittenPart<Message>>): Promise<void> {
    const byTopic = new Map<string, Message[]>()
    let count = 0
    for (const { name, items } of parts) {
      const list = byTopic.get(name)
      // `items` is this bus's own array (made in publish), so the first part of a topic takes the others'.
      if (list) for (const m of items) list.push(m)
      else byTopic.set(name, items)
      count += items.length
    }
    this.sendStartedAt = Date.now()
    try {
      await this.connect()
      await this.connectProducer()
      await this.producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) })
      this.ready = true
      this.lastSendFailed = false
    } catch (err) {
      this.lastSendFailed = true
      this.log.error({ err, messages: count }, 'kafka send failed; publishers are told, nothing was acknowledged')
      // The next send goes through a new producer; the old one disconnects meanwhile.
      void this.replaceProducer()
      throw err
    } finally {
      this.sendStartedAt = undefined
      this.buffered -= count
    }
  }

  async subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription> {
    await this.connect()
    const { topic } = options
    const groupId = this.name(options.groupId)
    const maxBatchSize = options.maxBatchSize ?? 500
    const maxWaitMs = options.maxWaitMs ?? 0
    const fromBeginning = options.fromBeginning ?? false
    const consumer = this.kafka.consumer({
      groupId,
      allowAutoTopicCreation: false,
      // Kafka's own fetch batching: the broker answers once minBytes are there
      // or maxWaitTimeInMs passed, which is "by size or at most every N ms".
      // "At once" (maxWaitMs 0): see IDLE_FETCH_WAIT_MS.
      maxWaitTimeInMs: maxWaitMs > 0 ? maxWaitMs : IDLE_FETCH_WAIT_MS,
      minBytes: maxWaitMs > 0 ? Math.min(maxBatchSize * 100, 1024 * 1024) : 1,
      sessionTimeout: 30_000,
      heartbeatInterval: 3000,
    })
    const commitIntervalMs = options.commitIntervalMs ?? 0
    const committer = commitIntervalMs > 0 ? new LazyCommitter(consumer, this.name(topic), commitIntervalMs, this.log) : undefined
    const record = {
      topic: this.name(topic), groupId, fromBeginning, consumer, lag: new Map<number, number>(), committer, closing: false,
      ephemeral: options.ephemeral ?? false,
    }
    this.subscriptions.add(record)
    // Resolve once this member has joined its group and has its partitions, so
    // what is published after subscribe() returns is read by the group as it is.
    // A group reading from the end pins "the end" only in its first fetch
    // (kafkajs resolves uncommitted offsets there, after the join), so it waits
    // for that fetch to return: what is published before it would be skipped.
    let joinTimer: NodeJS.Timeout | undefined
    const joined = new Promise<void>((resolve) => {
      consumer.on(consumer.events.GROUP_JOIN, () => {
        committer?.forget()
        if (fromBeginning) resolve()
      })
      if (!fromBeginning) {
        const stop = consumer.on(consumer.events.FETCH, () => {
          stop()
          resolve()
        })
      }
      joinTimer = setTimeout(resolve, 30_000)
    })
    await consumer.connect()
    await consumer.subscribe({ topic: record.topic, fromBeginning })
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Partitions are independent, as on the in-process bus: one partition's
      // handler (and its commit) does not hold up the others of the same fetch.
      partitionsConsumedConcurrently: this.options.partitions,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const all = batch.messages
        for (let i = 0; i < all.length; i += maxBatchSize) {
          if (!isRunning() || isStale()) return
          const chunk: ConsumedMessage[] = all.slice(i, i + maxBatchSize).map((m) => ({
            key: m.key?.toString('utf8') ?? '',
            value: m.value ?? Buffer.alloc(0),
            partition: batch.partition,
            offset: Number(m.offset),
            timestamp: Number(m.timestamp),
            ...(m.headers ? { headers: Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, String(v)])) } : {}),
          }))
          for (let failures = 0; ; failures++) {
            try {
              await handler({ topic, partition: batch.partition, messages: chunk })
              break
            } catch (err) {
              const delay = Math.min(5000, 50 * 2 ** Math.min(failures + 1, 7))
              this.log.error({ err, topic, group: groupId, partition: batch.partition, offset: chunk[0]!.offset, retryInMs: delay },
                'bus handler failed; the batch will be redelivered')
              await sleep(delay)
              await heartbeat()
              if (!isRunning() || isStale()) return
            }
          }
          const last = chunk[chunk.length - 1]!.offset
          if (committer && !record.closing) committer.handled(batch.partition, last + 1)
          else await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(last + 1) }])
          resolveOffset(String(last))
          await heartbeat()
        }
        // The next fetch waits for this (kafkajs fetches again once every partition's batch is handled).
        if (maxWaitMs === 0 && all.length < maxBatchSize && isRunning()) await sleep(LIVE_LINGER_MS)
      },
    })
    await joined
    clearTimeout(joinTimer)
    return {
      close: async () => {
        this.subscriptions.delete(record)
        await this.leave([record])
      },
    }
  }

  /**
   * The members leave their groups, lazy commits flushed first; the ephemeral
   * groups they left are then deleted, in one request. Throws the first
   * member's failure to leave, after the others left.
   */
  private async leave(records: SubscriptionRecord[]): Promise<void> {
    const left = await Promise.allSettled(records.map(async (r) => {
      r.closing = true
      await r.committer?.flush()
      await r.consumer.disconnect()
    }))
    const ephemeral = records.filter((r, i) => r.ephemeral && left[i]!.status === 'fulfilled').map((r) => r.groupId)
    if (ephemeral.length > 0) {
      // Kafka may be down: its retries must not hold up a shutdown. Kafka forgets a group it kept once its offsets expire.
      const deleted = this.admin.deleteGroups(ephemeral).catch((err: unknown) => {
        this.log.warn({ err, groups: ephemeral }, "could not delete this process's groups")
      })
      if (!(await settlesWithin(DELETE_GROUP_TIMEOUT_MS, deleted))) this.log.warn({ groups: ephemeral }, "deleting this process's groups timed out")
    }
    const failed = left.find((l): l is PromiseRejectedResult => l.status === 'rejected')
    if (failed) throw failed.reason
  }

  /**
   * What a group still owes per partition: the log end minus its committed
   * offset. A partition the group never committed on owes everything retained
   * when the group reads from the beginning, and nothing when it started at the end.
   */
  private async groupLag(sub: { topic: string; groupId: string; fromBeginning: boolean }): Promise<Map<number, number>> {
    const [ends, committed] = await Promise.all([
      this.admin.fetchTopicOffsets(sub.topic),
      this.admin.fetchOffsets({ groupId: sub.groupId, topics: [sub.topic] }),
    ])
    const done = new Map(committed[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? [])
    const lag = new Map<number, number>()
    for (const end of ends) {
      const c = done.get(end.partition) ?? -1
      lag.set(end.partition, c >= 0 ? Math.max(0, Number(end.high) - c) : sub.fromBeginning ? Math.max(0, Number(end.high) - Number(end.low)) : 0)
    }
    return lag
  }

  /** Each group's lag as measured by the last probe (every few seconds), for the metrics. */
  lag(): BusLag[] {
    return [...this.subscriptions].map(({ topic, groupId, lag }) => ({
      topic: topic.slice(this.prefix.length), groupId: groupId.slice(this.prefix.length), lag: [...lag.values()].reduce((a, b) => a + b, 0),
    }))
  }

  isReady(): boolean {
    const stuck = this.sendStartedAt !== undefined && Date.now() - this.sendStartedAt > STUCK_SEND_MS
    return this.ready && !this.closed && this.probeOk && !this.lastSendFailed && !stuck
  }

  /** Waits until every group with a member here has committed up to each partition's end. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    await this.outbox.settled()
    while (Date.now() < deadline) {
      let behind = 0
      for (const sub of this.subscriptions) {
        await sub.committer?.flush()
        for (const owed of (await this.groupLag(sub)).values()) behind += owed
      }
      if (behind === 0) return true
      await sleep(100)
    }
    return false
  }

  async close(): Promise<void> {
    if (this.closed) return
    // Kafka may be down: wait for the last sends only so long; what they carried
    // was never acknowledged to anyone, and its publishers hear of the failure.
    await settlesWithin(this.options.closeTimeoutMs ?? 10_000, this.outbox.settled())
    this.closed = true
    clearInterval(this.probeTimer)
    await this.leave([...this.subscriptions]).catch(() => {})
    await this.producer.disconnect().catch(() => {})
    await this.admin.disconnect().catch(() => {})
  }
}
