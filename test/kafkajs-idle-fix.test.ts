/**
 * The kafkajs request-queue fix (core/bus/kafkajs-idle-fix.ts) on kafkajs's
 * own RequestQueue, without a broker: an answered request leaves no timer
 * behind, and requests held back by the in-flight limit or by broker
 * throttling still go out. The bus contract and the distributed tests run it
 * against real Kafka.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { applyKafkajsIdleFix } from '../core/bus/kafkajs-idle-fix.js'

type Queue = {
  push(r: { entry: { correlationId: number; apiName: string; resolve: () => void; reject: () => void }; expectResponse: boolean; sendRequest: () => void }): void
  fulfillRequest(r: { correlationId: number; payload: Buffer; size: number }): void
  maybeThrottle(ms: number): void
  destroy(): void
  pending: unknown[]
  inflight: Map<number, unknown>
  throttleCheckTimeoutId: NodeJS.Timeout | null
}

const RequestQueue = applyKafkajsIdleFix() as unknown as new (options: object) => Queue
const quiet = { debug() {}, info() {}, warn() {}, error() {} }
const queues: Queue[] = []

function queue(maxInFlightRequests: number | null): { q: Queue; sent: number[] } {
  const q = new RequestQueue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'test', broker: 'b:9092', logger: quiet })
  queues.push(q)
  const sent: number[] = []
  return { q, sent }
}

function push(q: Queue, sent: number[], correlationId: number): void {
  q.push({ entry: { correlationId, apiName: 'Produce', resolve: () => {}, reject: () => {} }, expectResponse: true, sendRequest: () => sent.push(correlationId) })
}

const answer = (q: Queue, correlationId: number) => q.fulfillRequest({ correlationId, payload: Buffer.alloc(0), size: 0 })

afterEach(() => {
  for (const q of queues.splice(0)) q.destroy()
})

describe('kafkajs request queue (idle fix)', () => {
  it('schedules nothing once every request is answered (kafkajs 2.2.4 spun on a 1 ms timer from then on)', () => {
    const { q, sent } = queue(null)
    push(q, sent, 1)
    push(q, sent, 2)
    answer(q, 1)
    answer(q, 2)
    expect(sent).toEqual([1, 2])
    expect(q.inflight.size).toBe(0)
    expect(q.throttleCheckTimeoutId).toBeNull()
  })

  it('sends a request held back by the in-flight limit when the one before is answered', async () => {
    const { q, sent } = queue(1)
    push(q, sent, 1)
    push(q, sent, 2)
    push(q, sent, 3)
    expect(sent).toEqual([1])
    answer(q, 1)
    expect(sent).toEqual([1, 2])
    answer(q, 2)
    answer(q, 3)
    expect(sent).toEqual([1, 2, 3])
    expect(q.pending).toHaveLength(0)
    // The 10 ms fallback check set while requests waited runs once, finds none, and sets no other.
    await new Promise((r) => setTimeout(r, 40))
    expect(q.throttleCheckTimeoutId).toBeNull()
  })

  it('sends a request held back by broker throttling once the throttle ends', async () => {
    const { q, sent } = queue(null)
    q.maybeThrottle(50)
    push(q, sent, 1)
    expect(sent).toEqual([])
    expect(q.throttleCheckTimeoutId).not.toBeNull()
    await new Promise((r) => setTimeout(r, 120))
    expect(sent).toEqual([1])
    answer(q, 1)
    expect(q.throttleCheckTimeoutId).toBeNull()
  })
})
