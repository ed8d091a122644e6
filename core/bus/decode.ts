/**
 * Reads a batch of JSON bus messages against their topic's schema. A message
 * that does not match is a producer bug, never outside input: it is reported
 * and skipped, so one bad message cannot stall a partition forever. A message
 * from this process (the in-process bus) comes decoded already.
 */
import type { TSchema, Static } from '@sinclair/typebox'
import type { TypeCheck } from '@sinclair/typebox/compiler'
import type { ConsumedBatch, ConsumedMessage } from './bus.js'

export function decodeBatch<T extends TSchema>(
  batch: ConsumedBatch,
  check: TypeCheck<T>,
  onMalformed: (message: ConsumedMessage) => void,
): Static<T>[] {
  const out: Static<T>[] = []
  for (const m of batch.messages) {
    // Produced in this process, by this code, and checked there: trusted as is.
    if (m.decoded !== undefined) {
      out.push(m.decoded as Static<T>)
      continue
    }
    let value: unknown
    try {
      value = JSON.parse(m.value.toString('utf8'))
    } catch {
      value = undefined
    }
    if (check.Check(value)) out.push(value)
    else onMalformed(m)
  }
  return out
}
