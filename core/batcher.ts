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
