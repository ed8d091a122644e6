/**
 * InFlightBatcher: what is asked while a call runs goes together in the next call.
 * GatheringWriter: concurrent writers' parts go in one write.
 */
import { describe, expect, it } from 'vitest'
import { GatheringWriter, InFlightBatcher } from '../core/batcher.js'

describe('InFlightBatcher', () => {
  it('starts at once when quiet, then batches what arrives while a call runs, with duplicates merged', async () => {
    const calls: string[][] = []
    let release: () => void = () => {}
    const batcher = new InFlightBatcher<string, string>(async (keys) => {
      calls.push(keys)
      if (calls.length === 1) await new Promise<void>((r) => (release = r))
      return new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.toUpperCase()]))
    })
    const first = batcher.load('a')
    expect(calls).toEqual([['a']])
    const rest = [batcher.load('b'), batcher.load('c'), batcher.load('b'), batcher.load('missing')]
    expect(calls).toHaveLength(1)
    release()
    expect(await first).toBe('A')
    expect(await Promise.all(rest)).toEqual(['B', 'C', 'B', undefined])
    expect(calls).toEqual([['a'], ['b', 'c', 'missing']])
  })

  it("rejects every request of a failed call, and the next call still runs", async () => {
    let fail = true
    const batcher = new InFlightBatcher<number, number>(async (keys) => {
      if (fail) throw new Error('database down')
      return new Map(keys.map((k) => [k, k * 2]))
    })
    await expect(batcher.load(1)).rejects.toThrow('database down')
    fail = false
    expect(await batcher.load(2)).toBe(4)
  })

  it('splits a long queue into calls of at most maxKeys', async () => {
    const sizes: number[] = []
    const batcher = new InFlightBatcher<number, number>(async (keys) => {
      sizes.push(keys.length)
      await new Promise((r) => setTimeout(r, 1))
      return new Map(keys.map((k) => [k, k]))
    }, 10)
    const all = await Promise.all(Array.from({ length: 35 }, (_, i) => batcher.load(i)))
    expect(all).toEqual(Array.from({ length: 35 }, (_, i) => i))
    expect(sizes).toEqual([1, 10, 10, 10, 4])
  })
})

describe('GatheringWriter', () => {
  const tick = (ms: number) => new Promise((r) => setTimeout(r, ms))

  it('writes the parts that arrive within gatherMs together, in the order they were added', async () => {
    const writes: Array<Array<{ name: string; items: string[] }>> = []
    const writer = new GatheringWriter<string>(async (parts) => void writes.push(parts), { gatherMs: 30, maxSize: 100, concurrency: 1 })
    const first = writer.add(['b1', 'b2'], 'p1:10-11')
    await tick(5)
    const second = writer.add(['a1', 'a2', 'a3'], 'p0:4-6')
    expect(writes).toHaveLength(0)
    await Promise.all([first, second])
    expect(writes).toEqual([[{ name: 'p1:10-11', items: ['b1', 'b2'] }, { name: 'p0:4-6', items: ['a1', 'a2', 'a3'] }]])
  })

  it('flush() writes what waits without waiting out gatherMs; settled() waits for what was added before it, not after', async () => {
    const writes: string[][] = []
    const releases: Array<() => void> = []
    const writer = new GatheringWriter<string>(async (parts) => {
      writes.push(parts.flatMap((p) => p.items))
      await new Promise<void>((r) => releases.push(r))
    }, { gatherMs: 60_000, maxSize: 1, concurrency: 1 })
    await expect(writer.settled()).resolves.toBeUndefined()
    const a = writer.add(['a'], 'a')
    writer.flush()
    expect(writes).toEqual([['a']])
    const b = writer.add(['b'], 'b')
    let settled = false
    const waited = writer.settled().then(() => (settled = true))
    const c = writer.add(['c'], 'c')
    await tick(10)
    expect(writes).toEqual([['a']])
    releases.shift()!()
    await a
    await tick(10)
    // b waited for a's write, then went at once (no gatherMs); c waits for b's.
    expect(writes).toEqual([['a'], ['b']])
    expect(settled).toBe(false)
    releases.shift()!()
    await Promise.all([b, waited])
    expect(settled).toBe(true)
    await tick(10)
    expect(writes).toEqual([['a'], ['b'], ['c']])
    releases.shift()!()
    await c
  })

  it('writes at once when maxSize is there, and never more than maxSize unless one part is larger', async () => {
    const sizes: number[] = []
    const writer = new GatheringWriter<number>(async (parts) => void sizes.push(parts.reduce((n, p) => n + p.items.length, 0)), { gatherMs: 60_000, maxSize: 5, concurrency: 1 })
    await Promise.all([writer.add([1, 2, 3], 'a'), writer.add([4, 5], 'b'), writer.add([6, 7, 8, 9, 10, 11, 12], 'c')])
    expect(sizes).toEqual([5, 7])
  })

  it('weighs a part by the size add() is given (bytes, for the Kafka bus) instead of its item count', async () => {
    const writes: string[][] = []
    const writer = new GatheringWriter<string>(async (parts) => void writes.push(parts.map((p) => p.name)), { gatherMs: 60_000, maxSize: 1000, concurrency: 1 })
    // Three one-item parts of 400: two fit under 1,000, the third goes next; a part over maxSize goes alone.
    await Promise.all([writer.add(['x'], 'a', 400), writer.add(['x'], 'b', 400), writer.add(['x'], 'c', 400), writer.add(['x'], 'huge', 5000), writer.add(['x'], 'd', 10)])
    expect(writes).toEqual([['a', 'b'], ['c'], ['huge'], ['d']])
  })

  it('gathers what arrives while writes run into the next write, with at most `concurrency` running', async () => {
    const writes: string[][] = []
    let running = 0
    let most = 0
    const releases: Array<() => void> = []
    const writer = new GatheringWriter<string>(async (parts) => {
      writes.push(parts.flatMap((p) => p.items))
      most = Math.max(most, ++running)
      await new Promise<void>((r) => releases.push(r))
      running--
    }, { gatherMs: 1, maxSize: 100, concurrency: 2 })
    const settled: string[] = []
    const add = (item: string) => writer.add([item], item).then(() => void settled.push(item))
    const all = [add('a')]
    await tick(20)
    all.push(add('b'))
    await tick(20)
    all.push(add('c'), add('d'), add('e'))
    await tick(20)
    expect(writes).toEqual([['a'], ['b']])
    releases.shift()!()
    await tick(20)
    // Only a's write ended: a is settled, c, d and e go together, b is still being written.
    expect(settled).toEqual(['a'])
    expect(writes).toEqual([['a'], ['b'], ['c', 'd', 'e']])
    while (releases.length > 0) releases.shift()!()
    await Promise.all(all)
    expect(most).toBe(2)
  })

  it("rejects every part of a failed write, and the next write still runs", async () => {
    let fail = true
    const writer = new GatheringWriter<number>(async () => {
      if (fail) throw new Error('clickhouse down')
    }, { gatherMs: 5, maxSize: 100, concurrency: 1 })
    const failed = [writer.add([1], 'a'), writer.add([2], 'b')]
    await expect(Promise.all(failed)).rejects.toThrow('clickhouse down')
    await expect(failed[1]).rejects.toThrow('clickhouse down')
    fail = false
    await expect(writer.add([3], 'c')).resolves.toBeUndefined()
  })
})
