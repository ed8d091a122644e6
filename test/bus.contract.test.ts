/**
 * The bus contract, on every implementation available: the in-process bus
 * always, Kafka when KAFKA_BROKERS is set (npm run test:all starts one).
 * Topic names are unique per test, so tests never share state on Kafka.
 */
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { BusFullError, type Bus, type ConsumedBatch } from '../core/bus/bus.js'
import { KafkaBus } from '../core/bus/kafka.bus.js'
import { MemoryBus } from '../core/bus/memory.bus.js'
import { decodeBatch } from '../core/bus/decode.js'
import { Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { createLogger } from '../core/logger.js'
import { deleteMatching } from './helpers/kafka.js'
import { waitFor } from './helpers/platform.js'

type Factory = (opts?: { partitions?: number; maxBacklog?: number }) => Bus
const logger = createLogger('silent')
const buses: Bus[] = []
afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close()))
})
const track = (bus: Bus) => (buses.push(bus), bus)

const implementations: Array<[string, Factory]> = [
  ['in-process', (o = {}) => track(new MemoryBus({ partitions: o.partitions ?? 4, maxBacklog: o.maxBacklog ?? 10_000, logger }))],
]
if (process.env.KAFKA_BROKERS) {
  const brokers = process.env.KAFKA_BROKERS.split(',')
  implementations.push(['kafka', (o = {}) => track(new KafkaBus({ brokers, clientId: 'fleetpulse-test', partitions: o.partitions ?? 4, logger }))])
}
// Every topic and namespace of this file carries RUN, so afterAll can delete them from the shared broker.
const RUN = randomUUID().slice(0, 8)
const unique = (name: string) => `test.${name}.${RUN}.${randomUUID()}`
afterAll(async () => {
  if (process.env.KAFKA_BROKERS) await deleteMatching(process.env.KAFKA_BROKERS, (name) => name.includes(RUN))
})
const newBus: Factory = implementations[0]![1]

const msg = (key: string, value: string) => ({ key, value: Buffer.from(value) })
const values = (batches: ConsumedBatch[]) => batches.flatMap((b) => b.messages.map((m) => m.value.toString()))

