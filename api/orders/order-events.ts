/**
 * What an order's committed change tells outside its transaction: the live
 * feed (`live.orders.v1`, keyed by order) and the telemetry side (the
 * stream's destination, ETA, arrival and KPIs). Both run after the commit; a
 * failure is logged and never undoes the change.
 */
import type { Logger } from 'pino'
import type { Bus } from '../../core/bus/bus.js'
import type { Order, OrderStatus } from '../../schemas/orders.v1.js'
import { TOPICS, type LiveOrderV1 } from '../../schemas/topics.v1.js'

/**
 * The telemetry side of dispatch, injected: an order with a vehicle that
 * enters in_transit gives the vehicle its destination; one that leaves it
 * (delivered, failed, cancelled, unassigned) takes it away. The default does
 * nothing.
 */
export interface OrderTelemetryPort {
  orderInTransit(o: {
    orgId: string
    orderId: string
    vehicleId: string
    dropoff: { lat: number; lon: number }
    window: { from: string; to: string }
  }): Promise<void>
  orderClosed(o: { orgId: string; orderId: string; vehicleId: string }): Promise<void>
  /** An order assigned to a vehicle: it heads for the pickup first. */
  orderAssigned?(o: { orgId: string; orderId: string; vehicleId: string; pickup: { lat: number; lon: number } }): Promise<void>
}

export const NO_TELEMETRY: OrderTelemetryPort = {
  orderInTransit: async () => {},
  orderClosed: async () => {},
}

const CLOSED: readonly OrderStatus[] = ['delivered', 'failed', 'cancelled']

export class OrderEvents {
  constructor(
    private readonly bus: Bus,
    private readonly telemetry: OrderTelemetryPort,
    private readonly log: Logger,
  ) {}

  /** After a committed change from `before` (undefined: created) to `after`. */
  async changed(orgId: string, before: Order | undefined, after: Order): Promise<void> {
    const moved = !before || before.status !== after.status || before.driverId !== after.driverId || before.vehicleId !== after.vehicleId
    if (!moved) return
    const message: LiveOrderV1 = {
      orgId, orderId: after.id, number: after.number, status: after.status, vehicleId: after.vehicleId, driverId: after.driverId, at: Date.now(),
    }
    await this.bus.publish(TOPICS.liveOrders, [{ key: after.id, value: Buffer.from(JSON.stringify(message)) }]).catch((err: unknown) =>
      this.log.error({ err, orderId: after.id, status: after.status }, 'could not publish an order change to live.orders.v1'))
    if (!before) return
    const left = before.vehicleId && !CLOSED.includes(before.status)
      && (before.vehicleId !== after.vehicleId || CLOSED.includes(after.status))
    try {
      if (left) await this.telemetry.orderClosed({ orgId, orderId: after.id, vehicleId: before.vehicleId! })
      if (after.status === 'assigned' && after.vehicleId && (before.status !== 'assigned' || before.vehicleId !== after.vehicleId)) {
        await this.telemetry.orderAssigned?.({ orgId, orderId: after.id, vehicleId: after.vehicleId, pickup: { lat: after.pickup.lat, lon: after.pickup.lon } })
      }
      if (after.status === 'in_transit' && before.status !== 'in_transit' && after.vehicleId) {
        await this.telemetry.orderInTransit({
          orgId, orderId: after.id, vehicleId: after.vehicleId,
          dropoff: { lat: after.dropoff.lat, lon: after.dropoff.lon }, window: after.dropoff.window,
        })
      }
    } catch (err) {
      this.log.error({ err, orderId: after.id, status: after.status }, 'the telemetry side did not take an order change')
    }
  }
}
