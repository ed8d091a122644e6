/**
 * The REST contract of what configures the stream's analytics: geofences,
 * vehicle destinations (ETA), per-organization thresholds, and the alert rules
 * that turn live alerts into notifications. The stream reads the same rows
 * (migrations 040-044).
 */
import { Nullable } from './types.js'
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, PageCursor, RoleName, SortedCursor, Text, Uuid } from './api.v1.js'
import { ALERT_KINDS } from './topics.v1.js'


export const Latitude = Type.Number({ minimum: -90, maximum: 90 })
export const Longitude = Type.Number({ minimum: -180, maximum: 180 })

// --- geofences
export const MAX_RING_POINTS = 1000
export const MAX_RINGS = 10
/** Every ring together: keeps the self-intersection check (pairs of edges) cheap. */
export const MAX_POLYGON_POINTS = 2000
/** Polygon area bounds, m²: a point-like polygon is a mistake, a country-sized one too (it becomes too many H3 cells). */
export const MIN_POLYGON_AREA_M2 = 100
export const MAX_POLYGON_AREA_M2 = 50_000 * 1_000_000

const LonLat = Type.Tuple([Longitude, Latitude], { description: '[lon, lat]' })
/** GeoJSON Polygon coordinates (RFC 7946 3.1.6): outer ring first, then holes; each ring closed (first == last). */
export const PolygonCoordinates = Type.Array(
  Type.Array(LonLat, { minItems: 4, maxItems: MAX_RING_POINTS }),
  {
    minItems: 1, maxItems: MAX_RINGS,
    description: `GeoJSON Polygon "coordinates": rings of [lon, lat], outer ring first, each closed (first point == last), `
      + `4 to ${MAX_RING_POINTS} points, not crossing itself; holes inside the outer ring; at most ${MAX_POLYGON_POINTS} points in all; `
      + `area ${MIN_POLYGON_AREA_M2} m² to ${MAX_POLYGON_AREA_M2 / 1_000_000} km²; may not cross the antimeridian`,
  },
)
export type PolygonCoordinates = Static<typeof PolygonCoordinates>
export const Center = Type.Object({ lat: Latitude, lon: Longitude }, { additionalProperties: false })
export const RadiusM = Type.Number({ minimum: 10, maximum: 100_000, description: 'metres' })
const SpeedLimitKmh = Type.Number({ minimum: 1, maximum: 1000, description: 'km/h; overrides the organization overspeed limit inside' })
const DwellAlertS = Type.Integer({ minimum: 1, maximum: 30 * 86_400, description: 'alert when a vehicle stays inside longer than this, seconds' })
const GeofenceName = Text(1, 200)

const PolygonGeometry = { kind: Type.Literal('polygon'), polygon: PolygonCoordinates }
const CircleGeometry = { kind: Type.Literal('circle'), center: Center, radiusM: RadiusM }
const GeofenceOptions = { speedLimitKmh: Type.Optional(SpeedLimitKmh), dwellAlertS: Type.Optional(DwellAlertS) }

export const CreateGeofenceBody = Type.Union([
  Type.Object({ name: GeofenceName, ...PolygonGeometry, ...GeofenceOptions }, { additionalProperties: false, title: 'PolygonGeofence' }),
  Type.Object({ name: GeofenceName, ...CircleGeometry, ...GeofenceOptions }, { additionalProperties: false, title: 'CircleGeofence' }),
])
export type CreateGeofenceBody = Static<typeof CreateGeofenceBody>

const GeofenceChanges = {
  name: Type.Optional(GeofenceName),
  speedLimitKmh: Type.Optional(Nullable(SpeedLimitKmh)),
  dwellAlertS: Type.Optional(Nullable(DwellAlertS)),
}
/** A geometry change replaces the whole geometry: `kind` with its own fields. */
export const UpdateGeofenceBody = Type.Union([
  Type.Object(GeofenceChanges, { additionalProperties: false, minProperties: 1, title: 'GeofenceSettingsChange' }),
  Type.Object({ ...GeofenceChanges, ...PolygonGeometry }, { additionalProperties: false, title: 'GeofencePolygonChange' }),
  Type.Object({ ...GeofenceChanges, ...CircleGeometry }, { additionalProperties: false, title: 'GeofenceCircleChange' }),
])
export type UpdateGeofenceBody = Static<typeof UpdateGeofenceBody>

export const Geofence = Type.Object({
  id: Uuid,
  name: Type.String(),
  kind: Type.Union([Type.Literal('polygon'), Type.Literal('circle')]),
  polygon: Nullable(Type.Array(Type.Array(Type.Array(Type.Number())))),
  center: Nullable(Type.Object({ lat: Type.Number(), lon: Type.Number() })),
  radiusM: Nullable(Type.Number()),
  speedLimitKmh: Nullable(Type.Number()),
  dwellAlertS: Nullable(Type.Integer()),
  createdAt: DateTime,
  updatedAt: DateTime,
})
export type Geofence = Static<typeof Geofence>

