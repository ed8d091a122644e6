/**
 * fleetpulse's Kafka partitioner must pick the partition Kafka's own default
 * partitioner picks for a key (kafkajs's DefaultPartitioner, the Java client's),
 * so every producer of a vehicle's messages agrees, whatever client it runs.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { Partitioners } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { javaPartitioner, murmur2 } from '../core/bus/kafka.bus.js'

const require = createRequire(import.meta.url)
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number

describe('Kafka partitioner', () => {
  it('computes murmur2 as kafkajs does, for every key length', () => {
    for (let len = 0; len < 80; len++) {
      for (let i = 0; i < 20; i++) {
        const key = randomBytes(len)
        expect(murmur2(key)).toBe(kafkajsMurmur2(key))
      }
    }
    // A known value of Kafka's Java Utils.murmur2 ("21" -> -973932308).
    expect(murmur2(Buffer.from('21'))).toBe(-973932308)
  })

  it("picks kafkajs DefaultPartitioner's partition for vehicle ids", () => {
    const ours = javaPartitioner()
    const theirs = Partitioners.DefaultPartitioner()
    for (const partitions of [1, 3, 8, 12, 64]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }))
      for (let i = 0; i < 500; i++) {
        const message = { key: randomUUID(), value: 'x' }
        expect(ours({ partitionMetadata, message })).toBe(theirs({ topic: 't', partitionMetadata, message }))
      }
    }
  })

  it('hashes any string key as its UTF-8 bytes: non-ASCII, and longer than the reused buffer', () => {
    const ours = javaPartitioner()
    const theirs = Partitioners.DefaultPartitioner()
    const partitionMetadata = Array.from({ length: 8 }, (_, i) => ({ partitionId: i, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }))
    for (const key of ['fahrzeug-müller-ß', '車両-東京-42', '🚚'.repeat(40), 'x'.repeat(85), 'x'.repeat(86), 'é'.repeat(200), '']) {
      const message = { key, value: 'x' }
      expect(ours({ partitionMetadata, message })).toBe(theirs({ topic: 't', partitionMetadata, message }))
    }
  })
})