describe.each(implementations)('%s bus contract', (_name, make) => {
  it('keeps per-key order across partitions and batches', async () => {
    const bus = make({ partitions: 8 })
    const topic = unique('order')
    await bus.ensureTopics([topic])
    const seen = new Map<string, number[]>()
    await bus.subscribe({ topic, groupId: 'g', fromBeginning: true, maxBatchSize: 7 }, async (batch) => {
      for (const m of batch.messages) {
        const list = seen.get(m.key) ?? []
        list.push(Number(m.value.toString()))
        seen.set(m.key, list)
      }
    })
    for (let i = 0; i < 1000; i++) await bus.publish(topic, [msg(`k${i % 13}`, String(i))])
    await waitFor(() => [...seen.values()].reduce((n, l) => n + l.length, 0) === 1000 || undefined)
    for (const list of seen.values()) expect(list).toEqual([...list].sort((a, b) => a - b))
  })

  it('gives each group every message, and splits partitions among the members of one group', async () => {
    const bus = make({ partitions: 4 })
    const topic = unique('groups')
    await bus.ensureTopics([topic])
    const a: ConsumedBatch[] = []
    const b1: ConsumedBatch[] = []
    const b2: ConsumedBatch[] = []
    await bus.subscribe({ topic, groupId: 'a', fromBeginning: true }, async (x) => void a.push(x))
    await bus.subscribe({ topic, groupId: 'b', fromBeginning: true }, async (x) => void b1.push(x))
    await bus.subscribe({ topic, groupId: 'b', fromBeginning: true }, async (x) => void b2.push(x))
    await bus.publish(topic, Array.from({ length: 200 }, (_, i) => msg(`key-${i}`, String(i))))
    await waitFor(() => values(a).length === 200 && values(b1).length + values(b2).length === 200 || undefined)
    expect(new Set(values(a)).size).toBe(200)
    expect(new Set([...values(b1), ...values(b2)]).size).toBe(200)
    expect(values(b1).length).toBeGreaterThan(0)
    expect(values(b2).length).toBeGreaterThan(0)
    const p1 = new Set(b1.map((x) => x.partition))
    for (const x of b2) expect(p1.has(x.partition)).toBe(false)
  })

  it('redelivers a batch whose handler failed, and commits only after success', async () => {
    const bus = make({ partitions: 1 })
    const topic = unique('retry')
    await bus.ensureTopics([topic])
    let attempts = 0
    const done: string[] = []
    await bus.subscribe({ topic, groupId: 'g', fromBeginning: true, maxBatchSize: 10 }, async (batch) => {
      attempts++
      if (attempts <= 2) throw new Error('sink down')
      done.push(...batch.messages.map((m) => m.value.toString()))
    })
    await bus.publish(topic, [msg('k', '1'), msg('k', '2')])
    await waitFor(() => done.length === 2 || undefined)
    expect(done).toEqual(['1', '2'])
    expect(attempts).toBe(3)
    expect(bus.lag().find((l) => l.groupId === 'g')?.lag).toBe(0)
  })

  it('resumes a group after its member left without losing or repeating committed messages', async () => {
    const bus = make({ partitions: 2 })
    const topic = unique('leave')
    await bus.ensureTopics([topic])
    const first: string[] = []
    const sub = await bus.subscribe({ topic, groupId: 'g', fromBeginning: true }, async (b) => void first.push(...b.messages.map((m) => m.value.toString())))
    const second: string[] = []
    // A second member keeps the group alive while the first leaves.
    await bus.subscribe({ topic, groupId: 'g', fromBeginning: true }, async (b) => void second.push(...b.messages.map((m) => m.value.toString())))
    await bus.publish(topic, Array.from({ length: 50 }, (_, i) => msg(`k${i}`, `a${i}`)))
    await waitFor(() => first.length + second.length === 50 || undefined)
    await sub.close()
    await bus.publish(topic, Array.from({ length: 50 }, (_, i) => msg(`k${i}`, `b${i}`)))
    await waitFor(() => first.length + second.length === 100 || undefined)
    expect(new Set([...first, ...second]).size).toBe(100)
    expect(first.every((v) => v.startsWith('a'))).toBe(true)
  })

  it('commits a lazily committing group when it drains and when its member leaves, never repeating what was handled', async () => {
    const bus = make({ partitions: 2 })
    const topic = unique('lazy')
    await bus.ensureTopics([topic])
    // Far longer than the test: only drain() and close() can commit.
    const lazy = { topic, groupId: 'g', fromBeginning: true, commitIntervalMs: 600_000 }
    const first: string[] = []
    const sub = await bus.subscribe(lazy, async (b) => void first.push(...b.messages.map((m) => m.value.toString())))
    await bus.publish(topic, Array.from({ length: 40 }, (_, i) => msg(`k${i}`, `a${i}`)))
    await waitFor(() => first.length === 40 || undefined)
    expect(await bus.drain(10_000)).toBe(true)
    await bus.publish(topic, Array.from({ length: 40 }, (_, i) => msg(`k${i}`, `b${i}`)))
    await waitFor(() => first.length === 80 || undefined)
    await sub.close()
    const second: string[] = []
    await bus.subscribe(lazy, async (b) => void second.push(...b.messages.map((m) => m.value.toString())))
    await bus.publish(topic, Array.from({ length: 10 }, (_, i) => msg(`k${i}`, `c${i}`)))
    await waitFor(() => second.length >= 10 || undefined)
    expect(second.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `c${i}`).sort())
  })

  it('a new group reading from the end reads everything published once subscribe() returned', async () => {
    const bus = make({ partitions: 4 })
    const topic = unique('from-end')
    await bus.ensureTopics([topic])
    await bus.publish(topic, [msg('k', 'before')])
    // Several groups, each publishing at once: any of them may lose the race for "the end".
    const got = await Promise.all(Array.from({ length: 4 }, async (_, g) => {
      const seen: string[] = []
      await bus.subscribe({ topic, groupId: `end-${g}`, fromBeginning: false }, async (b) => void seen.push(...b.messages.map((m) => m.value.toString())))
      await bus.publish(topic, Array.from({ length: 8 }, (_, i) => msg(`k${i}`, `g${g}-${i}`)))
      return seen
    }))
    await waitFor(() => got.every((seen, g) => Array.from({ length: 8 }, (_, i) => `g${g}-${i}`).every((v) => seen.includes(v))) || undefined)
    for (const seen of got) expect(seen).not.toContain('before')
  })

  it('forgets an ephemeral group when its member leaves: under the same id it comes back where it is told, not where it left off', async () => {
    const bus = make({ partitions: 2 })
    const topic = unique('ephemeral')
    await bus.ensureTopics([topic])
    const node = { topic, groupId: `node-${randomUUID()}`, fromBeginning: false, ephemeral: true }
    const first: string[] = []
    const sub = await bus.subscribe(node, async (b) => void first.push(...b.messages.map((m) => m.value.toString())))
    await bus.publish(topic, Array.from({ length: 10 }, (_, i) => msg(`k${i}`, `a${i}`)))
    await waitFor(() => first.length === 10 || undefined)
    expect(await bus.drain(10_000)).toBe(true)
    await sub.close()
    // Published while nobody reads: a group that kept its offsets would read these on its return.
    await bus.publish(topic, Array.from({ length: 10 }, (_, i) => msg(`k${i}`, `b${i}`)))
    const again: string[] = []
    await bus.subscribe(node, async (b) => void again.push(...b.messages.map((m) => m.value.toString())))
    await bus.publish(topic, Array.from({ length: 10 }, (_, i) => msg(`k${i}`, `c${i}`)))
    await waitFor(() => again.length >= 10 || undefined)
    expect(again.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `c${i}`).sort())
  })
})

