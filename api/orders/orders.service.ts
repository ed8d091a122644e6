/**
 * Dispatch orders: creation with server-side totals and a per-organization
 * number, assignment of a driver and a vehicle (state, capacity and overlap
 * checked under row locks), the status workflow, proof of delivery, lists and
 * exports. Staff act on any order of their organization; a driver (own:orders)
 * acts only on orders assigned to them, and any other answers 404. Every
 * change writes one activity row per event and one audit row in its
 * transaction; the live feed and the telemetry side hear of it after commit.
 */
import type { Readable } from 'node:stream'
import type pg from 'pg'
import type { CreateOrderBody, Order, OrderExportQuery, OrderListQuery, OrderStatus } from '../../schemas/orders.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import { instantOf } from '../dates.js'
import { withTransaction } from '../db.js'
import type { DocumentsService } from '../documents/documents.service.js'
import type { DriversRepository } from '../drivers/drivers.repository.js'
import { ownDriver } from '../drivers/drivers.service.js'
import { AppError, notFound } from '../errors.js'
import { exportStream, type CsvColumn, type ExportFormat } from '../export.js'
import type { Notifier } from '../notifications/notifications.module.js'
import type { VehiclesRepository } from '../vehicles/vehicles.repository.js'
import { Workflow } from '../workflow.js'
import type { OrderEvents } from './order-events.js'
import type { NewActivity, OrderActivityRepository, OrderFilter, OrdersRepository, StatusChange } from './orders.repository.js'

export const ORDER_WORKFLOW = new Workflow<OrderStatus, 'assign' | 'unassign' | 'pick_up' | 'depart' | 'deliver' | 'fail' | 'cancel'>('order', {
  assign: { from: ['pending', 'assigned'], to: 'assigned' },
  unassign: { from: ['assigned'], to: 'pending' },
  pick_up: { from: ['assigned'], to: 'picked_up' },
  depart: { from: ['picked_up'], to: 'in_transit' },
  deliver: { from: ['in_transit'], to: 'delivered' },
  fail: { from: ['assigned', 'picked_up', 'in_transit'], to: 'failed' },
  cancel: { from: ['pending', 'assigned', 'picked_up'], to: 'cancelled' },
})
export type OrderTransition = keyof typeof ORDER_WORKFLOW.transitions
/** The status steps (everything but assignment), and those a driver takes on their own orders. */
export type OrderStep = Exclude<OrderTransition, 'assign'>
export const DRIVER_STEPS = ['pick_up', 'depart', 'deliver', 'fail'] as const satisfies readonly OrderStep[]

const STAMP: Partial<Record<OrderStep, StatusChange['stamp']>> = { pick_up: 'picked_up_at', depart: 'in_transit_at', deliver: 'delivered_at' }
/** Proof of delivery is taken at the drop-off and after. */
const POD_STATUSES: readonly OrderStatus[] = ['in_transit', 'delivered']
const ASSIGNABLE_DRIVER = ['approved', 'active']

/** Staff see their organization's orders; a driver only their own (`driverId`). */
export type OrderScope = { driverId: string } | undefined

const round = (n: number) => Math.round(n * 10_000) / 10_000

function invalid(path: string, message: string): AppError {
  return new AppError('validation_failed', `${path.replaceAll('/', '.')}: ${message}`, { errors: [{ path: `body/${path}`, message }] })
}

/** Windows as instants Postgres takes, checked for order: each from <= to, and the pickup starts before the drop-off ends. */
function normalizedStops(body: CreateOrderBody): CreateOrderBody {
  const at = (value: string, field: string) => new Date(instantOf(value, field)).toISOString()
  const stops = { pickup: body.pickup, dropoff: body.dropoff }
  const out = { ...body }
  for (const name of ['pickup', 'dropoff'] as const) {
    const w = stops[name].window
    const window = { from: at(w.from, `${name}.window.from`), to: at(w.to, `${name}.window.to`) }
    if (window.from > window.to) throw invalid(`${name}/window`, 'from is after to')
    out[name] = { ...stops[name], window }
  }
  if (out.pickup.window.from > out.dropoff.window.to) throw invalid('pickup/window', 'the pickup window starts after the drop-off window ends')
  return out
}

function normalizedFilter(query: OrderFilter): OrderFilter {
  return {
    ...query,
    ...(query.createdFrom ? { createdFrom: new Date(instantOf(query.createdFrom, 'createdFrom')).toISOString() } : {}),
    ...(query.createdTo ? { createdTo: new Date(instantOf(query.createdTo, 'createdTo')).toISOString() } : {}),
  }
}

