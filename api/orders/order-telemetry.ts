/**
 * Dispatch orders and the stream: an assigned order gives its vehicle the
 * pickup as destination, an order in transit the drop-off (vehicle_destinations,
 * which the stream reads for ETAs and arrivals); a closed one clears it. The
 * stream's arrival (live.etas.v1 with `arrived` and the order id) is recorded on
 * the order by one consumer group shared by every API node, with an activity
 * row, so dwell at pickup and drop-off can be measured.
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Bus, Subscription } from '../../core/bus/bus.js'
import { decodeBatch } from '../../core/bus/decode.js'
import { LiveEtaV1, TOPICS } from '../../schemas/topics.v1.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import { withTransaction, type Db } from '../db.js'
import type { DestinationsRepository } from '../destinations/destinations.repository.js'
import type { OrderTelemetryPort } from './order-events.js'
import type { OrderActivityRepository } from './orders.repository.js'

/** Arrived within this many metres of a pickup or drop-off. */
export const ORDER_ARRIVAL_RADIUS_M = 150
export const ORDER_ARRIVALS_GROUP = 'api-order-arrivals'

const checkEta = TypeCompiler.Compile(LiveEtaV1)

export class PostgresOrderTelemetry implements OrderTelemetryPort {
  constructor(
    private readonly pool: pg.Pool,
    private readonly destinations: DestinationsRepository,
    private readonly audit: AuditRepository,
  ) {}

  /** A change the platform made on its own: audited with no actor, under the order's id as request. */
  private record(db: Db, o: { orgId: string; orderId: string; vehicleId: string }, action: string, before: unknown, after: unknown) {
    return this.audit.record({
      orgId: o.orgId, actorId: null, actorEmail: 'system', action, entityType: 'vehicle', entityId: o.vehicleId, before, after,
      requestId: `order:${o.orderId}`, ip: null,
    }, db)
  }

  private destination(o: { orgId: string; orderId: string; vehicleId: string }, at: { lat: number; lon: number }): Promise<void> {
    return withTransaction(this.pool, async (db) => {
      const before = await this.destinations.get(o.orgId, o.vehicleId, db)
      const after = await this.destinations.put(db, o.orgId, o.vehicleId, { ...at, radiusM: ORDER_ARRIVAL_RADIUS_M, orderId: o.orderId })
      await this.record(db, o, 'vehicle.destination_set', before ?? null, after)
    })
  }

  orderAssigned(o: { orgId: string; orderId: string; vehicleId: string; pickup: { lat: number; lon: number } }): Promise<void> {
    return this.destination(o, o.pickup)
  }

  orderInTransit(o: { orgId: string; orderId: string; vehicleId: string; dropoff: { lat: number; lon: number } }): Promise<void> {
    return this.destination(o, o.dropoff)
  }

  orderClosed(o: { orgId: string; orderId: string; vehicleId: string }): Promise<void> {
    return withTransaction(this.pool, async (db) => {
      const cleared = await this.destinations.deleteForOrder(db, o.orgId, o.vehicleId, o.orderId)
      if (cleared) await this.record(db, o, 'vehicle.destination_clear', cleared, { vehicleId: o.vehicleId, destination: null })
    })
  }
}

/** Records arrivals at an order's pickup or drop-off; a repeated arrival changes nothing. */
export async function startOrderArrivals(deps: {
  bus: Bus; pool: pg.Pool; activity: OrderActivityRepository; audit: AuditRepository; logger: Logger
}): Promise<Subscription> {
  const log = deps.logger.child({ component: 'order-arrivals' })
  await deps.bus.ensureTopics([TOPICS.liveEtas])
  return deps.bus.subscribe({ topic: TOPICS.liveEtas, groupId: ORDER_ARRIVALS_GROUP, fromBeginning: false, maxBatchSize: 500 }, async (batch) => {
    const arrivals = decodeBatch(batch, checkEta, (m) => log.error({ offset: m.offset }, 'malformed live.etas.v1 message; skipped'))
      .filter((e) => e.arrived && e.orderId !== null)
    for (const e of arrivals) {
      await withTransaction(deps.pool, async (db) => {
        const { rows } = await db.query<{ kind: string }>(
          `UPDATE orders SET
             arrived_pickup_at = CASE WHEN status = 'assigned' THEN coalesce(arrived_pickup_at, $3) ELSE arrived_pickup_at END,
             arrived_dropoff_at = CASE WHEN status = 'in_transit' THEN coalesce(arrived_dropoff_at, $3) ELSE arrived_dropoff_at END
           WHERE id = $1 AND org_id = $2 AND vehicle_id = $4
             AND ((status = 'assigned' AND arrived_pickup_at IS NULL) OR (status = 'in_transit' AND arrived_dropoff_at IS NULL))
           RETURNING CASE WHEN status = 'assigned' THEN 'arrived_pickup' ELSE 'arrived_dropoff' END AS kind`,
          [e.orderId, e.orgId, new Date(e.ts), e.vehicleId],
        )
        if (!rows[0]) return
        const data = { at: new Date(e.ts).toISOString(), lat: e.destination.lat, lon: e.destination.lon }
        await deps.activity.add(db, { orgId: e.orgId, orderId: e.orderId!, actor: { type: 'system' }, kind: rows[0].kind, data })
        await deps.audit.record({
          orgId: e.orgId, actorId: null, actorEmail: 'system', action: `order.${rows[0].kind}`, entityType: 'order', entityId: e.orderId,
          after: data, requestId: `eta:${e.vehicleId}:${e.ts}`, ip: null,
        }, db)
      })
    }
  })
}
