import type pg from 'pg'
import type { CreateOrderBody, Order, OrderActivity, OrderStatus } from '../../schemas/orders.v1.js'
import { findInOrg, isoSql, updateInOrg, type Db } from '../db.js'
import { containsPattern, integerSort, keysetPage, timeSort } from '../pagination.js'
import { TimelineRepository, type TimelineActor } from '../timeline.js'

const stop = (p: 'pickup' | 'dropoff') => `json_build_object('address', ${p}_address, 'lat', ${p}_lat, 'lon', ${p}_lon,
  'window', json_build_object('from', ${isoSql(`${p}_from`)}, 'to', ${isoSql(`${p}_to`)}))`

const ITEMS = `COALESCE((SELECT json_agg(json_build_object('description', i.description, 'quantity', i.quantity,
  'unitWeightKg', i.unit_weight_kg::float8, 'unitVolumeM3', i.unit_volume_m3::float8, 'unitValue', i.unit_value::float8) ORDER BY i.position)
  FROM order_items i WHERE i.order_id = orders.id), '[]'::json)`

const COLUMNS = `id, number, status, status_reason AS "statusReason", customer_ref AS "customerRef", notes,
  ${stop('pickup')} AS pickup, ${stop('dropoff')} AS dropoff, ${ITEMS} AS "lineItems",
  json_build_object('weightKg', total_weight_kg::float8, 'volumeM3', total_volume_m3::float8, 'value', total_value::float8,
    'itemCount', item_count::int) AS totals,
  driver_id AS "driverId", vehicle_id AS "vehicleId", load_factor::float8 AS "loadFactor",
  ${isoSql('assigned_at')} AS "assignedAt", ${isoSql('picked_up_at')} AS "pickedUpAt", ${isoSql('in_transit_at')} AS "inTransitAt",
  ${isoSql('delivered_at')} AS "deliveredAt", on_time AS "onTime",
  ${isoSql('arrived_pickup_at')} AS "arrivedPickupAt", ${isoSql('arrived_dropoff_at')} AS "arrivedDropoffAt",
  round((pickup_dwell_s / 60)::numeric, 2)::float8 AS "pickupDwellMin", round((dropoff_dwell_s / 60)::numeric, 2)::float8 AS "dropoffDwellMin",
  CASE WHEN pod_document_id IS NULL THEN NULL
       ELSE json_build_object('documentId', pod_document_id, 'recipientName', pod_recipient, 'at', ${isoSql('pod_at')}) END AS "proofOfDelivery",
  ${isoSql('created_at')} AS "createdAt", ${isoSql('updated_at')} AS "updatedAt"`

/** Statuses in which an order holds its driver and vehicle. */
export const OPEN_STATUSES: readonly OrderStatus[] = ['assigned', 'picked_up', 'in_transit']

const SORTS = {
  createdAt: timeSort('c', 'created_at'),
  number: integerSort('n', 'seq'),
  dueAt: timeSort('d', 'dropoff_to'),
}

export interface OrderFilter {
  status?: OrderStatus
  driverId?: string
  vehicleId?: string
  q?: string
  /** Instants (ISO), already normalized. */
  createdFrom?: string
  createdTo?: string
}

/** A stop with its window as instants the database takes. */
export type StopRow = CreateOrderBody['pickup']

/** A status step's column changes: the status, its reason and the time column it stamps. */
export interface StatusChange {
  status: OrderStatus
  reason?: string | null
  stamp?: 'picked_up_at' | 'in_transit_at' | 'delivered_at' | 'closed_at'
  /** Clears the driver, vehicle and load factor (unassign). */
  clearAssignment?: boolean
}

