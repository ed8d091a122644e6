/**
 * The REST contract: request and response schemas that drive validation, the
 * static types, response serialization and the OpenAPI document. Every object a
 * client writes is strict (additionalProperties: false) and bounded.
 */
import { Nullable } from './types.js'
import { Type, type Static, type TSchema } from '@sinclair/typebox'

export const Uuid = Type.String({ format: 'uuid', minLength: 36, maxLength: 36 })
export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false })
export const DateTime = Type.String({ format: 'date-time' })

/**
 * Free text a client writes: bounded, at least one visible character, and no
 * control characters (Postgres refuses NUL; the others only hide things).
 */
export const Text = (minLength: number, maxLength: number) =>
  Type.String({ minLength, maxLength, pattern: '^(?=[\\s\\S]*\\S)[^\\u0000-\\u001f\\u007f]*$' })

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.String(),
    instance: Type.String(),
    requestId: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) }))),
    state: Type.Optional(Type.String({ description: 'invalid_transition: the current state' })),
    allowed: Type.Optional(Type.Array(Type.String(), { description: 'invalid_transition: the steps allowed from it' })),
    retryAfter: Type.Optional(Type.Integer({ description: 'rate_limited: seconds to wait' })),
  },
  { description: 'RFC 9457 problem details' },
)

export const Page = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) })

/** Keyset position `<microseconds>.<uuid>` from a previous page's nextCursor (see api/pagination.ts). */
export const PageCursor = Type.String({
  pattern: '^[0-9]{1,16}\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  maxLength: 53,
  description: "the previous page's nextCursor",
})

export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(PageCursor),
  },
  { additionalProperties: false },
)

// --- auth
export const LoginBody = Type.Object(
  {
    email: Type.String({ format: 'email', maxLength: 254 }),
    password: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
)
export const RefreshBody = Type.Object({ refreshToken: Type.String({ minLength: 20, maxLength: 200 }) }, { additionalProperties: false })
export const TokenPair = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'access token lifetime, seconds' }),
})

// --- vehicles
export const VEHICLE_STATES = ['draft', 'in_review', 'approved', 'rejected', 'active', 'inactive', 'retired'] as const
export type VehicleState = (typeof VEHICLE_STATES)[number]
export const VehicleState = Type.Union(VEHICLE_STATES.map((s) => Type.Literal(s)))

