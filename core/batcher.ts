/**
 * Coalesces single-key requests into one call for many keys: a request made
 * while no call runs starts one at once (no added latency when quiet); the
 * requests made while a call runs go together in the next one. A reconnect
 * storm of thousands of devices then costs a handful of queries, not one each.
 *
 * DataLoader batches per tick instead, which does not gather requests that
 * arrive on separate socket reads; this gathers exactly while the database is
 * busy, which is when it matters.
 */
export class InFlightBatcher<K, V> {
  private waiting = new Map<K, Array<{ resolve: (v: V | undefined) => void; reject: (err: unknown) => void }>>()
  private running = false

  constructor(
    private readonly run: (keys: K[]) => Promise<Map<K, V>>,
    private readonly maxKeys = 1000,
  ) {}

  /** The value for `key`, or undefined when the call's answer has none. */
  load(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const waiters = this.waiting.get(key)
      if (waiters) waiters.push({ resolve, reject })
      else this.waiting.set(key, [{ resolve, reject }])
      this.next()
    })
  }

  private next(): void {
    if (this.running || this.waiting.size === 0) return
    const batch = new Map<K, Array<{ resolve: (v: V | undefined) => void; reject: (err: unknown) => void }>>()
    for (const [key, waiters] of this.waiting) {
      if (batch.size >= this.maxKeys) break
      batch.set(key, waiters)
      this.waiting.delete(key)
    }
    this.running = true
    this.run([...batch.keys()]).then(
      (found) => {
        for (const [key, waiters] of batch) for (const w of waiters) w.resolve(found.get(key))
      },
      (err: unknown) => {
        for (const waiters of batch.values()) for (const w of waiters) w.reject(err)
      },
    ).finally(() => {
      this.running = false
      this.next()
    })
  }
}

/** What one caller added: its items, under its name. */
export interface WrittenPart<T> {
  name: string
  items: T[]
}

interface GatheredPart<T> extends WrittenPart<T> {
  size: number
  /** Its place in the order of add() calls, from 1. */
  seq: number
  resolve: () => void
  reject: (err: unknown) => void
}

/**
 * Gathers the writes of concurrent callers into one write, bounded:
 * - the stream's sink: embedded ClickHouse pays tens of milliseconds of CPU
 *   per INSERT whatever its size (a new part on disk, merged again later), so
 *   the batches of eight partitions cost one insert instead of eight;
 * - the Kafka bus's producer: kafkajs sends what it is given at once, so
 *   publishes are gathered into one produce request.
 *
 * A write waits up to `gatherMs` for company, or none once `maxSize` is
 * there; at most `concurrency` writes run at once, and what arrives while they
 * run goes in the next one (everything that came during a round trip, up to
 * `maxSize`, so throughput grows with the load). A part's size is its count of
 * items unless add() is told otherwise (the Kafka bus counts bytes). A write
 * takes whole parts in the order they were added, at least one (so a part
 * larger than `maxSize` goes alone), so with a concurrency of 1 the
 * items are written in the order they were added; with more, a caller keeps
 * its order by waiting for each add before the next. Each caller's promise
 * settles with the write that carried its items, so a caller acts (commits
 * its offsets, acknowledges a device) only once its own items are written.
 */
export class GatheringWriter<T> {
  private pending: Array<GatheredPart<T>> = []
  /** The size of the parts waiting. */
  private size = 0
  private timer: NodeJS.Timeout | undefined
  /** Parts added so far (the last part's seq). */
  private added = 0
  /** The writes running: the seq of their first part, and their end (parts settled, next write started). */
  private readonly writing = new Set<{ first: number; done: Promise<void> }>()

  constructor(
    private readonly write: (parts: Array<WrittenPart<T>>) => Promise<void>,
    private readonly options: { gatherMs: number; maxSize: number; concurrency: number },
  ) {}

  /** Writes `items` with those of other callers; `name` names them (e.g. topic, partition and offsets). */
  add(items: T[], name: string, size = items.length): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ name, items, size, seq: ++this.added, resolve, reject })
      this.size += size
      if (this.writing.size >= this.options.concurrency) return
      if (this.size >= this.options.maxSize) this.flush()
      else this.timer ??= setTimeout(() => this.flush(), this.options.gatherMs)
    })
  }

  /** Starts a write of what waits now, without waiting out `gatherMs` (if fewer than `concurrency` run). */
  flush(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.writing.size >= this.options.concurrency || this.pending.length === 0) return
    const batch: Array<GatheredPart<T>> = []
    let n = 0
    while (this.pending.length > 0 && (batch.length === 0 || n + this.pending[0]!.size <= this.options.maxSize)) {
      const next = this.pending.shift()!
      batch.push(next)
      n += next.size
    }
    this.size -= n
    const running = { first: batch[0]!.seq, done: Promise.resolve() }
    this.writing.add(running)
    running.done = this.write(batch.map(({ name, items }) => ({ name, items }))).then(
      () => {
        for (const b of batch) b.resolve()
      },
      (err: unknown) => {
        for (const b of batch) b.reject(err)
      },
    ).finally(() => {
      this.writing.delete(running)
      // What arrived meanwhile waited for a write to end: it goes at once.
      this.flush()
    })
  }

  /** Resolves once every item added so far was written or failed; what waits is written at once. */
  async settled(): Promise<void> {
    const upTo = this.added
    this.flush()
    // Parts go to writes in the order added, so while a part added before this call waits, every write
    // running holds older parts: waiting for the writes that hold one, again and again, waits for them all.
    for (;;) {
      const before = [...this.writing].filter((w) => w.first <= upTo)
      if (before.length === 0) return
      await Promise.all(before.map((w) => w.done))
    }
  }
}