export const GeofenceListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(SortedCursor),
    // Text: no control characters (Postgres refuses NUL in a text parameter).
    q: Type.Optional({ ...Text(1, 100), description: 'search in the name (case-insensitive)' }),
    sort: Type.Optional(Type.Union([Type.Literal('createdAt'), Type.Literal('name')], { default: 'createdAt' })),
  },
  { additionalProperties: false },
)
export type GeofenceListQuery = Static<typeof GeofenceListQuery>

// --- a vehicle's destination
export const PutDestinationBody = Type.Object(
  { lat: Latitude, lon: Longitude, radiusM: Type.Optional(Type.Number({ minimum: 10, maximum: 100_000, default: 100, description: 'arrived within this many metres' })) },
  { additionalProperties: false },
)
export type PutDestinationBody = Static<typeof PutDestinationBody>
export const Destination = Type.Object({
  vehicleId: Uuid,
  lat: Type.Number(),
  lon: Type.Number(),
  radiusM: Type.Number(),
  orderId: Nullable(Uuid),
  setAt: DateTime,
  updatedAt: DateTime,
})
export type Destination = Static<typeof Destination>

// --- per-organization analytics settings
export const DEFAULT_OVERSPEED_LIMIT_KMH = 90
export const AnalyticsSettings = Type.Object({
  overspeedLimitKmh: Type.Number({ description: 'overspeed outside geofences with a limit of their own, km/h' }),
  updatedAt: Nullable(DateTime),
})
export const PutAnalyticsSettingsBody = Type.Object(
  { overspeedLimitKmh: Type.Number({ minimum: 5, maximum: 300, description: 'km/h' }) },
  { additionalProperties: false },
)
export type PutAnalyticsSettingsBody = Static<typeof PutAnalyticsSettingsBody>

// --- alert rules
export const SEVERITIES = ['info', 'warning', 'critical'] as const
export type Severity = (typeof SEVERITIES)[number]
export const Severity = Type.Union(SEVERITIES.map((s) => Type.Literal(s)))
export const AlertKind = Type.Union(ALERT_KINDS.map((k) => Type.Literal(k)))

/** IANA zones this server knows (Node's list, which leaves out the alias UTC). */
export const TIME_ZONES: ReadonlySet<string> = new Set(['UTC', ...Intl.supportedValuesOf('timeZone')])
const LocalTime = Type.String({ pattern: '^(?:[01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM, 24-hour local time' })
export const OutsideHours = Type.Object(
  {
    from: LocalTime,
    to: LocalTime,
    // A pattern, not an enum of 400-odd zones (which bloats the document and its fuzzing); the service checks the name.
    timeZone: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}$', description: 'IANA time zone, e.g. Europe/Berlin' }),
  },
  {
    additionalProperties: false,
    description: 'fire only when the alert happened outside [from, to) local time; from > to spans midnight (22:00-06:00); from == to is an empty window (always outside)',
  },
)
export type OutsideHours = Static<typeof OutsideHours>

/** Exactly one of role and user. */
const Recipient = Type.Union([
  Type.Object({ role: RoleName }, { additionalProperties: false, description: 'every active user with this role when the alert fires' }),
  Type.Object({ userId: Uuid }, { additionalProperties: false }),
])

export const CreateAlertRuleBody = Type.Object(
  {
    name: Text(1, 200),
    kind: AlertKind,
    geofenceId: Type.Optional(Nullable(Uuid)),
    outsideHours: Type.Optional(Nullable(OutsideHours)),
    minSeverity: Type.Optional(Type.Union(SEVERITIES.map((s) => Type.Literal(s)), { default: 'info' })),
    recipient: Recipient,
    active: Type.Optional(Type.Boolean({ default: true })),
  },
  { additionalProperties: false },
)
export type CreateAlertRuleBody = Static<typeof CreateAlertRuleBody>
export const UpdateAlertRuleBody = Type.Object(
  {
    name: Type.Optional(Text(1, 200)),
    kind: Type.Optional(AlertKind),
    geofenceId: Type.Optional(Nullable(Uuid)),
    outsideHours: Type.Optional(Nullable(OutsideHours)),
    minSeverity: Type.Optional(Severity),
    recipient: Type.Optional(Recipient),
    active: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type UpdateAlertRuleBody = Static<typeof UpdateAlertRuleBody>

export const AlertRule = Type.Object({
  id: Uuid,
  name: Type.String(),
  kind: Type.String(),
  geofenceId: Nullable(Uuid),
  outsideHours: Nullable(Type.Object({ from: Type.String(), to: Type.String(), timeZone: Type.String() })),
  minSeverity: Type.String(),
  recipient: Type.Union([Type.Object({ role: Type.String() }), Type.Object({ userId: Uuid })]),
  active: Type.Boolean(),
  createdAt: DateTime,
  updatedAt: DateTime,
})
export type AlertRule = Static<typeof AlertRule>

export const AlertRuleListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(PageCursor),
    kind: Type.Optional(AlertKind),
    active: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)
export type AlertRuleListQuery = Static<typeof AlertRuleListQuery>