const VehicleFields = {
  name: Text(1, 200),
  plate: Text(1, 32),
  vin: Type.String({ pattern: '^[A-HJ-NPR-Z0-9]{17}$', description: 'ISO 3779 VIN' }),
  make: Text(1, 64),
  model: Text(1, 64),
  year: Type.Integer({ minimum: 1900, maximum: 2100 }),
  maxWeightKg: Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000, description: 'payload capacity, kg (dispatch checks orders against it)' }),
  maxVolumeM3: Type.Number({ exclusiveMinimum: 0, maximum: 10_000, description: 'cargo volume, m³ (dispatch checks orders against it)' }),
}
export const CreateVehicleBody = Type.Object(
  {
    name: VehicleFields.name,
    plate: Type.Optional(VehicleFields.plate),
    vin: Type.Optional(VehicleFields.vin),
    make: Type.Optional(VehicleFields.make),
    model: Type.Optional(VehicleFields.model),
    year: Type.Optional(VehicleFields.year),
    maxWeightKg: Type.Optional(VehicleFields.maxWeightKg),
    maxVolumeM3: Type.Optional(VehicleFields.maxVolumeM3),
  },
  { additionalProperties: false },
)
export type CreateVehicleBody = Static<typeof CreateVehicleBody>
/** What may change after creation; state moves only through the workflow routes. */
export const UpdateVehicleBody = Type.Object(
  {
    name: Type.Optional(VehicleFields.name),
    plate: Type.Optional(Type.Union([VehicleFields.plate, Type.Null()])),
    vin: Type.Optional(Type.Union([VehicleFields.vin, Type.Null()])),
    make: Type.Optional(Type.Union([VehicleFields.make, Type.Null()])),
    model: Type.Optional(Type.Union([VehicleFields.model, Type.Null()])),
    year: Type.Optional(Type.Union([VehicleFields.year, Type.Null()])),
    maxWeightKg: Type.Optional(Type.Union([VehicleFields.maxWeightKg, Type.Null()])),
    maxVolumeM3: Type.Optional(Type.Union([VehicleFields.maxVolumeM3, Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type UpdateVehicleBody = Static<typeof UpdateVehicleBody>
export const RejectBody = Type.Object({ reason: Text(1, 1000) }, { additionalProperties: false })

export const Vehicle = Type.Object({
  id: Uuid,
  name: Type.String(),
  plate: Type.Union([Type.String(), Type.Null()]),
  vin: Type.Union([Type.String(), Type.Null()]),
  make: Type.Union([Type.String(), Type.Null()]),
  model: Type.Union([Type.String(), Type.Null()]),
  year: Type.Union([Type.Integer(), Type.Null()]),
  maxWeightKg: Type.Union([Type.Number(), Type.Null()], { description: 'payload capacity, kg' }),
  maxVolumeM3: Type.Union([Type.Number(), Type.Null()], { description: 'cargo volume, m³' }),
  state: VehicleState,
  rejectReason: Type.Union([Type.String(), Type.Null()]),
  driverId: Type.Union([Uuid, Type.Null()], { description: 'the assigned driver' }),
  createdAt: DateTime,
  updatedAt: DateTime,
})
export type Vehicle = Static<typeof Vehicle>
export const AssignDriverBody = Type.Object({ driverId: Uuid }, { additionalProperties: false })

/**
 * A position in a sorted list: `<microseconds>.<uuid>` (by creation) or
 * `n<base64url name>.<uuid>` (by name). The cursor carries its order, so any
 * string of this shape is a valid position.
 */
export const SortedCursor = Type.String({
  pattern: '^(?:[0-9]{1,16}|n[A-Za-z0-9_-]{0,400})\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  maxLength: 440,
  description: "the previous page's nextCursor (it keeps that page's sort)",
})
export const VehicleListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(SortedCursor),
    state: Type.Optional(VehicleState),
    q: Type.Optional({ ...Text(1, 100), description: 'search in name, plate and VIN (case-insensitive)' }),
    sort: Type.Optional(Type.Union([Type.Literal('createdAt'), Type.Literal('name')], { default: 'createdAt' })),
  },
  { additionalProperties: false },
)
export type VehicleListQuery = Static<typeof VehicleListQuery>

export const BULK_VEHICLE_ACTIONS = ['submit', 'approve', 'activate', 'deactivate', 'retire'] as const
export const BulkVehicleBody = Type.Object(
  {
    action: Type.Union(BULK_VEHICLE_ACTIONS.map((a) => Type.Literal(a))),
    ids: Type.Array(Uuid, { minItems: 1, maxItems: 100, uniqueItems: true }),
  },
  { additionalProperties: false },
)
export const BulkResult = Type.Object({
  results: Type.Array(Type.Object({
    id: Uuid,
    ok: Type.Boolean(),
    state: Type.Optional(Type.String()),
    code: Type.Optional(Type.String()),
    detail: Type.Optional(Type.String()),
  })),
})

// --- devices
export const DeviceKind = Type.Union([Type.Literal('gps'), Type.Literal('dashcam')])
export const ProvisionDeviceBody = Type.Object({ kind: DeviceKind }, { additionalProperties: false })
export const CreateDeviceBody = Type.Object({ kind: DeviceKind, vehicleId: Type.Optional(Uuid), firmware: Type.Optional(Text(1, 64)) }, { additionalProperties: false })
export const BindDeviceBody = Type.Object({ vehicleId: Uuid }, { additionalProperties: false })
export const UpdateDeviceBody = Type.Object({ firmware: Type.Union([Text(1, 64), Type.Null()]) }, { additionalProperties: false })
export const Device = Type.Object({
  id: Uuid,
  vehicleId: Type.Union([Uuid, Type.Null()]),
  kind: DeviceKind,
  firmware: Type.Union([Type.String(), Type.Null()]),
  lastSeenAt: Type.Union([DateTime, Type.Null()], { description: 'last connect or fix' }),
  revokedAt: Type.Union([DateTime, Type.Null()]),
  secretRotatedAt: Type.Union([DateTime, Type.Null()]),
  createdAt: DateTime,
})
export type Device = Static<typeof Device>
export const ProvisionedDevice = Type.Object({
  ...Device.properties,
  secret: Type.String({ description: 'MQTT password; shown only in this response' }),
  topic: Type.String({ description: 'MQTT topic to publish telemetry to' }),
})
export const DeviceListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(PageCursor),
    vehicleId: Type.Optional(Uuid),
    kind: Type.Optional(DeviceKind),
    revoked: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)
export type DeviceListQuery = Static<typeof DeviceListQuery>

// --- telemetry
/** What every stored fix answers with. */
const FixFields = {
  ts: DateTime,
  lat: Type.Number(),
  lon: Type.Number(),
  speed: Nullable(Type.Number()),
  heading: Nullable(Type.Number()),
  alt: Nullable(Type.Number()),
  odometer: Nullable(Type.Number()),
  ignition: Nullable(Type.Boolean()),
  h3: Type.String(),
}

export const Position = Type.Object({
  vehicleId: Uuid,
  ...FixFields,
  accuracy: Nullable(Type.Number()),
  receivedAt: DateTime,
})
export type Position = Static<typeof Position>

export const TrackQuery = Type.Object(
  {
    from: Type.Optional(DateTime),
    to: Type.Optional(DateTime),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50_000, default: 10_000 })),
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: "the previous page's nextCursor: fixes after it" })),
  },
  { additionalProperties: false },
)
export const MetricsQuery = Type.Object({ from: Type.Optional(DateTime), to: Type.Optional(DateTime) }, { additionalProperties: false })
export const VehicleMetrics = Type.Object({
  vehicleId: Uuid,
  from: DateTime,
  to: DateTime,
  fixes: Type.Integer(),
  distanceKm: Type.Number({ description: 'great-circle distance between consecutive fixes' }),
  engineHours: Type.Number({ description: 'time after fixes with ignition on (gaps over 5 minutes not counted)' }),
  maxSpeed: Nullable(Type.Number()),
  firstFixAt: Nullable(DateTime),
  lastFixAt: Nullable(DateTime),
  lastSeenAt: Nullable(DateTime),
})
export const TrackPoint = Type.Object({ ...FixFields, seq: Nullable(Type.Integer()) })
export type TrackPoint = Static<typeof TrackPoint>
export const Track = Type.Object({
  vehicleId: Uuid, from: DateTime, to: DateTime, items: Type.Array(TrackPoint),
  truncated: Type.Boolean({ description: 'more fixes follow in the range: ask again with cursor = nextCursor' }),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
})

