/**
 * The Socket.IO /live protocol, v1: what a client sends (join, leave), what the
 * server answers in the acknowledgement, and every event it pushes. The server
 * validates client messages with these schemas; the console (web/) imports the
 * types, so both ends compile against one contract.
 */
import { Type, type Static } from '@sinclair/typebox'
import type { Notification } from './notifications.v1.js'

const Uuid = Type.String({ format: 'uuid', minLength: 36, maxLength: 36 })
const Lon = Type.Number({ minimum: -180, maximum: 180 })
const Lat = Type.Number({ minimum: -90, maximum: 90 })

/** `join`: one room per call. A viewport join replaces the socket's previous viewport (the map moved). */
export const JoinRequest = Type.Union([
  Type.Object({ room: Type.Literal('org') }, { additionalProperties: false }),
  Type.Object({ room: Type.Literal('vehicle'), vehicleId: Uuid }, { additionalProperties: false }),
  Type.Object(
    { room: Type.Literal('viewport'), bbox: Type.Tuple([Lon, Lat, Lon, Lat], { description: '[west, south, east, north], degrees; west > east crosses the antimeridian' }) },
    { additionalProperties: false },
  ),
  Type.Object({ room: Type.Literal('geofence'), geofenceId: Uuid }, { additionalProperties: false }),
])
export type JoinRequest = Static<typeof JoinRequest>

/** `leave`: the room name the join acknowledgement gave. */
export const LeaveRequest = Type.Object({ room: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false })
export type LeaveRequest = Static<typeof LeaveRequest>

export const LIVE_ERROR_CODES = [
  /** The message does not match JoinRequest / LeaveRequest. */
  'invalid_request',
  /** The caller lacks the permission the room needs (live:read, or own:vehicle for a driver's vehicle). */
  'forbidden',
  /** No such vehicle in the caller's organization, or not the driver's own vehicle: the two look the same. */
  'not_found',
  /** The viewport needs more H3 cells than LIVE_VIEWPORT_MAX_CELLS: join `org` instead, or zoom in. */
  'viewport_too_large',
  /** The socket already holds LIVE_MAX_ROOMS_PER_SOCKET rooms. */
  'too_many_rooms',
  /** The access token expired or its user was deactivated since the handshake: the server disconnects; reconnect with a fresh token. */
  'invalid_token',
  'internal',
] as const
export type LiveErrorCode = (typeof LIVE_ERROR_CODES)[number]

export interface LiveError {
  code: LiveErrorCode
  message: string
  /** viewport_too_large: the cap and the room to fall back to. */
  maxCells?: number
  fallback?: 'org'
}

/** A vehicle's latest fix as the feed carries it. */
export interface LivePosition {
  vehicleId: string
  /** Fix time, ISO-8601 UTC. */
  ts: string
  lat: number
  lon: number
  speed: number | null
  heading: number | null
}

export interface LiveEta {
  vehicleId: string
  orderId: string | null
  destination: { lat: number; lon: number }
  remainingM: number
  /** Estimated arrival, ISO-8601 UTC. */
  eta: string
  arrived: boolean
  /** The fix the estimate was computed at, ISO-8601 UTC. */
  ts: string
}

export interface LiveAlert {
  id: string
  vehicleId: string
  kind: string
  severity: 'info' | 'warning' | 'critical'
  ts: string
  lat: number | null
  lon: number | null
  message: string
  geofenceId: string | null
  driverId: string | null
}

export interface LiveOrder {
  orderId: string
  number: string
  status: string
  vehicleId: string | null
  driverId: string | null
  at: string
}

/** One vehicle of a snapshot: what the console lists, with its latest fix and ETA when known. */
export interface SnapshotVehicle {
  vehicleId: string
  name: string
  plate: string | null
  state: string
  driverId: string | null
  driverName: string | null
  position: LivePosition | null
  eta: LiveEta | null
}

export interface Snapshot {
  vehicles: SnapshotVehicle[]
  /** The room's most recent alerts this API node saw (at most LIVE_ALERT_BUFFER), oldest first. */
  alerts: LiveAlert[]
}

export type JoinAck = { ok: true; room: string; snapshot: Snapshot } | { ok: false; error: LiveError }
export type LeaveAck = { ok: true; room: string } | { ok: false; error: LiveError }

/**
 * Every event the server pushes, with its payload: one map. Feed events come
 * in batches, one per room and coalescing interval; `room` is the name the join
 * acknowledgement gave.
 */
export interface LiveEvents {
  /** At most one item per vehicle per interval, the newest; `gone`: vehicles that left the viewport. */
  position: { room: string; items: LivePosition[]; gone?: string[] }
  eta: { room: string; items: LiveEta[] }
  /** Never coalesced; `dropped` counts alerts a backed-up socket lost beyond its buffer (LIVE_ALERT_BUFFER). */
  alert: { room: string; items: LiveAlert[]; dropped?: number }
  order: { room: string; items: LiveOrder[] }
  /** The user's own notifications, one per event (not batched). */
  notification: Notification
}
