/**
 * In-process bus with Kafka's contract (see bus.ts). Used by the embedded mode,
 * where ingest, stream and api share one process. It is not crash-durable: what
 * it holds lives in memory, which is why graceful shutdown drains it.
 *
 * Memory stays bounded: a partition keeps only what some active group has not
 * committed yet; publishers wait while a group lags more than `maxBacklog`
 * messages on a partition (ingest then withholds PUBACKs, and devices keep their
 * data). A topic no group reads keeps at most `maxBacklog` recent messages.
 */
import type { Logger } from 'pino'
import {
  partitionForKey,
  type BatchHandler,
  type Bus,
  type BusLag,
  type BusMessage,
  type ConsumedMessage,
  type SubscribeOptions,
  type Subscription,
} from './bus.js'

export interface MemoryBusOptions {
  partitions: number
  maxBacklog: number
  logger: Logger
}

class Signal {
  private waiters: Array<() => void> = []
  wait(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const done = () => {
        if (timer) clearTimeout(timer)
        resolve()
      }
      this.waiters.push(done)
      if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs)
    })
  }
  notify(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }
}

/** One shape for every message held (the hot path stays monomorphic); the bytes are made on first read. */
class StoredMessage implements ConsumedMessage {
  readonly key: string
  readonly headers: Record<string, string> | undefined
  readonly decoded: unknown
  private bytes: Buffer | undefined

  constructor(msg: BusMessage, readonly partition: number, readonly offset: number, readonly timestamp: number) {
    this.key = msg.key
    this.headers = msg.headers
    this.decoded = msg.decoded
    this.bytes = msg.value
  }

  get value(): Buffer {
    return (this.bytes ??= Buffer.from(JSON.stringify(this.decoded)))
  }
}

class Partition {
  /** Offset of log[start]. */
  base = 0
  private start = 0
  private log: ConsumedMessage[] = []
  readonly arrived = new Signal()
  /** Readers waiting for the log to reach an end offset (a batch to fill), woken by the append that gets there. */
  private fills: Array<{ end: number; done: () => void }> = []
  readonly space = new Signal()

  constructor(readonly index: number) {}

  get end(): number {
    return this.base + (this.log.length - this.start)
  }

  append(msg: BusMessage, timestamp: number): void {
    this.log.push(new StoredMessage(msg, this.index, this.end, timestamp))
  }

  /** New messages are in: wakes readers waiting for any, and fill waiters whose end was reached. */
  appended(): void {
    this.arrived.notify()
    if (this.fills.length === 0) return
    const end = this.end
    const still = this.fills.filter((f) => f.end > end)
    if (still.length === this.fills.length) return
    const due = this.fills.filter((f) => f.end <= end)
    this.fills = still
    for (const f of due) f.done()
  }

  /** Wakes every reader (a rebalance, a close): each looks at its state again. */
  wakeAll(): void {
    this.arrived.notify()
    const fills = this.fills
    this.fills = []
    for (const f of fills) f.done()
  }

  /**
   * Resolves once the log reaches `end`, after `timeoutMs`, or at wakeAll: one
   * timer per wait, not one per message arriving meanwhile.
   */
  filled(end: number, timeoutMs: number): Promise<void> {
    if (this.end >= end) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.fills = this.fills.filter((f) => f !== fill)
        resolve()
      }, timeoutMs)
      const fill = { end, done: () => { clearTimeout(timer); resolve() } }
      this.fills.push(fill)
    })
  }

  slice(from: number, max: number): ConsumedMessage[] {
    const i = this.start + (from - this.base)
    return this.log.slice(i, i + max)
  }

  /** Forgets messages below `offset`. */
  trim(offset: number): void {
    const drop = Math.min(offset - this.base, this.log.length - this.start)
    if (drop <= 0) return
    this.start += drop
    this.base += drop
    // Compact now and then rather than shifting on every commit.
    if (this.start > 4096 && this.start * 2 > this.log.length) {
      this.log = this.log.slice(this.start)
      this.start = 0
    }
  }
}

interface Member {
  handler: BatchHandler
  options: Required<SubscribeOptions>
  closed: boolean
  /** This member's partition loops, awaited when it leaves. */
  loops: Set<Promise<void>>
}

class Group {
  members: Member[] = []
  owner: Array<Member | undefined>
  committed: number[]
  loops: Array<Promise<void> | undefined>

  constructor(readonly id: string, readonly topic: Topic) {
    const n = topic.partitions.length
    this.owner = new Array<Member | undefined>(n).fill(undefined)
    this.committed = topic.partitions.map((p) => p.end)
    this.loops = new Array<Promise<void> | undefined>(n).fill(undefined)
  }
}

