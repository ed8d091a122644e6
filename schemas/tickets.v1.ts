/**
 * The tickets contract: REST request and response schemas. Status, source,
 * opener, driver and organization are the server's; every body a client
 * writes is strict and bounded.
 */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, Text, Uuid } from './api.v1.js'

export const TICKET_STATUSES = ['open', 'in_progress', 'resolved', 'closed'] as const
export type TicketStatus = (typeof TICKET_STATUSES)[number]
export const TicketStatus = Type.Union(TICKET_STATUSES.map((s) => Type.Literal(s)))
export const TICKET_CATEGORIES = ['vehicle_issue', 'accident', 'delivery_issue', 'app_issue', 'safety', 'other'] as const
export type TicketCategory = (typeof TICKET_CATEGORIES)[number]
export const TicketCategory = Type.Union(TICKET_CATEGORIES.map((c) => Type.Literal(c)))
export const TICKET_PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const
export type TicketPriority = (typeof TICKET_PRIORITIES)[number]
export const TicketPriority = Type.Union(TICKET_PRIORITIES.map((p) => Type.Literal(p)))

/** A dashcam event's reference (the stream's alert id): free, but plain. */
export const EventRef = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]*$', description: 'a dashcam event id' })

const OpenFields = {
  category: TicketCategory,
  description: Text(1, 4000),
  priority: Type.Optional(TicketPriority),
  vehicleId: Type.Optional(Uuid),
  orderId: Type.Optional(Uuid),
  eventRef: Type.Optional(EventRef),
}
/** A driver's ticket from the app: about themselves. */
export const OpenTicketBody = Type.Object(OpenFields, { additionalProperties: false })
export type OpenTicketBody = Static<typeof OpenTicketBody>
/** Support staff may open one on a driver's behalf. */
export const CreateTicketBody = Type.Object({ ...OpenFields, driverId: Type.Optional(Uuid) }, { additionalProperties: false })
export type CreateTicketBody = Static<typeof CreateTicketBody>

export const Ticket = Type.Object({
  id: Uuid,
  status: TicketStatus,
  category: TicketCategory,
  priority: TicketPriority,
  description: Type.String(),
  source: Type.Union([Type.Literal('driver'), Type.Literal('staff'), Type.Literal('system')]),
  openedBy: Type.Union([Uuid, Type.Null()], { description: 'the user who opened it; null when the system did' }),
  driverId: Type.Union([Uuid, Type.Null()]),
  assigneeId: Type.Union([Uuid, Type.Null()]),
  vehicleId: Type.Union([Uuid, Type.Null()]),
  orderId: Type.Union([Uuid, Type.Null()]),
  eventRef: Type.Union([Type.String(), Type.Null()]),
  photoIds: Type.Array(Uuid),
  resolvedAt: Type.Union([DateTime, Type.Null()]),
  closedAt: Type.Union([DateTime, Type.Null()]),
  createdAt: DateTime,
  updatedAt: DateTime,
})
export type Ticket = Static<typeof Ticket>

export const TicketEvent = Type.Object({
  id: Type.String({ description: 'increasing with time' }),
  at: DateTime,
  actorType: Type.Union([Type.Literal('user'), Type.Literal('system')]),
  actorId: Type.Union([Uuid, Type.Null()]),
  actorEmail: Type.Union([Type.String(), Type.Null()]),
  kind: Type.Union([Type.Literal('opened'), Type.Literal('status'), Type.Literal('assigned'), Type.Literal('comment'), Type.Literal('photo')]),
  fromStatus: Type.Union([TicketStatus, Type.Null()]),
  toStatus: Type.Union([TicketStatus, Type.Null()]),
  body: Type.Union([Type.String(), Type.Null()]),
  data: Type.Record(Type.String(), Type.Unknown()),
})
export type TicketEvent = Static<typeof TicketEvent>

export const AssignTicketBody = Type.Object({ assigneeId: Type.Union([Uuid, Type.Null()], { description: 'null: unassign' }) }, { additionalProperties: false })
export const CommentBody = Type.Object({ body: Text(1, 4000) }, { additionalProperties: false })

/** `c`/`C` creation, `u`/`U` last update, `p`/`P` priority; lower case ascending. */
export const TicketCursor = Type.String({
  pattern: '^[cCuUpP][0-9]{1,17}\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  maxLength: 55,
  description: "the previous page's nextCursor (it keeps that page's sort)",
})
export const TICKET_SORTS = ['createdAt', '-createdAt', 'updatedAt', '-updatedAt', 'priority', '-priority'] as const
const TicketFilterFields = {
  status: Type.Optional(TicketStatus),
  category: Type.Optional(TicketCategory),
  priority: Type.Optional(TicketPriority),
  assigneeId: Type.Optional(Uuid),
  driverId: Type.Optional(Uuid),
  vehicleId: Type.Optional(Uuid),
  orderId: Type.Optional(Uuid),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'search in the description and the event reference (case-insensitive)' })),
  sort: Type.Optional(Type.Union(TICKET_SORTS.map((s) => Type.Literal(s)), {
    default: 'createdAt', description: 'createdAt, updatedAt or priority; a leading - is descending',
  })),
}
export const TicketListQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })), cursor: Type.Optional(TicketCursor), ...TicketFilterFields },
  { additionalProperties: false },
)
export type TicketListQuery = Static<typeof TicketListQuery>
export const OwnTicketListQuery = Type.Omit(TicketListQuery, ['driverId', 'assigneeId'], { additionalProperties: false })
export const TicketExportQuery = Type.Object(
  { format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('json')], { default: 'csv' })), ...TicketFilterFields },
  { additionalProperties: false },
)
export type TicketExportQuery = Static<typeof TicketExportQuery>

export const PhotoParams = Type.Object({ id: Uuid, photoId: Uuid }, { additionalProperties: false })

export const BULK_TICKET_ACTIONS = ['start', 'resolve', 'close', 'reopen'] as const
export const BulkTicketBody = Type.Object(
  { action: Type.Union(BULK_TICKET_ACTIONS.map((a) => Type.Literal(a))), ids: Type.Array(Uuid, { minItems: 1, maxItems: 100, uniqueItems: true }) },
  { additionalProperties: false },
)
export const BulkAssignTicketsBody = Type.Object(
  { ids: Type.Array(Uuid, { minItems: 1, maxItems: 100, uniqueItems: true }), assigneeId: Type.Union([Uuid, Type.Null()]) },
  { additionalProperties: false },
)
