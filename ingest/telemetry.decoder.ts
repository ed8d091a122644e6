/**
 * Turns one MQTT telemetry payload into enriched positions and DLQ records.
 * Each fix of a batch stands alone: one bad fix is rejected with its index,
 * the good ones around it go on.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { latLngToCell } from 'h3-js'
import { isIsoDateTime } from '../schemas/formats.js'
import { FixV1, MAX_CLOCK_SKEW_MS, MAX_FIXES_PER_MESSAGE, MIN_FIX_TS } from '../schemas/telemetry.v1.js'
import type { DlqReason, DlqRecordV1, PositionV1 } from '../schemas/topics.v1.js'

const checkFix = TypeCompiler.Compile(FixV1)
const MAX_DLQ_PAYLOAD = 4096

export interface DeviceIdentity {
  deviceId: string
  orgId: string
  vehicleId: string
}

export interface Decoded {
  positions: PositionV1[]
  rejects: DlqRecordV1[]
}

export interface DecodeContext {
  device: DeviceIdentity
  mqttTopic: string
  h3Resolution: number
  maxPayloadBytes: number
  now: number
}

export function reject(ctx: DecodeContext, reason: DlqReason, detail: string, raw: string, index?: number): DlqRecordV1 {
  const truncated = raw.length > MAX_DLQ_PAYLOAD
  return {
    reason,
    detail,
    deviceId: ctx.device.deviceId,
    orgId: ctx.device.orgId,
    vehicleId: ctx.device.vehicleId,
    mqttTopic: ctx.mqttTopic,
    ...(index === undefined ? {} : { index }),
    receivedAt: ctx.now,
    payload: truncated ? raw.slice(0, MAX_DLQ_PAYLOAD) : raw,
    truncated,
  }
}

function describeSchemaError(value: unknown): string {
  const first = checkFix.Errors(value).First()
  if (!first) return 'invalid fix'
  const field = first.path === '' ? 'fix' : first.path.slice(1)
  return `${field}: ${first.message}`
}

/** A device timestamp (epoch ms or ISO-8601) as epoch ms, or why it is refused: a clock never set, or far ahead. */
export function timeOf(ts: number | string, now: number): number | { reason: DlqReason; detail: string } {
  if (typeof ts === 'string' && !isIsoDateTime(ts)) return { reason: 'schema_invalid', detail: 'ts: must be epoch milliseconds or an ISO-8601 date-time' }
  const ms = typeof ts === 'string' ? Date.parse(ts) : ts
  if (ms < MIN_FIX_TS || ms > now + MAX_CLOCK_SKEW_MS) {
    return { reason: 'ts_out_of_range', detail: `ts ${new Date(ms).toISOString()} is before 2000 or more than 24 h ahead of the server clock` }
  }
  return ms
}

/**
 * The envelope fixes and events share: within the size limit, JSON, and one
 * item or a batch of 1 to `max` items. Anything else is one DLQ record.
 */
export function readBatch(
  payload: Buffer, ctx: DecodeContext, limit: { max: number; noun: string; plural: string; tooMany: DlqReason },
): { items: unknown[]; batch: boolean } | DlqRecordV1 {
  if (payload.length > ctx.maxPayloadBytes) {
    return reject(ctx, 'payload_too_large', `payload is ${payload.length} bytes, limit ${ctx.maxPayloadBytes}`, payload.toString('utf8', 0, MAX_DLQ_PAYLOAD))
  }
  const text = payload.toString('utf8')
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (err) {
    return reject(ctx, 'payload_not_json', (err as Error).message, text)
  }
  const batch = Array.isArray(body)
  const items: unknown[] = batch ? (body as unknown[]) : [body]
  if (batch && items.length === 0) return reject(ctx, 'empty_batch', `a batch must hold at least one ${limit.noun}`, text)
  if (items.length > limit.max) return reject(ctx, limit.tooMany, `a batch holds at most ${limit.max} ${limit.plural}, got ${items.length}`, text)
  return { items, batch }
}

export function decodeTelemetry(payload: Buffer, ctx: DecodeContext): Decoded {
  const out: Decoded = { positions: [], rejects: [] }
  const read = readBatch(payload, ctx, { max: MAX_FIXES_PER_MESSAGE, noun: 'fix', plural: 'fixes', tooMany: 'too_many_fixes' })
  if ('reason' in read) {
    out.rejects.push(read)
    return out
  }
  const { items: fixes, batch } = read
  fixes.forEach((fix, i) => {
    const index = batch ? i : undefined
    if (!checkFix.Check(fix)) {
      out.rejects.push(reject(ctx, 'schema_invalid', describeSchemaError(fix), JSON.stringify(fix) ?? String(fix), index))
      return
    }
    const time = timeOf(fix.ts, ctx.now)
    if (typeof time !== 'number') {
      out.rejects.push(reject(ctx, time.reason, time.detail, JSON.stringify(fix), index))
      return
    }
    // Built field by field (no spread per optional field): this runs for every fix.
    const position: PositionV1 = {
      orgId: ctx.device.orgId,
      vehicleId: ctx.device.vehicleId,
      deviceId: ctx.device.deviceId,
      ts: time,
      receivedAt: ctx.now,
      lat: fix.lat,
      lon: fix.lon,
      h3: latLngToCell(fix.lat, fix.lon, ctx.h3Resolution),
    }
    if (fix.speed !== undefined) position.speed = fix.speed
    if (fix.heading !== undefined) position.heading = fix.heading % 360
    if (fix.alt !== undefined) position.alt = fix.alt
    if (fix.accuracy !== undefined) position.accuracy = fix.accuracy
    if (fix.odometer !== undefined) position.odometer = fix.odometer
    if (fix.ignition !== undefined) position.ignition = fix.ignition
    if (fix.seq !== undefined) position.seq = fix.seq
    out.positions.push(position)
  })
  return out
}