// --- users and organizations
/** The seeded roles; api/permissions.ts maps each to its permissions. */
export const ROLE_NAMES = ['operational_admin', 'fleet_manager', 'dispatcher', 'support_agent', 'analyst', 'driver', 'auditor'] as const
export type RoleName = (typeof ROLE_NAMES)[number]
export const RoleName = Type.Union(ROLE_NAMES.map((r) => Type.Literal(r)))
export const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254 })
/** A new password: long enough to matter, bounded so the KDF cannot be made to chew megabytes. */
export const NewPassword = Type.String({ minLength: 8, maxLength: 256 })

export const CreateUserBody = Type.Object(
  { email: Email, password: NewPassword, name: Text(1, 200), role: RoleName },
  { additionalProperties: false },
)
export type CreateUserBody = Static<typeof CreateUserBody>
export const ChangeRoleBody = Type.Object({ role: RoleName }, { additionalProperties: false })
export const ResetPasswordBody = Type.Object({ password: NewPassword }, { additionalProperties: false })
export const UserListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(PageCursor),
    role: Type.Optional(RoleName),
    active: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

export const User = Type.Object({
  id: Uuid,
  email: Type.String(),
  name: Type.String(),
  role: Type.String(),
  active: Type.Boolean(),
  createdAt: DateTime,
  updatedAt: DateTime,
})
export type User = Static<typeof User>