export class OrdersRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** The organization's next order number: its counter row stays locked until the caller's transaction ends. */
  async nextNumber(db: Db, orgId: string): Promise<{ seq: number; number: string }> {
    const { rows } = await db.query<{ n: string }>(
      `INSERT INTO order_counters (org_id, last_number) VALUES ($1, 1)
       ON CONFLICT (org_id) DO UPDATE SET last_number = order_counters.last_number + 1 RETURNING last_number::text AS n`,
      [orgId],
    )
    const seq = Number(rows[0]!.n)
    return { seq, number: `ORD-${String(seq).padStart(6, '0')}` }
  }

  /** Inserts the order and its items, then computes the totals from the stored items. */
  async create(db: Db, orgId: string, n: { seq: number; number: string }, body: CreateOrderBody, createdBy: string): Promise<Order> {
    const { pickup: p, dropoff: d } = body
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO orders (org_id, seq, number, customer_ref, notes,
         pickup_address, pickup_lat, pickup_lon, pickup_from, pickup_to,
         dropoff_address, dropoff_lat, dropoff_lon, dropoff_from, dropoff_to, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id`,
      [orgId, n.seq, n.number, body.customerRef, body.notes ?? null, p.address, p.lat, p.lon, p.window.from, p.window.to,
        d.address, d.lat, d.lon, d.window.from, d.window.to, createdBy],
    )
    const id = rows[0]!.id
    const items = body.lineItems
    await db.query(
      `INSERT INTO order_items (order_id, position, description, quantity, unit_weight_kg, unit_volume_m3, unit_value)
       SELECT $1, t.ord - 1, t.d, t.q, t.w, t.v, t.val
         FROM unnest($2::text[], $3::int[], $4::numeric[], $5::numeric[], $6::numeric[]) WITH ORDINALITY AS t(d, q, w, v, val, ord)`,
      [id, items.map((i) => i.description), items.map((i) => i.quantity), items.map((i) => String(i.unitWeightKg)),
        items.map((i) => String(i.unitVolumeM3)), items.map((i) => String(i.unitValue))],
    )
    // Exact decimal arithmetic over what was stored: the totals are the server's, whatever a client computed.
    await db.query(
      `UPDATE orders SET total_weight_kg = s.w, total_volume_m3 = s.v, total_value = s.val, item_count = s.n
         FROM (SELECT sum(quantity * unit_weight_kg) AS w, sum(quantity * unit_volume_m3) AS v, sum(quantity * unit_value) AS val,
                      sum(quantity) AS n FROM order_items WHERE order_id = $1) s
        WHERE orders.id = $1 AND orders.org_id = $2`,
      [id, orgId],
    )
    return (await this.get(orgId, id, db))!
  }

  get(orgId: string, id: string, db: Db = this.pool): Promise<Order | undefined> {
    return findInOrg<Order>(db, 'orders', COLUMNS, orgId, id)
  }

  getForUpdate(db: Db, orgId: string, id: string): Promise<Order | undefined> {
    return findInOrg<Order>(db, 'orders', COLUMNS, orgId, id, true)
  }

  /**
   * Another open order of this driver (or vehicle) whose span, from the start
   * of its pickup window to the end of its drop-off window, overlaps `span`.
   */
  async overlapping(db: Db, orgId: string, column: 'driver_id' | 'vehicle_id', id: string, exceptOrderId: string, span: { from: string; to: string }) {
    const { rows } = await db.query<{ number: string }>(
      `SELECT number FROM orders
        WHERE org_id = $6 AND ${column} = $1 AND id <> $2 AND status = ANY($3::text[]) AND pickup_from < $5 AND $4 < dropoff_to
        ORDER BY seq LIMIT 1`,
      [id, exceptOrderId, OPEN_STATUSES, span.from, span.to, orgId],
    )
    return rows[0]
  }

  assign(db: Db, orgId: string, id: string, a: { driverId: string; vehicleId: string; loadFactor: number | null }): Promise<Order> {
    return updateInOrg<Order>(db, 'orders', COLUMNS, orgId, id,
      `status = 'assigned', driver_id = $3, vehicle_id = $4, load_factor = $5, assigned_at = now(), updated_at = now()`,
      [a.driverId, a.vehicleId, a.loadFactor])
  }

  setStatus(db: Db, orgId: string, id: string, change: StatusChange): Promise<Order> {
    const sets = ['status = $3', 'status_reason = $4', 'updated_at = now()']
    if (change.stamp) sets.push(`${change.stamp} = now()`)
    if (change.status === 'delivered') sets.push('on_time = now() <= dropoff_to')
    if (['delivered', 'failed', 'cancelled'].includes(change.status)) sets.push('closed_at = now()')
    if (change.clearAssignment) sets.push('driver_id = NULL', 'vehicle_id = NULL', 'load_factor = NULL', 'assigned_at = NULL')
    return updateInOrg<Order>(db, 'orders', COLUMNS, orgId, id, sets.join(', '), [change.status, change.reason ?? null])
  }

  setProofOfDelivery(db: Db, orgId: string, id: string, documentId: string, recipient: string): Promise<Order> {
    return updateInOrg<Order>(db, 'orders', COLUMNS, orgId, id, 'pod_document_id = $3, pod_recipient = $4, pod_at = now(), updated_at = now()',
      [documentId, recipient])
  }

  /** A page of the organization's orders, filtered, in the asked order (the cursor keeps its own). */
  list(orgId: string, filter: OrderFilter, query: { limit?: number; sort?: string; cursor?: string }) {
    const params: unknown[] = [orgId]
    const where = ['org_id = $1']
    if (filter.status) where.push(`status = $${params.push(filter.status)}`)
    if (filter.driverId) where.push(`driver_id = $${params.push(filter.driverId)}`)
    if (filter.vehicleId) where.push(`vehicle_id = $${params.push(filter.vehicleId)}`)
    if (filter.createdFrom) where.push(`created_at >= $${params.push(filter.createdFrom)}`)
    if (filter.createdTo) where.push(`created_at < $${params.push(filter.createdTo)}`)
    if (filter.q) {
      const p = params.push(containsPattern(filter.q))
      where.push(`(number ILIKE $${p} OR customer_ref ILIKE $${p} OR pickup_address ILIKE $${p} OR dropoff_address ILIKE $${p})`)
    }
    return keysetPage<Order>(this.pool, { from: 'orders', columns: COLUMNS, sorts: SORTS }, { where, params }, query)
  }
}

export interface NewActivity {
  orgId: string
  orderId: string
  actor: TimelineActor
  kind: string
  fromStatus?: OrderStatus | null
  toStatus?: OrderStatus | null
  reason?: string | null
  data?: Record<string, unknown>
}

/** The append-only activity of orders (a trigger refuses UPDATE and DELETE). */
export class OrderActivityRepository extends TimelineRepository<OrderActivity> {
  constructor(pool: pg.Pool) {
    super(pool, 'order_activity', 'order_id', 'reason')
  }

  add(db: Db, { orgId, orderId, reason, ...entry }: NewActivity): Promise<void> {
    return this.append(db, orgId, orderId, { ...entry, text: reason })
  }
}
