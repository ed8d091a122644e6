/** The REST contract of dashboards, trips and events lists, the heatmap, and analytics replays (api/analytics). */
import { Nullable } from './types.js'
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, Uuid } from './api.v1.js'

const Day = Type.String({ format: 'date', description: 'a UTC day, YYYY-MM-DD' })
/** `<epoch ms>.<uuid>`: the last item's time and vehicle, from a previous page. */
const FactCursor = Type.String({ pattern: '^[0-9]{1,15}\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', description: "the previous page's nextCursor" })

export const Kpis = Type.Object({
  trips: Type.Integer(),
  distanceKm: Type.Number(),
  drivingHours: Type.Number(),
  idleHours: Type.Number(),
  stops: Type.Integer(),
  harshEvents: Type.Integer(),
  overspeedEvents: Type.Integer(),
  overspeedMinutes: Type.Number(),
  utilization: Type.Number({ description: '(driving + idling) / 24 h; for several vehicles or days, their mean' }),
  harshPer100Km: Type.Number(),
  safetyScore: Nullable(Type.Number({ description: '100 - 10 x harsh events per 100 km - 50 x overspeed share of driving time, at least 0; null without driving' })),
})
export type Kpis = Static<typeof Kpis>

export const OrderKpis = Type.Object({
  delivered: Type.Integer(),
  onTimeRate: Nullable(Type.Number({ description: 'share of the delivered orders delivered by the end of their drop-off window' })),
  pickupDwellMin: Nullable(Type.Number({ description: 'mean, arrival at the pickup to picked up' })),
  dropoffDwellMin: Nullable(Type.Number({ description: 'mean, arrival at the drop-off to delivered' })),
  loadFactor: Nullable(Type.Number({ description: 'mean share of the vehicle\'s capacity at assignment' })),
})

export const FleetOverview = Type.Object({
  at: DateTime,
  vehicles: Type.Object({
    total: Type.Integer(),
    moving: Type.Integer(),
    idle: Type.Integer({ description: 'engine on, not moving' }),
    stopped: Type.Integer(),
    offline: Type.Integer({ description: 'no fix for 10 minutes, or never' }),
  }),
  today: Kpis,
  alertsToday: Type.Object({ total: Type.Integer(), byKind: Type.Record(Type.String(), Type.Integer()) }),
  ordersToday: OrderKpis,
  etaAccuracy: Type.Object({
    arrivals: Type.Integer({ description: 'arrivals at a destination in the last 30 days' }),
    medianHalfwayErrorPct: Nullable(Type.Number({ description: 'median |ETA error| at half way, as a share of the time then left (%)' })),
  }),
})

export const DayQuery = Type.Object({ day: Type.Optional(Day) }, { additionalProperties: false })
export const RangeQuery = Type.Object({ from: Type.Optional(Day), to: Type.Optional(Day) }, { additionalProperties: false })

export const DailyKpis = Type.Intersect([Type.Object({ day: Day }), Kpis])

export const Trip = Type.Object({
  vehicleId: Uuid,
  driverId: Nullable(Uuid),
  startTs: DateTime,
  endTs: DateTime,
  start: Type.Object({ lat: Type.Number(), lon: Type.Number() }),
  end: Type.Object({ lat: Type.Number(), lon: Type.Number() }),
  distanceKm: Type.Number(),
  durationMin: Type.Number(),
  maxSpeedKmh: Type.Number(),
  avgSpeedKmh: Type.Number(),
})

export const AnalyticsEvent = Type.Object({
  vehicleId: Uuid,
  driverId: Nullable(Uuid),
  kind: Type.String({ description: 'overspeed, harsh_acceleration, harsh_braking, harsh_cornering, idling, geofence_enter, geofence_exit, geofence_dwell' }),
  ts: DateTime,
  endTs: Nullable(DateTime),
  lat: Type.Number(),
  lon: Type.Number(),
  value: Nullable(Type.Number({ description: 'overspeed: top km/h; harsh: peak m/s²; idling and geofence exit/dwell: seconds' })),
  threshold: Nullable(Type.Number()),
  geofenceId: Nullable(Uuid),
})

export const VehicleDashboard = Type.Object({
  vehicleId: Uuid,
  day: Day,
  kpis: Kpis,
  orders: OrderKpis,
  trips: Type.Array(Trip),
  events: Type.Array(AnalyticsEvent),
  latestFix: Nullable(Type.Object({ ts: DateTime, lat: Type.Number(), lon: Type.Number(), speed: Nullable(Type.Number()), ignition: Nullable(Type.Boolean()) })),
  latestDeviceEvent: Nullable(Type.Object({ ts: DateTime, type: Type.String(), severity: Type.String(), clipUrl: Nullable(Type.String()) })),
})

export const DriverDashboard = Type.Object({ driverId: Uuid, from: Day, to: Day, total: Kpis, days: Type.Array(DailyKpis) })

export const ListQuery = Type.Object(
  {
    vehicleId: Type.Optional(Uuid),
    driverId: Type.Optional(Uuid),
    from: Type.Optional(DateTime),
    to: Type.Optional(DateTime),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(FactCursor),
  },
  { additionalProperties: false },
)
export const EventsQuery = Type.Composite([
  ListQuery,
  Type.Object({
    kind: Type.Optional(Type.Union(['overspeed', 'harsh_acceleration', 'harsh_braking', 'harsh_cornering', 'idling', 'geofence_enter', 'geofence_exit', 'geofence_dwell'].map((k) => Type.Literal(k)))),
  }),
], { additionalProperties: false })

export const HeatmapQuery = Type.Object(
  {
    minLat: Type.Number({ minimum: -90, maximum: 90 }),
    minLon: Type.Number({ minimum: -180, maximum: 180 }),
    maxLat: Type.Number({ minimum: -90, maximum: 90 }),
    maxLon: Type.Number({ minimum: -180, maximum: 180 }),
    from: Type.Optional(DateTime),
    to: Type.Optional(DateTime),
    resolution: Type.Optional(Type.Integer({ minimum: 3, maximum: 9, default: 7 })),
  },
  { additionalProperties: false },
)
export const Heatmap = Type.Object({
  from: DateTime,
  to: DateTime,
  resolution: Type.Integer(),
  cells: Type.Array(Type.Object({ h3: Type.String(), fixes: Type.Integer(), vehicles: Type.Integer(), avgSpeedKmh: Nullable(Type.Number()) })),
  truncated: Type.Boolean(),
})

export const ReplayBody = Type.Object(
  {
    vehicleIds: Type.Optional(Type.Array(Uuid, { minItems: 1, maxItems: 1000, uniqueItems: true, description: 'default: every vehicle of the organization' })),
    from: Type.String({ format: 'date-time', description: 'facts are rewritten from the last checkpoint before this through each vehicle\'s latest fix (later facts depend on earlier state)' }),
  },
  { additionalProperties: false },
)
export const Replay = Type.Object({
  id: Uuid,
  status: Type.Union(['pending', 'running', 'done', 'failed'].map((s) => Type.Literal(s))),
  vehicles: Type.Integer(),
  vehiclesDone: Type.Integer(),
  fixesRead: Type.Integer(),
  from: DateTime,
  /** When it was asked for: the fixes stored by then are replayed. */
  to: DateTime,
  error: Nullable(Type.String()),
  createdAt: DateTime,
  startedAt: Nullable(DateTime),
  finishedAt: Nullable(DateTime),
})
export type Replay = Static<typeof Replay>
