/**
 * Turns one MQTT payload of `devices/<id>/events` into device events and DLQ
 * records. Like fixes, each event of a batch stands alone: a bad one is
 * rejected with its index, the good ones around it go on.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler'
import '../schemas/formats.js'
import { EventReportV1, MAX_EVENTS_PER_MESSAGE, type DeviceEventType, type EventSeverity } from '../schemas/telemetry.v1.js'
import type { DeviceEventV1, DlqRecordV1 } from '../schemas/topics.v1.js'
import { readBatch, reject, timeOf, type DecodeContext } from './telemetry.decoder.js'

const checkEvent = TypeCompiler.Compile(EventReportV1)

export interface DecodedEvents {
  events: DeviceEventV1[]
  rejects: DlqRecordV1[]
}

/** A type's severity when the device gives none. */
export function defaultSeverity(type: DeviceEventType): EventSeverity {
  if (type === 'collision' || type === 'panic') return 'critical'
  return type === 'other' ? 'info' : 'warning'
}

function describeSchemaError(value: unknown): string {
  const first = checkEvent.Errors(value).First()
  if (!first) return 'invalid event'
  return `${first.path === '' ? 'event' : first.path.slice(1)}: ${first.message}`
}

export function decodeEvents(payload: Buffer, ctx: DecodeContext): DecodedEvents {
  const out: DecodedEvents = { events: [], rejects: [] }
  const read = readBatch(payload, ctx, { max: MAX_EVENTS_PER_MESSAGE, noun: 'event', plural: 'events', tooMany: 'too_many_events' })
  if ('reason' in read) {
    out.rejects.push(read)
    return out
  }
  const { items, batch } = read
  items.forEach((item, i) => {
    const index = batch ? i : undefined
    if (!checkEvent.Check(item)) {
      out.rejects.push(reject(ctx, 'schema_invalid', describeSchemaError(item), JSON.stringify(item) ?? String(item), index))
      return
    }
    if ((item.lat === undefined) !== (item.lon === undefined)) {
      out.rejects.push(reject(ctx, 'schema_invalid', 'lat and lon: give both or neither', JSON.stringify(item), index))
      return
    }
    const ts = timeOf(item.ts, ctx.now)
    if (typeof ts !== 'number') {
      out.rejects.push(reject(ctx, ts.reason, ts.detail, JSON.stringify(item), index))
      return
    }
    const clipStart = item.clip?.startTs === undefined ? null : timeOf(item.clip.startTs, ctx.now)
    if (clipStart !== null && typeof clipStart !== 'number') {
      out.rejects.push(reject(ctx, 'schema_invalid', 'clip/startTs: must be epoch milliseconds or an ISO-8601 date-time from 2000 on', JSON.stringify(item), index))
      return
    }
    out.events.push({
      // The device's own id keeps a resent event one event; without it, its time does.
      id: `${ctx.device.deviceId}:${item.eventId ?? ts}:${item.type}`,
      orgId: ctx.device.orgId,
      vehicleId: ctx.device.vehicleId,
      deviceId: ctx.device.deviceId,
      ts,
      receivedAt: ctx.now,
      type: item.type,
      severity: item.severity ?? defaultSeverity(item.type),
      lat: item.lat ?? null,
      lon: item.lon ?? null,
      speed: item.speed ?? null,
      clipUrl: item.clip?.url ?? null,
      clipDurationS: item.clip?.durationS ?? null,
      clipStartTs: clipStart,
      detail: item.detail ?? null,
    })
  })
  return out
}