describe('in-process bus', () => {
  it("hands consumers the producer's decoded value, which decodeBatch then takes as is", async () => {
    const bus = newBus()
    const topic = unique('decoded')
    await bus.ensureTopics([topic])
    const got: ConsumedBatch[] = []
    await bus.subscribe({ topic, groupId: 'g', fromBeginning: true }, async (b) => void got.push(b))
    await bus.publish(topic, [{ key: 'k', value: Buffer.from('{"n":1}'), decoded: { n: 1, from: 'producer' } }])
    await waitFor(() => got.length === 1 || undefined)
    const check = TypeCompiler.Compile(Type.Object({ n: Type.Integer() }))
    expect(decodeBatch(got[0]!, check, () => {})).toEqual([{ n: 1, from: 'producer' }])
  })

  it('batches by size or after maxWaitMs', async () => {
    const bus = newBus({ partitions: 1 })
    const sizes: number[] = []
    await bus.subscribe({ topic: 't', groupId: 'g', fromBeginning: true, maxBatchSize: 100, maxWaitMs: 200 }, async (b) => void sizes.push(b.messages.length))
    await bus.publish('t', Array.from({ length: 250 }, (_, i) => msg('k', String(i))))
    await waitFor(() => sizes.reduce((a, b) => a + b, 0) === 250 || undefined)
    expect(sizes).toEqual([100, 100, 50])
    const start = Date.now()
    await bus.publish('t', [msg('k', 'late')])
    await waitFor(() => sizes.length === 4 || undefined)
    expect(Date.now() - start).toBeGreaterThanOrEqual(150)
  })

  it('makes publishers wait while a group lags beyond the backlog bound, and drains', async () => {
    const bus = newBus({ partitions: 1, maxBacklog: 1000 })
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let handled = 0
    await bus.subscribe({ topic: 't', groupId: 'slow', fromBeginning: true, maxBatchSize: 500 }, async (b) => {
      await gate
      handled += b.messages.length
    })
    await bus.publish('t', Array.from({ length: 1000 }, (_, i) => msg('k', String(i))))
    let accepted = false
    const pending = bus.publish('t', [msg('k', 'over')]).then(() => (accepted = true))
    await new Promise((r) => setTimeout(r, 100))
    expect(accepted).toBe(false)
    release()
    await pending
    expect(await bus.drain(5000)).toBe(true)
    expect(handled).toBe(1001)
  })

  it('keeps a bounded tail of a topic nobody reads, for a late reader starting from the beginning', async () => {
    const bus = newBus({ partitions: 1, maxBacklog: 1000 })
    await bus.publish('dlq', Array.from({ length: 1500 }, (_, i) => msg('k', String(i))))
    const got: string[] = []
    await bus.subscribe({ topic: 'dlq', groupId: 'late', fromBeginning: true }, async (b) => void got.push(...b.messages.map((m) => m.value.toString())))
    await waitFor(() => got.length === 1000 || undefined)
    expect(got[0]).toBe('500')
  })
})

