/** InFlightBatcher: what is asked while a call runs goes together in the next call. */
import { describe, expect, it } from 'vitest'
import { InFlightBatcher } from '../core/batcher.js'

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