const CSV: CsvColumn<Order>[] = [
  ['number', (o) => o.number], ['status', (o) => o.status], ['statusReason', (o) => o.statusReason], ['customerRef', (o) => o.customerRef],
  ['pickupAddress', (o) => o.pickup.address], ['pickupFrom', (o) => o.pickup.window.from], ['pickupTo', (o) => o.pickup.window.to],
  ['dropoffAddress', (o) => o.dropoff.address], ['dropoffFrom', (o) => o.dropoff.window.from], ['dropoffTo', (o) => o.dropoff.window.to],
  ['weightKg', (o) => o.totals.weightKg], ['volumeM3', (o) => o.totals.volumeM3], ['value', (o) => o.totals.value], ['itemCount', (o) => o.totals.itemCount],
  ['driverId', (o) => o.driverId], ['vehicleId', (o) => o.vehicleId], ['loadFactor', (o) => o.loadFactor],
  ['deliveredAt', (o) => o.deliveredAt], ['onTime', (o) => o.onTime], ['createdAt', (o) => o.createdAt], ['id', (o) => o.id],
]

export class OrdersService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly orders: OrdersRepository,
    private readonly activity: OrderActivityRepository,
    private readonly drivers: DriversRepository,
    private readonly vehicles: VehiclesRepository,
    private readonly documents: DocumentsService,
    private readonly audit: AuditRepository,
    private readonly notifier: Notifier,
    private readonly events: OrderEvents,
  ) {}

  /** A driver user's scope: their driver record, or 404 when the account is linked to none. */
  async driverScope(who: Principal): Promise<{ driverId: string }> {
    return { driverId: (await ownDriver(this.drivers, who)).id }
  }

  private visible(order: Order | undefined, scope: OrderScope): order is Order {
    return order !== undefined && (!scope || order.driverId === scope.driverId)
  }

  private record(who: Principal, meta: RequestMeta, db: pg.PoolClient, action: string, id: string, before: Order | undefined, after: Order) {
    return this.audit.record(
      { orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action, entityType: 'order', entityId: id, before, after, ...meta },
      db,
    )
  }

  private act(who: Principal, order: Order, entry: Omit<NewActivity, 'orgId' | 'orderId' | 'actor'>): NewActivity {
    return { orgId: who.orgId, orderId: order.id, actor: { type: 'user', id: who.userId, email: who.email }, ...entry }
  }

  async create(who: Principal, raw: CreateOrderBody, meta: RequestMeta): Promise<Order> {
    const body = normalizedStops(raw)
    const order = await withTransaction(this.pool, async (db) => {
      const number = await this.orders.nextNumber(db, who.orgId)
      const created = await this.orders.create(db, who.orgId, number, body, who.userId)
      await this.activity.add(db, this.act(who, created, { kind: 'created', toStatus: 'pending' }))
      await this.record(who, meta, db, 'order.create', created.id, undefined, created)
      return created
    })
    await this.events.changed(who.orgId, undefined, order)
    return order
  }

  async get(who: Principal, id: string, scope: OrderScope = undefined): Promise<Order> {
    const order = await this.orders.get(who.orgId, id)
    if (!this.visible(order, scope)) throw notFound('order')
    return order
  }

  list(who: Principal, query: OrderListQuery, scope: OrderScope = undefined) {
    const filter = normalizedFilter({ ...query, ...(scope ? { driverId: scope.driverId } : {}) })
    return this.orders.list(who.orgId, filter, query)
  }

  export(who: Principal, query: OrderExportQuery): { format: ExportFormat; stream: Readable } {
    const format = query.format ?? 'csv'
    const filter = normalizedFilter(query)
    const stream = exportStream<Order>(format, CSV, (cursor, limit) => this.orders.list(who.orgId, filter, { sort: query.sort, cursor, limit }))
    return { format, stream }
  }

  async activityOf(who: Principal, id: string, query: { limit?: number; cursor?: string }, scope: OrderScope = undefined) {
    await this.get(who, id, scope)
    const limit = query.limit ?? 100
    const rows = await this.activity.list(who.orgId, id, limit + 1, query.cursor)
    const items = rows.slice(0, limit)
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null }
  }

  /**
   * Locks the order, lets `apply` judge and change it, writes its activity and
   * one audit row; after the commit, the live feed and telemetry hear of it.
   */
  private async change(
    who: Principal, id: string, scope: OrderScope, meta: RequestMeta, action: string,
    apply: (db: pg.PoolClient, before: Order) => Promise<{ after: Order; activity: NewActivity[] }>,
  ): Promise<Order> {
    const { before, after } = await withTransaction(this.pool, async (db) => {
      const locked = await this.orders.getForUpdate(db, who.orgId, id)
      if (!this.visible(locked, scope)) throw notFound('order')
      const result = await apply(db, locked)
      for (const entry of result.activity) await this.activity.add(db, entry)
      await this.record(who, meta, db, action, id, locked, result.after)
      return { before: locked, after: result.after }
    })
    await this.events.changed(who.orgId, before, after)
    return after
  }

  /**
   * Assigns a driver and a vehicle: only an active vehicle and an approved or
   * active driver of this organization, within the vehicle's capacity, and
   * neither may hold another open order whose span (pickup window start to
   * drop-off window end) overlaps this one's. The vehicle and driver rows are
   * locked (in the order the vehicle assignment locks them), so of two
   * concurrent assignments of one driver the second sees the first.
   */
  assign(who: Principal, id: string, target: { driverId: string; vehicleId: string }, meta: RequestMeta): Promise<Order> {
    return this.change(who, id, undefined, meta, 'order.assign', async (db, before) => {
      const status = ORDER_WORKFLOW.next(before.status, 'assign')
      const vehicle = await this.vehicles.getForUpdate(db, who.orgId, target.vehicleId)
      if (!vehicle) throw notFound('vehicle')
      const driver = await this.drivers.getForUpdate(db, who.orgId, target.driverId)
      if (!driver) throw notFound('driver')
      if (vehicle.state !== 'active') throw new AppError('conflict', `a vehicle in state ${vehicle.state} cannot take orders; activate it first`)
      if (!ASSIGNABLE_DRIVER.includes(driver.state)) throw new AppError('conflict', `a driver in state ${driver.state} cannot take orders; approve the driver first`)
      const { weightKg, volumeM3 } = before.totals
      if (vehicle.maxWeightKg !== null && weightKg > vehicle.maxWeightKg) {
        throw new AppError('conflict', `the order weighs ${weightKg} kg; ${vehicle.name} carries at most ${vehicle.maxWeightKg} kg`)
      }
      if (vehicle.maxVolumeM3 !== null && volumeM3 > vehicle.maxVolumeM3) {
        throw new AppError('conflict', `the order takes ${volumeM3} m³; ${vehicle.name} holds at most ${vehicle.maxVolumeM3} m³`)
      }
      const shares = [
        vehicle.maxWeightKg !== null ? weightKg / vehicle.maxWeightKg : undefined,
        vehicle.maxVolumeM3 !== null ? volumeM3 / vehicle.maxVolumeM3 : undefined,
      ].filter((s): s is number => s !== undefined)
      const loadFactor = shares.length ? round(Math.max(...shares)) : null
      const span = { from: before.pickup.window.from, to: before.dropoff.window.to }
      const driverBusy = await this.orders.overlapping(db, who.orgId, 'driver_id', driver.id, id, span)
      if (driverBusy) throw new AppError('conflict', `${driver.name} already has order ${driverBusy.number} at an overlapping time`)
      const vehicleBusy = await this.orders.overlapping(db, who.orgId, 'vehicle_id', vehicle.id, id, span)
      if (vehicleBusy) throw new AppError('conflict', `${vehicle.name} already has order ${vehicleBusy.number} at an overlapping time`)
      const after = await this.orders.assign(db, who.orgId, id, { driverId: driver.id, vehicleId: vehicle.id, loadFactor })
      if (driver.userId) {
        await this.notifier.notify({
          orgId: who.orgId, recipient: { userId: driver.userId }, kind: 'order.assigned', entity: { type: 'order', id },
          title: `Order ${after.number} is yours: pick up at ${after.pickup.address}`.slice(0, 200),
          body: `Drop-off: ${after.dropoff.address}, by ${after.dropoff.window.to}. Vehicle: ${vehicle.name}.`.slice(0, 4000),
          data: { number: after.number, vehicleId: vehicle.id },
        }, db)
      }
      return {
        after,
        activity: [this.act(who, after, {
          kind: 'assigned', fromStatus: before.status, toStatus: status, data: { driverId: driver.id, vehicleId: vehicle.id, loadFactor },
        })],
      }
    })
  }

  /** A status step (or unassign); `scope` limits it to the driver's own orders. fail and cancel need a reason. */
  step(who: Principal, id: string, step: OrderStep, meta: RequestMeta, options: { reason?: string; scope?: OrderScope } = {}): Promise<Order> {
    return this.change(who, id, options.scope, meta, `order.${step}`, async (db, before) => {
      const status = ORDER_WORKFLOW.next(before.status, step)
      const reason = step === 'fail' || step === 'cancel' ? options.reason : undefined
      if ((step === 'fail' || step === 'cancel') && !reason) throw invalid('reason', `${step} needs a reason`)
      const after = await this.orders.setStatus(db, who.orgId, id, { status, reason, stamp: STAMP[step], clearAssignment: step === 'unassign' })
      const activity = [this.act(who, after, {
        kind: step === 'unassign' ? 'unassigned' : 'status', fromStatus: before.status, toStatus: status, reason,
        ...(step === 'unassign' ? { data: { driverId: before.driverId, vehicleId: before.vehicleId } } : {}),
      })]
      if (step === 'deliver') {
        activity.push({
          orgId: who.orgId, orderId: id, actor: { type: 'system' }, kind: 'on_time',
          data: { onTime: after.onTime, deliveredAt: after.deliveredAt, windowTo: after.dropoff.window.to },
        })
      }
      await this.tell(db, who, before, after, step)
      return { after, activity }
    })
  }

  /** The driver hears of what changes their work; the admins of a failure. */
  private async tell(db: pg.PoolClient, who: Principal, before: Order, after: Order, step: OrderStep): Promise<void> {
    const entity = { type: 'order', id: after.id }
    if ((step === 'unassign' || step === 'cancel') && before.driverId) {
      const driver = await this.drivers.get(who.orgId, before.driverId, db)
      if (driver?.userId && driver.userId !== who.userId) {
        await this.notifier.notify({
          orgId: who.orgId, recipient: { userId: driver.userId }, kind: `order.${step === 'cancel' ? 'cancelled' : 'unassigned'}`, entity,
          title: `Order ${after.number} was ${step === 'cancel' ? 'cancelled' : 'taken off you'}`, body: after.statusReason ?? '',
        }, db)
      }
    }
    if (step === 'fail') {
      await this.notifier.notify({
        orgId: who.orgId, recipient: { role: 'operational_admin' }, kind: 'order.failed', entity,
        title: `Order ${after.number} failed`, body: `Reason: ${after.statusReason ?? ''}`.slice(0, 4000),
      }, db)
    }
  }

  /** Each order on its own (its own transaction and audit row): one refusal does not undo the others. */
  async bulk(who: Principal, action: OrderStep, ids: string[], reason: string | undefined, meta: RequestMeta) {
    return each(ids, (id) => this.step(who, id, action, meta, { reason }))
  }

  async bulkAssign(who: Principal, items: Array<{ orderId: string; driverId: string; vehicleId: string }>, meta: RequestMeta) {
    const results = []
    for (const item of items) {
      results.push(...(await each([item.orderId], () => this.assign(who, item.orderId, item, meta))).results)
    }
    return { results }
  }

  /**
   * Stores a proof of delivery (photo or PDF, checked like every document)
   * with the recipient's name, while the order is in transit or delivered.
   */
  async proofOfDelivery(
    who: Principal, id: string, recipientName: string, file: { filename: string; stream: Readable & { truncated?: boolean } },
    meta: RequestMeta, scope: OrderScope = undefined,
  ): Promise<Order> {
    const refuse = (status: OrderStatus) => new AppError('invalid_transition', `an order in status ${status} takes no proof of delivery`, {
      state: status, allowed: ORDER_WORKFLOW.allowed(status),
    })
    // Judged before the upload is read, and again under the lock once it is stored.
    const current = await this.get(who, id, scope)
    if (!POD_STATUSES.includes(current.status)) {
      file.stream.resume()
      throw refuse(current.status)
    }
    return this.documents.attach(who, { type: 'order', id }, { kind: 'proof_of_delivery', expiresOn: null }, file, async (db, doc) => {
      const before = await this.orders.getForUpdate(db, who.orgId, id)
      if (!this.visible(before, scope)) throw notFound('order')
      if (!POD_STATUSES.includes(before.status)) throw refuse(before.status)
      const after = await this.orders.setProofOfDelivery(db, who.orgId, id, doc.id, recipientName)
      await this.activity.add(db, this.act(who, after, { kind: 'proof_of_delivery', data: { documentId: doc.id, recipientName, contentType: doc.contentType } }))
      await this.record(who, meta, db, 'order.proof_of_delivery', id, before, after)
      return after
    })
  }

  async proofOfDeliveryContent(who: Principal, id: string, scope: OrderScope = undefined) {
    const order = await this.get(who, id, scope)
    if (!order.proofOfDelivery) throw notFound('proof of delivery')
    return this.documents.download(who, 'order', id, order.proofOfDelivery.documentId)
  }
}

/** Runs `fn` per id, collecting a result each: ok with the status, or the refusal's code and detail. */
async function each(ids: string[], fn: (id: string) => Promise<Order>) {
  const results = []
  for (const id of ids) {
    try {
      const order = await fn(id)
      results.push({ id, ok: true, state: order.status })
    } catch (err) {
      if (!(err instanceof AppError)) throw err
      results.push({ id, ok: false, code: err.code, detail: err.message, ...(typeof err.extra?.state === 'string' ? { state: err.extra.state } : {}) })
    }
  }
  return { results }
}