class Topic {
  readonly partitions: Partition[]
  readonly groups = new Map<string, Group>()
  constructor(readonly name: string, partitionCount: number) {
    this.partitions = Array.from({ length: partitionCount }, (_, i) => new Partition(i))
  }
  private active: Group[] = []
  /** Groups with a live member; kept current by `membersChanged`, read on every publish. */
  activeGroups(): Group[] {
    return this.active
  }
  membersChanged(): void {
    this.active = [...this.groups.values()].filter((g) => g.members.length > 0)
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const
  private readonly topics = new Map<string, Topic>()
  private closed = false

  constructor(private readonly options: MemoryBusOptions) {}

  private topic(name: string): Topic {
    let t = this.topics.get(name)
    if (!t) {
      t = new Topic(name, this.options.partitions)
      this.topics.set(name, t)
    }
    return t
  }

  async ensureTopics(topics: string[]): Promise<void> {
    for (const name of topics) this.topic(name)
  }

  async publish(topicName: string, messages: BusMessage[]): Promise<void> {
    if (this.closed) throw new Error('bus is closed')
    const topic = this.topic(topicName)
    const now = Date.now()
    // Append synchronously, in call order, so that callers publishing in sequence
    // keep per-key order even if they do not await each other.
    const touched: Partition[] = []
    for (const msg of messages) {
      const p = topic.partitions[partitionForKey(msg.key, topic.partitions.length)]!
      p.append(msg, now)
      if (!touched.includes(p)) touched.push(p)
    }
    for (const p of touched) {
      p.appended()
      this.trimIdle(topic, p)
    }
    // Backpressure: resolve (= accepted) only once no reader lags too far behind.
    for (const p of touched) {
      while (!this.closed && this.backlog(topic, p) > this.options.maxBacklog) {
        await p.space.wait(1000)
      }
    }
  }

  private backlog(topic: Topic, p: Partition): number {
    let worst = 0
    for (const g of topic.activeGroups()) worst = Math.max(worst, p.end - g.committed[p.index]!)
    return worst
  }

  /** With no reader, a topic keeps only its newest `maxBacklog` messages. */
  private trimIdle(topic: Topic, p: Partition): void {
    if (topic.activeGroups().length === 0) p.trim(p.end - this.options.maxBacklog)
  }

  private trimRead(topic: Topic, p: Partition): void {
    const groups = topic.activeGroups()
    if (groups.length === 0) return this.trimIdle(topic, p)
    p.trim(Math.min(...groups.map((g) => g.committed[p.index]!)))
    p.space.notify()
  }

  async subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription> {
    if (this.closed) throw new Error('bus is closed')
    const topic = this.topic(options.topic)
    let group = topic.groups.get(options.groupId)
    if (!group) {
      group = new Group(options.groupId, topic)
      topic.groups.set(options.groupId, group)
    }
    if (group.members.length === 0) {
      // A group with no live member has no offsets worth keeping here: it
      // starts where it is told to (Kafka's auto.offset.reset).
      group.committed = topic.partitions.map((p) => (options.fromBeginning ? p.base : p.end))
    }
    const member: Member = {
      handler,
      // Commits here are an assignment: commitIntervalMs changes nothing.
      options: { fromBeginning: false, maxBatchSize: 500, maxWaitMs: 0, commitIntervalMs: 0, ephemeral: false, ...options },
      closed: false,
      loops: new Set(),
    }
    group.members.push(member)
    topic.membersChanged()
    this.rebalance(group)
    const g = group
    return {
      close: async () => {
        if (member.closed) return
        member.closed = true
        g.members = g.members.filter((m) => m !== member)
        topic.membersChanged()
        this.rebalance(g)
        for (const p of topic.partitions) p.wakeAll()
        await Promise.all([...member.loops])
        if (g.members.length > 0) return
        for (const p of topic.partitions) this.trimRead(topic, p)
        if (member.options.ephemeral) topic.groups.delete(g.id)
      },
    }
  }

  /** Round-robin assignment; a partition's new loop starts after the old one's batch. */
  private rebalance(group: Group): void {
    const partitions = group.topic.partitions
    for (const p of partitions) {
      const next = group.members.length ? group.members[p.index % group.members.length] : undefined
      if (group.owner[p.index] === next) continue
      group.owner[p.index] = next
      p.wakeAll()
      if (!next) continue
      const previous = group.loops[p.index]
      const loop = (async () => {
        await previous
        await this.runPartition(group, p, next)
      })()
      group.loops[p.index] = loop
      next.loops.add(loop)
      void loop.finally(() => next.loops.delete(loop))
    }
  }

  private async runPartition(group: Group, p: Partition, member: Member): Promise<void> {
    const { maxBatchSize, maxWaitMs } = member.options
    const log = this.options.logger
    let failures = 0
    const owned = () => !member.closed && !this.closed && group.owner[p.index] === member
    while (owned()) {
      const position = Math.max(group.committed[p.index]!, p.base)
      if (p.end <= position) {
        await p.arrived.wait()
        continue
      }
      if (maxWaitMs > 0 && p.end - position < maxBatchSize) {
        const deadline = Date.now() + maxWaitMs
        while (owned() && p.end - position < maxBatchSize && Date.now() < deadline) {
          await p.filled(position + maxBatchSize, deadline - Date.now())
        }
        if (!owned()) break
      }
      const messages = p.slice(position, maxBatchSize)
      try {
        await member.handler({ topic: group.topic.name, partition: p.index, messages })
        failures = 0
        group.committed[p.index] = position + messages.length
        this.trimRead(group.topic, p)
      } catch (err) {
        failures++
        const delay = Math.min(5000, 50 * 2 ** Math.min(failures, 7))
        log.error(
          { err, topic: group.topic.name, group: group.id, partition: p.index, offset: position, retryInMs: delay },
          'bus handler failed; the batch will be redelivered',
        )
        await sleep(delay)
      }
    }
  }

  lag(): BusLag[] {
    const out: BusLag[] = []
    for (const topic of this.topics.values()) {
      for (const g of topic.activeGroups()) {
        const lag = topic.partitions.reduce((sum, p) => sum + (p.end - g.committed[p.index]!), 0)
        out.push({ topic: topic.name, groupId: g.id, lag })
      }
    }
    return out
  }

  isReady(): boolean {
    return !this.closed
  }

  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (this.lag().every((l) => l.lag === 0)) return true
      await sleep(10)
    }
    return false
  }

  async close(): Promise<void> {
    this.closed = true
    const loops: Array<Promise<void> | undefined> = []
    for (const topic of this.topics.values()) {
      for (const p of topic.partitions) {
        p.wakeAll()
        p.space.notify()
      }
      for (const g of topic.groups.values()) loops.push(...g.loops)
    }
    await Promise.all(loops.filter(Boolean))
  }
}