export const CreateOrganizationBody = Type.Object(
  {
    name: Text(1, 200),
    admin: Type.Object({ email: Email, password: NewPassword, name: Type.Optional(Text(1, 200)) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
)
export type CreateOrganizationBody = Static<typeof CreateOrganizationBody>
export const Organization = Type.Object({ id: Uuid, name: Type.String(), createdAt: DateTime })
export type Organization = Static<typeof Organization>
export const CreatedOrganization = Type.Object({ ...Organization.properties, admin: User })

// --- audit log
export const AuditQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$', description: "the previous page's nextCursor" })),
    actorId: Type.Optional(Uuid),
    action: Type.Optional(Type.String({ pattern: '^[a-z_]+\\.[a-z_]+$', maxLength: 100 })),
    entityType: Type.Optional(Type.String({ pattern: '^[a-z_]+$', maxLength: 64 })),
    entityId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]+$', maxLength: 64 })),
    from: Type.Optional(DateTime),
    to: Type.Optional(DateTime),
  },
  { additionalProperties: false },
)
export type AuditQuery = Static<typeof AuditQuery>
export const AuditExportQuery = Type.Omit(AuditQuery, ['limit', 'cursor'], { additionalProperties: false })
export const AuditEntry = Type.Object({
  id: Type.String({ description: 'increasing with time' }),
  at: DateTime,
  actorId: Type.Union([Uuid, Type.Null()]),
  actorEmail: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  entityType: Type.String(),
  entityId: Type.Union([Type.String(), Type.Null()]),
  before: Type.Unknown(),
  after: Type.Unknown(),
  requestId: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
})
export type AuditEntry = Static<typeof AuditEntry>

/** An entity's timeline: its audit rows (and those of records that point at it), newest first. */
export const TimelineQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$', description: "the previous page's nextCursor" })),
  },
  { additionalProperties: false },
)

// --- drivers
export const DRIVER_STATES = ['applicant', 'background_check', 'training', 'approved', 'rejected', 'active', 'suspended'] as const
export type DriverState = (typeof DRIVER_STATES)[number]
export const DriverState = Type.Union(DRIVER_STATES.map((s) => Type.Literal(s)))
export const BackgroundCheckStatus = Type.Union([Type.Literal('pending'), Type.Literal('passed'), Type.Literal('failed')])
export const TrainingModuleName = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,99}$', description: 'e.g. safety-101' })

