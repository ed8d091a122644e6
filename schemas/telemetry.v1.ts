/**
 * Telemetry contract v1: what a device publishes on `devices/<id>/telemetry`.
 * One fix, or an array of up to 500 (a device that was offline uploads its
 * buffer). Strict: an unknown field, a missing required field or a value out of
 * range makes the fix invalid, and it goes to the DLQ with the reason.
 */
import { Type, type Static } from '@sinclair/typebox'

/** 2000-01-01T00:00:00Z: older timestamps are a device clock that was never set. */
export const MIN_FIX_TS = 946_684_800_000
/** Fixes stamped further ahead than this are a wrong device clock. */
export const MAX_CLOCK_SKEW_MS = 24 * 3600 * 1000
export const MAX_FIXES_PER_MESSAGE = 500

export const FixV1 = Type.Object(
  {
    ts: Type.Union([
      Type.Integer({ minimum: MIN_FIX_TS, description: 'epoch milliseconds' }),
      Type.String({ minLength: 10, maxLength: 40, description: 'ISO-8601 date-time' }),
    ]),
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lon: Type.Number({ minimum: -180, maximum: 180 }),
    speed: Type.Optional(Type.Number({ minimum: 0, maximum: 1000, description: 'km/h' })),
    heading: Type.Optional(Type.Number({ minimum: 0, maximum: 360, description: 'degrees from north' })),
    alt: Type.Optional(Type.Number({ minimum: -1000, maximum: 20_000, description: 'metres' })),
    accuracy: Type.Optional(Type.Number({ minimum: 0, maximum: 100_000, description: 'metres' })),
    odometer: Type.Optional(Type.Number({ minimum: 0, maximum: 100_000_000, description: 'km' })),
    ignition: Type.Optional(Type.Boolean()),
    seq: Type.Optional(Type.Integer({ minimum: 0, maximum: 4_294_967_295 })),
  },
  { additionalProperties: false, $id: 'FixV1' },
)
export type FixV1 = Static<typeof FixV1>

export const TelemetryMessageV1 = Type.Union([
  FixV1,
  Type.Array(FixV1, { minItems: 1, maxItems: MAX_FIXES_PER_MESSAGE }),
])

/**
 * Device events v1: what a device (a dashcam, a tracker with an accelerometer)
 * publishes on `devices/<id>/events`. One event, or an array of up to 100.
 * Strict like fixes: each event of a batch is judged alone.
 */
export const MAX_EVENTS_PER_MESSAGE = 100
export const DEVICE_EVENT_TYPES = [
  'collision', 'harsh_braking', 'harsh_acceleration', 'harsh_cornering', 'distraction', 'fatigue', 'panic', 'tamper', 'other',
] as const
export type DeviceEventType = (typeof DEVICE_EVENT_TYPES)[number]
export const EVENT_SEVERITIES = ['info', 'warning', 'critical'] as const
export type EventSeverity = (typeof EVENT_SEVERITIES)[number]

const EventTs = Type.Union([
  Type.Integer({ minimum: MIN_FIX_TS, description: 'epoch milliseconds' }),
  Type.String({ minLength: 10, maxLength: 40, description: 'ISO-8601 date-time' }),
])

export const EventReportV1 = Type.Object(
  {
    ts: EventTs,
    type: Type.Union(DEVICE_EVENT_TYPES.map((t) => Type.Literal(t))),
    severity: Type.Optional(Type.Union(EVENT_SEVERITIES.map((s) => Type.Literal(s)))),
    lat: Type.Optional(Type.Number({ minimum: -90, maximum: 90 })),
    lon: Type.Optional(Type.Number({ minimum: -180, maximum: 180 })),
    speed: Type.Optional(Type.Number({ minimum: 0, maximum: 1000, description: 'km/h' })),
    clip: Type.Optional(Type.Object(
      {
        // http(s) only: the link is shown to dispatchers, and another scheme (javascript:) would be a trap.
        url: Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 }),
        durationS: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400 })),
        startTs: Type.Optional(EventTs),
      },
      { additionalProperties: false },
    )),
    /** The device's own id of the event: a resent event with the same id is stored once. */
    eventId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    detail: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false, $id: 'EventReportV1' },
)
export type EventReportV1 = Static<typeof EventReportV1>

export const DeviceEventMessageV1 = Type.Union([
  EventReportV1,
  Type.Array(EventReportV1, { minItems: 1, maxItems: MAX_EVENTS_PER_MESSAGE }),
])
