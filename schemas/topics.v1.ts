/**
 * What crosses a process boundary on the bus: topic names and payloads, each
 * versioned. Keys: every telemetry and live message is keyed by vehicle id, so
 * one vehicle's messages keep their order.
 */
import { Nullable } from './types.js'
import { Type, type Static } from '@sinclair/typebox'
import { DEVICE_EVENT_TYPES, EVENT_SEVERITIES } from './telemetry.v1.js'

export const TOPICS = {
  positions: 'telemetry.positions.v1',
  dlq: 'telemetry.dlq.v1',
  /** Events devices report on devices/<id>/events (ingest, keyed by vehicle). */
  deviceEvents: 'telemetry.events.v1',
  livePositions: 'live.positions.v1',
  /** ETA updates of vehicles with a destination (stream, keyed by vehicle). */
  liveEtas: 'live.etas.v1',
  /** Driving, geofence, idling, device and offline events worth a dispatcher's eye (stream, keyed by vehicle). */
  liveAlerts: 'live.alerts.v1',
  /** Dispatch order status changes (api, keyed by order). */
  liveOrders: 'live.orders.v1',
  deviceControl: 'control.devices.v1',
} as const

const Uuid = Type.String({ format: 'uuid', minLength: 36, maxLength: 36 })

/** An accepted fix, enriched by ingest with identity from the device registry. */
export const PositionV1 = Type.Object(
  {
    orgId: Uuid,
    vehicleId: Uuid,
    deviceId: Uuid,
    ts: Type.Integer({ description: 'fix time, epoch ms' }),
    receivedAt: Type.Integer({ description: 'ingest time, epoch ms' }),
    lat: Type.Number(),
    lon: Type.Number(),
    speed: Type.Optional(Type.Number()),
    heading: Type.Optional(Type.Number()),
    alt: Type.Optional(Type.Number()),
    accuracy: Type.Optional(Type.Number()),
    odometer: Type.Optional(Type.Number()),
    ignition: Type.Optional(Type.Boolean()),
    seq: Type.Optional(Type.Integer()),
    h3: Type.String({ description: 'H3 cell index (hex) at the configured resolution' }),
  },
  { additionalProperties: false },
)
export type PositionV1 = Static<typeof PositionV1>

export const DLQ_REASONS = [
  'payload_not_json',
  'payload_too_large',
  'schema_invalid',
  'ts_out_of_range',
  'too_many_fixes',
  /** More than MAX_EVENTS_PER_MESSAGE events in one message on devices/<id>/events. */
  'too_many_events',
  'empty_batch',
] as const

/** A rejected telemetry message (or one rejected fix of a batch). */
export const DlqRecordV1 = Type.Object(
  {
    reason: Type.Union(DLQ_REASONS.map((r) => Type.Literal(r))),
    detail: Type.String(),
    deviceId: Type.String(),
    orgId: Type.Optional(Type.String()),
    vehicleId: Type.Optional(Type.String()),
    mqttTopic: Type.String(),
    /** Index of the fix within a batch, when one fix of a batch was rejected. */
    index: Type.Optional(Type.Integer()),
    receivedAt: Type.Integer(),
    /** The offending payload (or fix), UTF-8, truncated to 4 KiB. */
    payload: Type.String(),
    truncated: Type.Boolean(),
  },
  { additionalProperties: false },
)
export type DlqRecordV1 = Static<typeof DlqRecordV1>
export type DlqReason = (typeof DLQ_REASONS)[number]

