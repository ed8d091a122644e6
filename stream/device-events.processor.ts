/**
 * Consumer group `stream-device-events` on telemetry.events.v1: writes each
 * event to ClickHouse (`device_events`), then publishes it as a live alert
 * (kind `device_event`) for dispatchers and the alert rules; commits only after
 * both. A replay writes nothing twice and publishes the same alert id again.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Counter, type Registry } from 'prom-client'
import type { Logger } from 'pino'
import type { Bus, Subscription } from '../core/bus/bus.js'
import { decodeBatch } from '../core/bus/decode.js'
import { DeviceEventV1, TOPICS, type LiveAlertV1 } from '../schemas/topics.v1.js'
import '../schemas/formats.js'
import { publishAlerts } from './alerts.js'
import type { DeviceEventsRepository, EventContext } from './device-events.repository.js'

const checkEvent = TypeCompiler.Compile(DeviceEventV1)

export const DEVICE_EVENTS_GROUP = 'stream-device-events'

export interface DeviceEventsProcessorDeps {
  bus: Bus
  repository: DeviceEventsRepository
  logger: Logger
  registry: Registry
}

/** One line for a person: "Dashcam: collision (clip) - rear impact". */
export function alertMessage(event: DeviceEventV1, context: EventContext | undefined): string {
  const source = context?.deviceKind === 'dashcam' ? 'Dashcam' : 'Device'
  const text = `${source}: ${event.type.replace(/_/g, ' ')}${event.clipUrl ? ' (clip)' : ''}${event.detail ? ` - ${event.detail}` : ''}`
  return text.length > 500 ? `${text.slice(0, 499)}…` : text
}

export function toAlert(event: DeviceEventV1, context: EventContext | undefined): LiveAlertV1 {
  return {
    id: event.id,
    orgId: event.orgId,
    vehicleId: event.vehicleId,
    kind: 'device_event',
    severity: event.severity,
    ts: event.ts,
    lat: event.lat,
    lon: event.lon,
    message: alertMessage(event, context),
    geofenceId: null,
    driverId: context?.driverId ?? null,
  }
}

export async function startDeviceEventsProcessor(deps: DeviceEventsProcessorDeps): Promise<Subscription> {
  const { bus, repository } = deps
  const log = deps.logger.child({ component: 'device-events-processor' })
  const metrics = {
    written: new Counter({ name: 'fleetpulse_stream_device_events_written_total', help: 'Device events written to ClickHouse', registers: [deps.registry] }),
    failures: new Counter({ name: 'fleetpulse_stream_device_events_failures_total', help: 'Failed device-event batches (redelivered)', registers: [deps.registry] }),
    malformed: new Counter({ name: 'fleetpulse_stream_device_events_malformed_total', help: 'Messages on telemetry.events.v1 that do not match DeviceEventV1 (skipped)', registers: [deps.registry] }),
  }
  await bus.ensureTopics([TOPICS.deviceEvents, TOPICS.liveAlerts])

  // Events are rare and urgent (a collision): handed over at once, not batched by time.
  return bus.subscribe(
    { topic: TOPICS.deviceEvents, groupId: DEVICE_EVENTS_GROUP, fromBeginning: true, maxBatchSize: 500, maxWaitMs: 0 },
    async (batch) => {
      const events = decodeBatch(batch, checkEvent, (m) => {
        metrics.malformed.inc()
        log.error({ partition: m.partition, offset: m.offset }, 'malformed message on telemetry.events.v1; skipped')
      })
      if (events.length === 0) return
      const first = batch.messages[0]!.offset
      const last = batch.messages[batch.messages.length - 1]!.offset
      try {
        await repository.insert(events, `${batch.topic}:${batch.partition}:${first}-${last}`)
        const context = await repository.contextOf(events)
        await publishAlerts(bus, events.map((e) => toAlert(e, context.get(e.id))))
      } catch (err) {
        metrics.failures.inc()
        throw err
      }
      metrics.written.inc(events.length)
    },
  )
}
