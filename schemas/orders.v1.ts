/**
 * The dispatch orders contract: REST request and response schemas (validation,
 * types, serialization, OpenAPI). Totals, numbers, status, assignment fields and
 * organization ids are answered, never written: every body a client sends is
 * strict (additionalProperties: false), so a client-sent `totals` is a 400.
 */
import { Type, type Static } from '@sinclair/typebox'
import { DateTime, Text, TimelineQuery, Uuid } from './api.v1.js'

export const ORDER_STATUSES = ['pending', 'assigned', 'picked_up', 'in_transit', 'delivered', 'cancelled', 'failed'] as const
export type OrderStatus = (typeof ORDER_STATUSES)[number]
export const OrderStatus = Type.Union(ORDER_STATUSES.map((s) => Type.Literal(s)))

const Latitude = Type.Number({ minimum: -90, maximum: 90 })
const Longitude = Type.Number({ minimum: -180, maximum: 180 })

export const TimeWindow = Type.Object(
  { from: DateTime, to: DateTime },
  { additionalProperties: false, description: 'from <= to; the pickup window must start before the drop-off window ends' },
)
export const StopInput = Type.Object(
  { address: Text(1, 500), lat: Latitude, lon: Longitude, window: TimeWindow },
  { additionalProperties: false },
)
export const LineItemInput = Type.Object(
  {
    description: Text(1, 500),
    quantity: Type.Integer({ minimum: 1, maximum: 100_000 }),
    unitWeightKg: Type.Number({ minimum: 0, maximum: 100_000 }),
    unitVolumeM3: Type.Number({ minimum: 0, maximum: 1_000 }),
    unitValue: Type.Number({ minimum: 0, maximum: 10_000_000, description: "in the organization's currency" }),
  },
  { additionalProperties: false },
)
export const CreateOrderBody = Type.Object(
  {
    customerRef: Text(1, 100),
    pickup: StopInput,
    dropoff: StopInput,
    lineItems: Type.Array(LineItemInput, { minItems: 1, maxItems: 100 }),
    notes: Type.Optional(Text(1, 2000)),
  },
  { additionalProperties: false },
)
export type CreateOrderBody = Static<typeof CreateOrderBody>

export const Stop = Type.Object({
  address: Type.String(), lat: Type.Number(), lon: Type.Number(),
  window: Type.Object({ from: DateTime, to: DateTime }),
})
export const LineItem = Type.Object({
  description: Type.String(), quantity: Type.Integer(), unitWeightKg: Type.Number(), unitVolumeM3: Type.Number(), unitValue: Type.Number(),
})
export const OrderTotals = Type.Object({
  weightKg: Type.Number(), volumeM3: Type.Number(), value: Type.Number(), itemCount: Type.Integer({ description: 'sum of the quantities' }),
}, { description: 'computed by the server from the line items' })
export const ProofOfDelivery = Type.Object({ documentId: Uuid, recipientName: Type.String(), at: DateTime })

export const Order = Type.Object({
  id: Uuid,
  number: Type.String({ description: 'ORD-000001, unique in the organization, in order of creation' }),
  status: OrderStatus,
  statusReason: Type.Union([Type.String(), Type.Null()], { description: 'why it was cancelled or failed' }),
  customerRef: Type.String(),
  notes: Type.Union([Type.String(), Type.Null()]),
  pickup: Stop,
  dropoff: Stop,
  lineItems: Type.Array(LineItem),
  totals: OrderTotals,
  driverId: Type.Union([Uuid, Type.Null()]),
  vehicleId: Type.Union([Uuid, Type.Null()]),
  loadFactor: Type.Union([Type.Number(), Type.Null()], { description: "the order's share of the vehicle's capacity (the larger of weight and volume), at assignment" }),
  assignedAt: Type.Union([DateTime, Type.Null()]),
  pickedUpAt: Type.Union([DateTime, Type.Null()]),
  inTransitAt: Type.Union([DateTime, Type.Null()]),
  deliveredAt: Type.Union([DateTime, Type.Null()]),
  onTime: Type.Union([Type.Boolean(), Type.Null()], { description: 'delivered by the end of the drop-off window' }),
  arrivedPickupAt: Type.Union([DateTime, Type.Null()], { description: 'when the stream saw the vehicle arrive at the pickup (within 150 m)' }),
  arrivedDropoffAt: Type.Union([DateTime, Type.Null()], { description: 'when the stream saw the vehicle arrive at the drop-off (within 150 m)' }),
  pickupDwellMin: Type.Union([Type.Number(), Type.Null()], { description: 'arrival at the pickup to picked up' }),
  dropoffDwellMin: Type.Union([Type.Number(), Type.Null()], { description: 'arrival at the drop-off to delivered' }),
  proofOfDelivery: Type.Union([ProofOfDelivery, Type.Null()]),
  createdAt: DateTime,
  updatedAt: DateTime,
})
export type Order = Static<typeof Order>