describe('kafka bus without Kafka', () => {
  it('buffers a bounded number of messages, refuses more at once, and reports not ready', async () => {
    // A port nobody listens on: every send waits on connection retries.
    const bus = track(new KafkaBus({ brokers: ['127.0.0.1:1'], clientId: 'fleetpulse-test', partitions: 1, maxBuffered: 100, closeTimeoutMs: 200, logger }))
    const first = bus.publish('t', Array.from({ length: 60 }, (_, i) => msg('k', String(i))))
    first.catch(() => {})
    await expect(bus.publish('t', Array.from({ length: 60 }, (_, i) => msg('k', String(i))))).rejects.toBeInstanceOf(BusFullError)
    expect(bus.isReady()).toBe(false)
    // Still within the bound: accepted into the buffer (not resolved: Kafka never acknowledged it).
    let settled = false
    bus.publish('t', [msg('k', 'x')]).then(() => (settled = true), () => (settled = true))
    await new Promise((r) => setTimeout(r, 300))
    expect(settled).toBe(false)
  })
})

if (process.env.KAFKA_BROKERS) {
  const brokers = process.env.KAFKA_BROKERS.split(',')
  describe('kafka bus lag', () => {
    it("reports a group's lag from Kafka's own offsets, and drains only when the group owes nothing", async () => {
      const bus = track(new KafkaBus({ brokers, clientId: 'fleetpulse-test', partitions: 2, probeIntervalMs: 200, logger }))
      const topic = unique('lag')
      await bus.ensureTopics([topic])
      let release!: () => void
      const held = new Promise<void>((r) => (release = r))
      let seen = 0
      await bus.subscribe({ topic, groupId: 'slow', fromBeginning: true, maxBatchSize: 100 }, async (b) => {
        await held
        seen += b.messages.length
      })
      await bus.publish(topic, Array.from({ length: 50 }, (_, i) => msg(`k${i}`, String(i))))
      // The handler holds its first batch: the group owes at least what it has not committed.
      await waitFor(() => ((bus.lag()[0]?.lag ?? 0) >= 25 ? true : undefined), { what: 'a lag of the held messages', timeoutMs: 15_000 })
      expect(await bus.drain(500)).toBe(false)
      release()
      await waitFor(() => (seen === 50 ? true : undefined), { what: 'all 50 handled' })
      expect(await bus.drain(10_000)).toBe(true)
      await waitFor(() => (bus.lag()[0]?.lag === 0 ? true : undefined), { what: 'lag back to 0' })
    })
  })

  describe('kafka bus sends', () => {
    // 240-byte values, as fixes are: 5,000 of them for one key are over Kafka's 1 MiB per partition batch.
    const value = Buffer.alloc(240, 'x')
    const fixes = (n: number) => Array.from({ length: n }, () => ({ key: 'one vehicle', value }))

    it("takes 5,000 messages for one key at once (a device flushing its buffer): no send is over Kafka's batch limit", async () => {
      const bus = track(new KafkaBus({ brokers, clientId: 'fleetpulse-test', partitions: 2, logger }))
      const topic = unique('bytes')
      await bus.ensureTopics([topic])
      await Promise.all(Array.from({ length: 50 }, () => bus.publish(topic, fixes(100))))
      const admin = new Kafka({ clientId: 'fleetpulse-test-admin', brokers, logLevel: logLevel.NOTHING }).admin()
      await admin.connect()
      try {
        const stored = (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0)
        expect(stored).toBe(5000)
      } finally {
        await admin.disconnect()
      }
    })

    it('splits one publish over the bound into sends under it, in order; a record too large for Kafka is refused alone', async () => {
      const bus = track(new KafkaBus({ brokers, clientId: 'fleetpulse-test', partitions: 2, logger }))
      const topic = unique('too-large')
      await bus.ensureTopics([topic])
      const seen: string[] = []
      await bus.subscribe({ topic, groupId: 'g', fromBeginning: true, maxBatchSize: 1000 }, async (b) => {
        for (const m of b.messages) seen.push(m.value.toString().slice(0, 8))
      })
      const numbered = Array.from({ length: 5000 }, (_, i) => ({ key: 'one vehicle', value: Buffer.from(String(i).padStart(8, '0').padEnd(240, 'x')) }))
      const before = bus.publish(topic, [msg('one vehicle', 'before')])
      const whole = bus.publish(topic, numbered)
      const huge = bus.publish(topic, [{ key: 'one vehicle', value: Buffer.alloc(2 * 1024 * 1024, 'y') }])
      const after = bus.publish(topic, [msg('one vehicle', 'after')])
      await expect(huge).rejects.toThrow(/larger than the max message size/)
      await Promise.all([before, whole, after])
      await waitFor(() => seen.length === 5002 || undefined, { what: 'the 5,002 stored messages' })
      expect(seen).toEqual(['before', ...numbered.map((m) => m.value.toString().slice(0, 8)), 'after'])
    })
  })

  describe('kafka bus groups', () => {
    it("deletes an ephemeral group from Kafka when its subscription or the bus closes, and keeps a shared group's offsets", async () => {
      const admin = new Kafka({ clientId: 'fleetpulse-test-admin', brokers, logLevel: logLevel.NOTHING }).admin()
      await admin.connect()
      try {
        const groups = async () => new Set((await admin.listGroups()).groups.map((g) => g.groupId))
        const bus = track(new KafkaBus({ brokers, clientId: 'fleetpulse-test', partitions: 2, logger }))
        const topic = unique('groups')
        await bus.ensureTopics([topic])
        const shared = `shared-${randomUUID()}`
        const closed = `closed-${randomUUID()}`
        const atShutdown = `shutdown-${randomUUID()}`
        let seen = 0
        const count = async (b: ConsumedBatch) => void (seen += b.messages.length)
        await bus.subscribe({ topic, groupId: shared, fromBeginning: true }, count)
        const sub = await bus.subscribe({ topic, groupId: closed, fromBeginning: true, ephemeral: true }, count)
        await bus.subscribe({ topic, groupId: atShutdown, fromBeginning: true, ephemeral: true }, count)
        await bus.publish(topic, Array.from({ length: 10 }, (_, i) => msg(`k${i}`, String(i))))
        await waitFor(() => seen === 30 || undefined, { what: 'each group reading the 10 messages' })
        expect(await bus.drain(10_000)).toBe(true)
        for (const g of [shared, closed, atShutdown]) expect((await groups()).has(g)).toBe(true)
        await sub.close()
        expect((await groups()).has(closed)).toBe(false)
        await bus.close()
        const left = await groups()
        expect(left.has(atShutdown)).toBe(false)
        expect(left.has(shared)).toBe(true)
        await admin.deleteGroups([shared])
      } finally {
        await admin.disconnect()
      }
    })
  })

  describe('kafka bus namespaces', () => {
    it('keeps topics and groups of two namespaces apart on one cluster', async () => {
      const topic = unique('ns')
      const seen = new Map<string, string[]>()
      for (const namespace of [`a-${RUN}-${randomUUID()}`, `b-${RUN}-${randomUUID()}`]) {
        const bus = track(new KafkaBus({ brokers, clientId: 'fleetpulse-test', partitions: 2, namespace, logger }))
        await bus.ensureTopics([topic])
        const got: string[] = []
        seen.set(namespace, got)
        await bus.subscribe({ topic, groupId: 'g', fromBeginning: true }, async (b) => {
          expect(b.topic).toBe(topic)
          got.push(...b.messages.map((m) => m.value.toString()))
        })
        await bus.publish(topic, [msg('k', namespace)])
      }
      for (const [namespace, got] of seen) {
        await waitFor(() => got.length === 1 || undefined, { what: `the message of ${namespace}` })
        expect(got).toEqual([namespace])
      }
      for (const bus of buses) expect(bus.lag().map((l) => l.groupId)).toEqual(['g'])
    })
  })
}
