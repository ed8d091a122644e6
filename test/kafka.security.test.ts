/**
 * Kafka as managed clusters run it: a private broker whose client listener
 * takes SASL/PLAIN over TLS only (SASL_SSL, a self-signed certificate made by
 * openssl). The platform, configured by KAFKA_SSL_CA_FILE and KAFKA_SASL_*,
 * takes a fix from MQTT to ClickHouse through it; a wrong password, or a
 * certificate the client does not trust, is refused with a clear error.
 */
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KafkaBus } from '../core/bus/kafka.bus.js'
import { createLogger } from '../core/logger.js'
import { TOPICS } from '../schemas/topics.v1.js'
import { kafkaAvailable, plainSecurity, startPrivateKafka, withAdmin, type PrivateKafka } from './helpers/kafka.js'
import {
  clickhouseRows, connectDevice, login, provisionVehicle, startTestPlatform, waitFor, type TestPlatform,
} from './helpers/platform.js'

const missing = kafkaAvailable() ?? (spawnSync('openssl', ['version']).status === 0 ? undefined : 'openssl is not installed')
const credentials = { username: 'fleet', password: 'fleet-secret-0123' }

describe.skipIf(missing !== undefined)('Kafka with TLS and SASL/PLAIN', () => {
  let kafka: PrivateKafka
  let platform: TestPlatform | undefined
  const busWith = (tls: boolean | { ca: string }, password: string) => new KafkaBus({
    brokers: [kafka.brokers], clientId: 'fleetpulse-test', partitions: 1, logger: createLogger('silent'),
    security: { tls, sasl: { mechanism: 'plain', username: credentials.username, password } },
  })

  beforeAll(async () => {
    kafka = await startPrivateKafka({ sasl: credentials, tls: true })
  })
  afterAll(async () => {
    await platform?.close()
    await kafka?.dispose()
  })

  it('carries a fix from MQTT to ClickHouse for a platform given KAFKA_SSL_CA_FILE and KAFKA_SASL_*, on topics of one replica (one broker)', async () => {
    platform = await startTestPlatform({
      KAFKA_BROKERS: kafka.brokers, BUS_NAMESPACE: 'sasl', KAFKA_SSL_CA_FILE: kafka.caFile!,
      KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: credentials.username, KAFKA_SASL_PASSWORD: credentials.password,
    })
    expect(platform.bus.kind).toBe('kafka')
    const token = await login(platform.apiUrl)
    const v = await provisionVehicle(platform.apiUrl, token, 'Authenticated van')
    const device = await connectDevice(platform.mqttUrl, v)
    await device.publishAsync(v.topic, JSON.stringify({ ts: Date.now(), lat: 52.52, lon: 13.405, seq: 1 }), { qos: 1 })
    await device.endAsync()
    await waitFor(async () => {
      const rows = await clickhouseRows<{ n: string }>(platform!, 'SELECT count() AS n FROM positions FINAL WHERE vehicle_id = {v:UUID}', { v: v.vehicleId })
      return Number(rows[0]?.n) === 1 || undefined
    }, { what: 'the fix in ClickHouse', timeoutMs: 30_000 })
    // KAFKA_REPLICATION_FACTOR unset: 3, or the broker count when the cluster has fewer.
    const security = plainSecurity(credentials, readFileSync(kafka.caFile!, 'utf8'))
    const metadata = await withAdmin(kafka.brokers, (admin) => admin.fetchTopicMetadata({ topics: [`sasl.${TOPICS.positions}`] }), security)
    expect(metadata.topics[0]!.partitions.every((p) => p.replicas.length === 1)).toBe(true)
  })

  it('refuses a wrong password with an authentication error, and is not ready', async () => {
    const bus = busWith({ ca: readFileSync(kafka.caFile!, 'utf8') }, 'not-the-password')
    try {
      await expect(bus.ensureTopics(['sasl-refused'])).rejects.toThrow(/SASL PLAIN authentication failed/)
      expect(bus.isReady()).toBe(false)
    } finally {
      await bus.close()
    }
  })

  it("refuses a broker whose certificate it does not trust (KAFKA_SSL=true: the system's CAs)", async () => {
    const bus = busWith(true, credentials.password)
    try {
      await expect(bus.ensureTopics(['tls-refused'])).rejects.toThrow(/self-signed certificate/)
    } finally {
      await bus.close()
    }
  })
})
