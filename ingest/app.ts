/**
 * The MQTT side of ingest: an Aedes broker whose hooks authenticate devices,
 * enforce the topic ACL and hand telemetry to the bus. Builds from explicit
 * dependencies and opens no port (server.ts does).
 *
 * Identity comes from the device registry, never from the payload or topic: a
 * device authenticates as username = device id, password = secret, and the org
 * and vehicle it publishes for are looked up once at CONNECT.
 */
import { randomUUID } from 'node:crypto'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { BusFullError, type Bus, type BusMessage } from '../core/bus/bus.js'
import { secretMatches } from '../core/secrets.js'
import { decodeBatch } from '../core/bus/decode.js'
import { DeviceControlV1, TOPICS, type DlqRecordV1 } from '../schemas/topics.v1.js'
import type { DevicesRepository } from './devices.repository.js'
import { createIngestMetrics } from './ingest.metrics.js'
import { decodeEvents } from './events.decoder.js'
import { decodeTelemetry, type DeviceIdentity } from './telemetry.decoder.js'

export interface IngestDeps {
  bus: Bus
  devices: DevicesRepository
  logger: Logger
  registry: Registry
  h3Resolution: number
  maxPayloadBytes: number
}

export interface Ingest {
  broker: Aedes
  close(): Promise<void>
}

// MQTT 3.1.1 CONNACK return codes (section 3.2.2.3).
const IDENTIFIER_REJECTED = 2
const BAD_USERNAME_OR_PASSWORD = 4
const NOT_AUTHORIZED = 5

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function connectError(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

const checkControl = TypeCompiler.Compile(DeviceControlV1)

export const telemetryTopic = (deviceId: string) => `devices/${deviceId}/telemetry`
export const eventsTopic = (deviceId: string) => `devices/${deviceId}/events`
export const commandsTopic = (deviceId: string) => `devices/${deviceId}/commands`

const encode = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))

