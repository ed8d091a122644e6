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

interface GatheredPart<T> {
  items: T[]
  part: string
  resolve: () => void
  reject: (err: unknown) => void
}

/**
 * Gathers the writes of concurrent callers (a sink's partitions) into one
 * write: embedded ClickHouse pays tens of milliseconds of CPU per INSERT
 * whatever its size (a new part on disk, merged again later), so the batches
 * of eight partitions cost one insert instead of eight.
 *
 * A write waits up to `gatherMs` for company, or none once `maxItems` are
 * there; at most `concurrency` writes run at once, and what arrives while they
 * run goes in the next one. A caller never has two parts in writes at once
 * when it waits for each before adding the next, so its order holds. Each caller's
 * promise settles with the write that carried its items, so a caller acts
 * (commits its offsets) only once its own items are stored. The write gets
 * the items part after part, each part's in the order given, and the parts'
 * names sorted.
 */
export class GatheringWriter<T> {
  private pending: Array<GatheredPart<T>> = []
  private count = 0
  private running = 0
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly write: (items: T[], parts: string[]) => Promise<void>,
    private readonly options: { gatherMs: number; maxItems: number; concurrency: number },
  ) {}

  /** Writes `items` with those of other callers; `part` names them (e.g. topic, partition and offsets). */
  add(items: T[], part: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ items, part, resolve, reject })
      this.count += items.length
      if (this.running >= this.options.concurrency) return
      if (this.count >= this.options.maxItems) this.flush()
      else this.timer ??= setTimeout(() => this.flush(), this.options.gatherMs)
    })
  }

  private flush(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.running >= this.options.concurrency || this.pending.length === 0) return
    // Whole parts up to maxItems (at least one part).
    const batch: Array<GatheredPart<T>> = []
    let n = 0
    while (this.pending.length > 0 && (batch.length === 0 || n + this.pending[0]!.items.length <= this.options.maxItems)) {
      const next = this.pending.shift()!
      batch.push(next)
      n += next.items.length
    }
    this.count -= n
    batch.sort((a, b) => (a.part < b.part ? -1 : a.part > b.part ? 1 : 0))
    const items: T[] = []
    for (const b of batch) for (const item of b.items) items.push(item)
    this.running++
    this.write(items, batch.map((b) => b.part)).then(
      () => {
        for (const b of batch) b.resolve()
      },
      (err: unknown) => {
        for (const b of batch) b.reject(err)
      },
    ).finally(() => {
      this.running--
      // What arrived meanwhile waited for a write to end: it goes at once.
      this.flush()
    })
  }
}