const DriverFields = {
  name: Text(1, 200),
  email: Email,
  phone: Type.String({ pattern: '^\\+?[0-9 ()-]{3,32}$', maxLength: 32 }),
  licenceNumber: Type.String({ pattern: '^[A-Za-z0-9 -]{1,64}$', maxLength: 64 }),
}
export const CreateDriverBody = Type.Object(
  {
    name: DriverFields.name,
    email: Type.Optional(DriverFields.email),
    phone: Type.Optional(DriverFields.phone),
    licenceNumber: Type.Optional(DriverFields.licenceNumber),
  },
  { additionalProperties: false },
)
export type CreateDriverBody = Static<typeof CreateDriverBody>
export const UpdateDriverBody = Type.Object(
  {
    name: Type.Optional(DriverFields.name),
    email: Type.Optional(Type.Union([DriverFields.email, Type.Null()])),
    phone: Type.Optional(Type.Union([DriverFields.phone, Type.Null()])),
    licenceNumber: Type.Optional(Type.Union([DriverFields.licenceNumber, Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type UpdateDriverBody = Static<typeof UpdateDriverBody>
export const TrainingModule = Type.Object({ module: Type.String(), assignedAt: DateTime, completedAt: Type.Union([DateTime, Type.Null()]) })
export const Driver = Type.Object({
  id: Uuid,
  name: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  phone: Type.Union([Type.String(), Type.Null()]),
  licenceNumber: Type.Union([Type.String(), Type.Null()]),
  state: DriverState,
  backgroundCheck: Type.Union([BackgroundCheckStatus, Type.Null()]),
  stateReason: Type.Union([Type.String(), Type.Null()], { description: 'why it was rejected or suspended' }),
  userId: Type.Union([Uuid, Type.Null()], { description: 'the linked user account (role driver)' }),
  training: Type.Array(TrainingModule),
  createdAt: DateTime,
  updatedAt: DateTime,
})
export type Driver = Static<typeof Driver>
export const DriverListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(SortedCursor),
    state: Type.Optional(DriverState),
    q: Type.Optional({ ...Text(1, 100), description: 'search in name, email and licence number (case-insensitive)' }),
    sort: Type.Optional(Type.Union([Type.Literal('createdAt'), Type.Literal('name')], { default: 'createdAt' })),
  },
  { additionalProperties: false },
)
export type DriverListQuery = Static<typeof DriverListQuery>
export const StartTrainingBody = Type.Object(
  { modules: Type.Array(TrainingModuleName, { minItems: 1, maxItems: 50, uniqueItems: true }) },
  { additionalProperties: false },
)
export const ModuleParams = Type.Object({ id: Uuid, module: TrainingModuleName }, { additionalProperties: false })
export const ReasonBody = Type.Object({ reason: Type.Optional(Text(1, 1000)) }, { additionalProperties: false })
export const DriverAccountBody = Type.Object({ email: Email, password: NewPassword }, { additionalProperties: false })
export const BackgroundCheckCallbackBody = Type.Object(
  { reference: Type.String({ minLength: 1, maxLength: 200 }), result: Type.Union([Type.Literal('passed'), Type.Literal('failed')]) },
  { additionalProperties: false },
)
export const BackgroundCheckSignature = Type.Object(
  { 'x-fleetpulse-signature': Type.Optional(Type.String({ maxLength: 200, description: 't=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>; without it: 401' })) },
)

// --- documents
export const DOCUMENT_KINDS = ['licence', 'certificate', 'registration', 'insurance', 'inspection', 'other'] as const
export const DocumentKind = Type.Union(DOCUMENT_KINDS.map((k) => Type.Literal(k)))
export const DateOnly = Type.String({ format: 'date', description: 'YYYY-MM-DD' })
export const UploadQuery = Type.Object(
  { kind: DocumentKind, expiresOn: Type.Optional(DateOnly) },
  { additionalProperties: false },
)
export const UploadForm = Type.Object(
  { file: Type.String({ format: 'binary', description: 'PDF, JPEG or PNG; the content decides the type, not the name' }) },
  { description: 'multipart/form-data with one file part' },
)
export const DocumentParams = Type.Object({ id: Uuid, documentId: Uuid }, { additionalProperties: false })
/** What a stored document may be: the uploadable kinds, a proof of delivery (orders) or a photo (tickets). */
export const STORED_DOCUMENT_KINDS = [...DOCUMENT_KINDS, 'proof_of_delivery', 'photo'] as const
export const DOCUMENT_OWNER_TYPES = ['driver', 'vehicle', 'order', 'ticket'] as const
export const Document = Type.Object({
  id: Uuid,
  ownerType: Type.Union(DOCUMENT_OWNER_TYPES.map((t) => Type.Literal(t))),
  ownerId: Uuid,
  kind: Type.Union(STORED_DOCUMENT_KINDS.map((k) => Type.Literal(k))),
  filename: Type.String(),
  contentType: Type.String(),
  sizeBytes: Type.Integer(),
  sha256: Type.String(),
  expiresOn: Type.Union([DateOnly, Type.Null()]),
  createdAt: DateTime,
})
export type Document = Static<typeof Document>