export async function buildIngest(deps: IngestDeps): Promise<Ingest> {
  const { bus, devices, h3Resolution, maxPayloadBytes } = deps
  const log = deps.logger.child({ component: 'ingest' })
  const metrics = createIngestMetrics(deps.registry)
  const counts = metrics.perPublish
  // What handoff() counts once the bus took a message's items (made once, not per PUBLISH).
  const countFixes = (n: number) => void (counts.fixes += n)
  const countEvents = (n: number) => metrics.eventsPublished.inc(n)
  const identities = new WeakMap<Client, DeviceIdentity>()
  // Client ids of persistent sessions, by owning device: a clean=false session
  // outlives its connection, and another device must not resume it.
  const sessionOwners = new Map<string, string>()
  await bus.ensureTopics([TOPICS.positions, TOPICS.deviceEvents, TOPICS.dlq, TOPICS.deviceControl])
  // Connected clients by device: a revoked, rotated or rebound device is cut off at once.
  const clientsByDevice = new Map<string, Set<Client>>()

  const broker = await Aedes.createBroker({
    concurrency: 1000,
    drainTimeout: 30_000,
    heartbeatInterval: 60_000,
    // MQTT 3.1 capped client ids at 23 characters; a device id is 36.
    maxClientsIdLength: 64,
  })
  const liveClients = (broker as unknown as { clients: Record<string, Client | undefined> }).clients

  broker.authenticate = (client, username, password, done) => {
    const fail = (result: string, err: AuthenticateError) => {
      metrics.connections.inc({ result })
      log.info({ clientId: client.id, username, result }, 'mqtt connect refused')
      done(err, false)
    }
    if (!username || !UUID.test(username) || !password) {
      return fail('bad_credentials', connectError('bad user name or password', BAD_USERNAME_OR_PASSWORD))
    }
    devices.findById(username).then(
      (device) => {
        if (!device || device.revoked || !secretMatches(password, device.secretHash)) {
          return fail('bad_credentials', connectError('bad user name or password', BAD_USERNAME_OR_PASSWORD))
        }
        if (!device.vehicleId) {
          return fail('not_authorized', connectError('device is not bound to a vehicle', NOT_AUTHORIZED))
        }
        const holder = liveClients[client.id]
        const holderDevice = holder ? identities.get(holder)?.deviceId : undefined
        const sessionOwner = sessionOwners.get(client.id)
        if ((holderDevice && holderDevice !== device.id) || (sessionOwner && sessionOwner !== device.id)) {
          return fail('identifier_rejected', connectError('client id belongs to another device', IDENTIFIER_REJECTED))
        }
        if (!client.clean) sessionOwners.set(client.id, device.id)
        identities.set(client, { deviceId: device.id, orgId: device.orgId, vehicleId: device.vehicleId })
        metrics.connections.inc({ result: 'accepted' })
        done(null, true)
      },
      (err: unknown) => {
        log.error({ err, username }, 'device lookup failed')
        metrics.connections.inc({ result: 'server_unavailable' })
        done(connectError('server unavailable', 3), false)
      },
    )
  }

  broker.authorizeSubscribe = (client, sub: Subscription, done) => {
    const device = identities.get(client)
    if (device && sub.topic === commandsTopic(device.deviceId)) return done(null, sub)
    // A null subscription is refused in the SUBACK (0x80) without closing the connection.
    log.info({ deviceId: device?.deviceId, topic: sub.topic }, 'mqtt subscribe refused')
    done(null, null)
  }

  broker.authorizePublish = (client, packet: PublishPacket, done) => {
    const device = client ? identities.get(client) : undefined
    if (!device) return done(new Error('not authenticated'))
    // Telemetry is not retained state: never let a device set a retained message.
    packet.retain = false
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    const ctx = { device, mqttTopic: packet.topic, h3Resolution, maxPayloadBytes, now: Date.now() }
    if (packet.topic === telemetryTopic(device.deviceId)) {
      const { positions, rejects } = decodeTelemetry(payload, ctx)
      return handoff(device, TOPICS.positions, positions, rejects, done, countFixes)
    }
    if (packet.topic === eventsTopic(device.deviceId)) {
      const { events, rejects } = decodeEvents(payload, ctx)
      return handoff(device, TOPICS.deviceEvents, events, rejects, done, countEvents)
    }
    // MQTT-3.3.5-2: an unauthorized PUBLISH is either acknowledged or the network
    // connection closed; we close it, so a misbehaving device sees it at once.
    metrics.messages.inc({ result: 'topic_refused' })
    log.warn({ deviceId: device.deviceId, topic: packet.topic }, 'publish to a topic the device may not use; disconnecting')
    done(new Error(`topic not allowed: ${packet.topic}`))
  }

  /**
   * The PUBACK waits for this callback: it is sent only once the bus accepted
   * every fix (or event) and DLQ record of the message. If the bus fails, the
   * client is disconnected without PUBACK, and keeps the message to send again.
   */
  function handoff(
    device: DeviceIdentity, topic: string, items: Array<{ vehicleId: string }>, rejects: DlqRecordV1[],
    done: (err?: Error | null) => void, onPublished: (items: number) => void,
  ) {
    for (const r of rejects) metrics.fixesInvalid.inc({ reason: r.reason })
    const messages: BusMessage[] = items.map((item) => ({ key: item.vehicleId, decoded: item }))
    // Both publishes start in this tick, so one device's messages enter the bus in arrival order.
    const fixes = messages.length ? bus.publish(topic, messages) : undefined
    const dlq = rejects.length ? bus.publish(TOPICS.dlq, rejects.map((r) => ({ key: device.vehicleId, value: encode(r) }))) : undefined
    // One promise in the common case (every fix good): this runs for every PUBLISH.
    const pending = fixes && dlq ? Promise.all([fixes, dlq]) : (fixes ?? dlq ?? Promise.resolve())
    pending.then(
      () => {
        onPublished(messages.length)
        if (!rejects.length) counts.accepted++
        else metrics.messages.inc({ result: messages.length ? 'partial' : 'rejected' })
        done(null)
      },
      (err: unknown) => {
        const full = err instanceof BusFullError
        metrics.messages.inc({ result: full ? 'bus_full' : 'bus_error' })
        // The device keeps the message and sends it again after reconnecting.
        if (full) log.warn({ deviceId: device.deviceId }, 'bus buffer full; withholding PUBACK and disconnecting')
        else log.error({ err, deviceId: device.deviceId, topic }, 'bus refused telemetry; withholding PUBACK and disconnecting')
        done(err instanceof Error ? err : new Error(String(err)))
      },
    )
  }

  broker.on('clientReady', (client) => {
    metrics.connected.inc()
    const device = identities.get(client)
    if (device) {
      const set = clientsByDevice.get(device.deviceId) ?? new Set<Client>()
      clientsByDevice.set(device.deviceId, set.add(client))
      devices.touchLastSeen(device.deviceId).catch((err: unknown) => log.warn({ err }, 'last_seen update failed'))
    }
  })
  broker.on('clientDisconnect', (client) => {
    metrics.connected.dec()
    const device = identities.get(client)
    const set = device ? clientsByDevice.get(device.deviceId) : undefined
    if (set?.delete(client) && set.size === 0) clientsByDevice.delete(device!.deviceId)
  })

  // Every ingest process reads every device change: a group of its own, from now on.
  const control = await bus.subscribe(
    { topic: TOPICS.deviceControl, groupId: `ingest-control-${randomUUID()}`, fromBeginning: false, commitIntervalMs: 1000, ephemeral: true },
    async (batch) => {
      for (const change of decodeBatch(batch, checkControl, (m) => log.error({ offset: m.offset }, 'malformed control.devices.v1 message; skipped'))) {
        for (const client of clientsByDevice.get(change.deviceId) ?? []) {
          log.info({ deviceId: change.deviceId, action: change.action }, 'device changed; disconnecting it')
          metrics.controlDisconnects.inc({ action: change.action })
          client.close()
        }
      }
    },
  )
  broker.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'))
  broker.on('connectionError', (client, err) => log.debug({ clientId: client?.id, err: err.message }, 'mqtt connection error'))

  return {
    broker,
    close: async () => {
      await control.close()
      await new Promise<void>((resolve) => broker.close(() => resolve()))
    },
  }
}
