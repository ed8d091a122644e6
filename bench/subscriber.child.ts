/**
 * Subscriber helper for the Mosquitto baseline: one MQTT.js client on the
 * telemetry wildcard that only counts what the broker delivers to it.
 */
import { connect, type MqttClient } from 'mqtt'
import type { SubscriberApi } from './protocol.js'
import { serveRpc } from './rpc.js'

let client: MqttClient | undefined
let received = 0

const api: SubscriberApi = {
  async connect({ mqttUrl, topic, qos }) {
    const c = await new Promise<MqttClient>((resolve, reject) => {
      const attempt = connect(mqttUrl, { clientId: `bench-sub-${process.pid}`, clean: true, reconnectPeriod: 0 })
      attempt.once('connect', () => resolve(attempt))
      attempt.once('error', reject)
    })
    client = c
    c.on('message', () => received++)
    await c.subscribeAsync(topic, { qos })
  },
  received: () => received,
  async close() {
    await client?.endAsync(true)
  },
}

serveRpc(api)
