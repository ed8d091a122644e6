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
import { withTransaction } from '../db.js'
import type { OrderTelemetryPort } from './order-events.js'

/** Arrived within this many metres of a pickup or drop-off. */
export const ORDER_ARRIVAL_RADIUS_M = 150
export const ORDER_ARRIVALS_GROUP = 'api-order-arrivals'

const checkEta = TypeCompiler.Compile(LiveEtaV1)

export class PostgresOrderTelemetry implements OrderTelemetryPort {
  constructor(private readonly pool: pg.Pool) {}

  private async destination(o: { orgId: string; orderId: string; vehicleId: string }, at: { lat: number; lon: number }): Promise<void> {
    await this.pool.query(
      `INSERT INTO vehicle_destinations (vehicle_id, org_id, lat, lon, radius_m, order_id, set_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, now(), now())
       ON CONFLICT (vehicle_id) DO UPDATE SET lat = EXCLUDED.lat, lon = EXCLUDED.lon, radius_m = EXCLUDED.radius_m,
         order_id = EXCLUDED.order_id, set_at = now(), updated_at = now()`,
      [o.vehicleId, o.orgId, at.lat, at.lon, ORDER_ARRIVAL_RADIUS_M, o.orderId],
    )
  }

  orderAssigned(o: { orgId: string; orderId: string; vehicleId: string; pickup: { lat: number; lon: number } }): Promise<void> {
    return this.destination(o, o.pickup)
  }

  orderInTransit(o: { orgId: string; orderId: string; vehicleId: string; dropoff: { lat: number; lon: number } }): Promise<void> {
    return this.destination(o, o.dropoff)
  }

  async orderClosed(o: { orgId: string; orderId: string; vehicleId: string }): Promise<void> {
    // Only this order's destination: a destination set since by another order or by hand stays.
    await this.pool.query('DELETE FROM vehicle_destinations WHERE vehicle_id = $1 AND order_id = $2', [o.vehicleId, o.orderId])
  }
}

/** Records arrivals at an order's pickup or drop-off; a repeated arrival changes nothing. */
export async function startOrderArrivals(deps: { bus: Bus; pool: pg.Pool; logger: Logger }): Promise<Subscription> {
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
        await db.query(
          `INSERT INTO order_activity (org_id, order_id, actor_type, kind, data) VALUES ($1, $2, 'system', $3, $4)`,
          [e.orgId, e.orderId, rows[0].kind, JSON.stringify({ at: new Date(e.ts).toISOString(), lat: e.destination.lat, lon: e.destination.lon })],
        )
      })
    }
  })
}