/** An accepted device event, enriched by ingest with identity from the device registry. */
export const DeviceEventV1 = Type.Object(
  {
    /** Deterministic, `${deviceId}:${eventId ?? ts}:${type}`: a resent event keeps its id. */
    id: Type.String({ minLength: 1, maxLength: 200 }),
    orgId: Uuid,
    vehicleId: Uuid,
    deviceId: Uuid,
    ts: Type.Integer({ description: 'event time, epoch ms' }),
    receivedAt: Type.Integer({ description: 'ingest time, epoch ms' }),
    type: Type.Union(DEVICE_EVENT_TYPES.map((t) => Type.Literal(t))),
    /** The device's, or the type's default (collision and panic critical; info for other; warning else). */
    severity: Type.Union(EVENT_SEVERITIES.map((s) => Type.Literal(s))),
    lat: Type.Union([Type.Number(), Type.Null()]),
    lon: Type.Union([Type.Number(), Type.Null()]),
    speed: Type.Union([Type.Number(), Type.Null()]),
    clipUrl: Type.Union([Type.String(), Type.Null()]),
    clipDurationS: Type.Union([Type.Number(), Type.Null()]),
    /** Where the clip starts, epoch ms; optional, so events from older producers still pass. */
    clipStartTs: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
    detail: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
)
export type DeviceEventV1 = Static<typeof DeviceEventV1>

/** What a dispatcher's browser receives for a vehicle's new latest position. */
export const LivePositionV1 = Type.Object(
  {
    orgId: Uuid,
    vehicleId: Uuid,
    ts: Type.Integer(),
    lat: Type.Number(),
    lon: Type.Number(),
    speed: Type.Union([Type.Number(), Type.Null()]),
    heading: Type.Union([Type.Number(), Type.Null()]),
    h3: Type.String(),
  },
  { additionalProperties: false },
)
export type LivePositionV1 = Static<typeof LivePositionV1>

/**
 * A change to a device that ingest must act on at once, wherever the device is
 * connected: every ingest process reads this topic (a group of its own each)
 * and disconnects the device; its next CONNECT is judged on the new record.
 */
export const DeviceControlV1 = Type.Object(
  {
    deviceId: Uuid,
    orgId: Uuid,
    action: Type.Union([Type.Literal('revoked'), Type.Literal('secret_rotated'), Type.Literal('rebound')]),
    at: Type.Integer({ description: 'epoch ms' }),
  },
  { additionalProperties: false },
)
export type DeviceControlV1 = Static<typeof DeviceControlV1>


/** A vehicle's estimated arrival at its destination, recomputed as it moves. */
export const LiveEtaV1 = Type.Object(
  {
    orgId: Uuid,
    vehicleId: Uuid,
    /** The fix the estimate was computed at, epoch ms. */
    ts: Type.Integer(),
    destination: Type.Object({ lat: Type.Number(), lon: Type.Number() }, { additionalProperties: false }),
    /** The dispatch order that set the destination, if any. */
    orderId: Nullable(Uuid),
    remainingM: Type.Number({ minimum: 0 }),
    /** Estimated arrival, epoch ms. */
    etaTs: Type.Integer(),
    /** True once the vehicle is inside the destination's radius (the last message for this destination). */
    arrived: Type.Boolean(),
  },
  { additionalProperties: false },
)
export type LiveEtaV1 = Static<typeof LiveEtaV1>

export const ALERT_KINDS = [
  'overspeed',
  'harsh_acceleration',
  'harsh_braking',
  'harsh_cornering',
  'idling',
  'geofence_enter',
  'geofence_exit',
  'geofence_dwell',
  /** An event a device reported on devices/<id>/events (a dashcam collision, say). */
  'device_event',
  'device_offline',
] as const
export type AlertKind = (typeof ALERT_KINDS)[number]

/** Something that happened to a vehicle, for the dispatchers' alerts feed. */
export const LiveAlertV1 = Type.Object(
  {
    /** Stable per event: a replay publishes the same id again. */
    id: Type.String({ minLength: 1, maxLength: 200 }),
    orgId: Uuid,
    vehicleId: Uuid,
    kind: Type.Union(ALERT_KINDS.map((k) => Type.Literal(k))),
    severity: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]),
    /** Event time, epoch ms. */
    ts: Type.Integer(),
    lat: Nullable(Type.Number()),
    lon: Nullable(Type.Number()),
    /** One line for a person: "Overspeed 92 km/h in a 50 km/h zone". */
    message: Type.String({ maxLength: 500 }),
    geofenceId: Nullable(Uuid),
    driverId: Nullable(Uuid),
  },
  { additionalProperties: false },
)
export type LiveAlertV1 = Static<typeof LiveAlertV1>

/** A dispatch order's status change (or assignment change), published by the API after its transaction commits. */
export const LiveOrderV1 = Type.Object(
  {
    orgId: Uuid,
    orderId: Uuid,
    number: Type.String(),
    status: Type.String(),
    vehicleId: Nullable(Uuid),
    driverId: Nullable(Uuid),
    /** Change time, epoch ms. */
    at: Type.Integer(),
  },
  { additionalProperties: false },
)
export type LiveOrderV1 = Static<typeof LiveOrderV1>