export const AssignOrderBody = Type.Object({ driverId: Uuid, vehicleId: Uuid }, { additionalProperties: false })
export const OrderReasonBody = Type.Object({ reason: Text(1, 1000) }, { additionalProperties: false })

/** `c`/`C` creation, `n`/`N` number, `d`/`D` drop-off deadline; lower case ascending. */
export const OrderCursor = Type.String({
  pattern: '^[cCnNdD][0-9]{1,17}\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  maxLength: 55,
  description: "the previous page's nextCursor (it keeps that page's sort)",
})
export const ORDER_SORTS = ['createdAt', '-createdAt', 'number', '-number', 'dueAt', '-dueAt'] as const
export type OrderSort = (typeof ORDER_SORTS)[number]

const OrderFilterFields = {
  status: Type.Optional(OrderStatus),
  driverId: Type.Optional(Uuid),
  vehicleId: Type.Optional(Uuid),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'search in number, customer reference and addresses (case-insensitive)' })),
  createdFrom: Type.Optional(DateTime),
  createdTo: Type.Optional(DateTime),
  sort: Type.Optional(Type.Union(ORDER_SORTS.map((s) => Type.Literal(s)), {
    default: 'createdAt', description: 'createdAt, number or dueAt (end of the drop-off window); a leading - is descending',
  })),
}
export const OrderListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(OrderCursor),
    ...OrderFilterFields,
  },
  { additionalProperties: false },
)
export type OrderListQuery = Static<typeof OrderListQuery>
/** A driver's own orders: the same, without the driver filter. */
export const OwnOrderListQuery = Type.Omit(OrderListQuery, ['driverId'], { additionalProperties: false })
export const OrderExportQuery = Type.Object(
  { format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('json')], { default: 'csv' })), ...OrderFilterFields },
  { additionalProperties: false },
)
export type OrderExportQuery = Static<typeof OrderExportQuery>

export const OrderActivity = Type.Object({
  id: Type.String({ description: 'increasing with time' }),
  at: DateTime,
  actorType: Type.Union([Type.Literal('user'), Type.Literal('system')]),
  actorId: Type.Union([Uuid, Type.Null()]),
  actorEmail: Type.Union([Type.String(), Type.Null()]),
  kind: Type.String({ description: 'created, assigned, unassigned, status, proof_of_delivery, on_time' }),
  fromStatus: Type.Union([OrderStatus, Type.Null()]),
  toStatus: Type.Union([OrderStatus, Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  data: Type.Record(Type.String(), Type.Unknown()),
})
export type OrderActivity = Static<typeof OrderActivity>
/** The same page shape as an entity's timeline: `limit`, and the last id seen as `cursor`. */
export const ActivityQuery = TimelineQuery

export const PodQuery = Type.Object(
  { recipientName: Text(1, 200) },
  { additionalProperties: false },
)

export const BULK_ORDER_ACTIONS = ['unassign', 'pick_up', 'depart', 'deliver', 'fail', 'cancel'] as const
export type BulkOrderAction = (typeof BULK_ORDER_ACTIONS)[number]
const BulkIds = Type.Array(Uuid, { minItems: 1, maxItems: 100, uniqueItems: true })
/** fail and cancel carry the reason every order gets; the other steps take none. */
export const BulkOrderBody = Type.Union([
  Type.Object(
    { action: Type.Union([Type.Literal('fail'), Type.Literal('cancel')]), ids: BulkIds, reason: Text(1, 1000) },
    { additionalProperties: false },
  ),
  Type.Object(
    { action: Type.Union(BULK_ORDER_ACTIONS.filter((a) => a !== 'fail' && a !== 'cancel').map((a) => Type.Literal(a))), ids: BulkIds },
    { additionalProperties: false },
  ),
])
export const BulkAssignBody = Type.Object(
  {
    assignments: Type.Array(
      Type.Object({ orderId: Uuid, driverId: Uuid, vehicleId: Uuid }, { additionalProperties: false }),
      { minItems: 1, maxItems: 100 },
    ),
  },
  { additionalProperties: false },
)
