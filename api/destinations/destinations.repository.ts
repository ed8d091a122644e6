/** A vehicle's destination (one per vehicle): the stream's ETA reads the same rows. */
import type pg from 'pg'
import type { Destination } from '../../schemas/geofences.v1.js'
import { isoSql, type Db } from '../db.js'

const COLUMNS = `vehicle_id AS "vehicleId", lat, lon, radius_m AS "radiusM", order_id AS "orderId",
  ${isoSql('set_at')} AS "setAt", ${isoSql('updated_at')} AS "updatedAt"`

export class DestinationsRepository {
  constructor(private readonly pool: pg.Pool) {}

  async get(orgId: string, vehicleId: string, db: Db = this.pool): Promise<Destination | undefined> {
    const { rows } = await db.query<Destination>(`SELECT ${COLUMNS} FROM vehicle_destinations WHERE org_id = $1 AND vehicle_id = $2`, [orgId, vehicleId])
    return rows[0]
  }

  /** A new destination replaces the old one, and its order: set by hand it belongs to no order, set by an order to that order. */
  async put(db: Db, orgId: string, vehicleId: string, d: { lat: number; lon: number; radiusM: number; orderId?: string | null }): Promise<Destination> {
    const { rows } = await db.query<Destination>(
      `INSERT INTO vehicle_destinations (vehicle_id, org_id, lat, lon, radius_m, order_id) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (vehicle_id) DO UPDATE SET lat = EXCLUDED.lat, lon = EXCLUDED.lon, radius_m = EXCLUDED.radius_m,
         order_id = EXCLUDED.order_id, set_at = now(), updated_at = now()
       RETURNING ${COLUMNS}`,
      [vehicleId, orgId, d.lat, d.lon, d.radiusM, d.orderId ?? null],
    )
    return rows[0]!
  }

  /** Clears the destination an order set (a destination set since, by another order or by hand, stays); the cleared row, if any. */
  async deleteForOrder(db: Db, orgId: string, vehicleId: string, orderId: string): Promise<Destination | undefined> {
    const { rows } = await db.query<Destination>(
      `DELETE FROM vehicle_destinations WHERE org_id = $1 AND vehicle_id = $2 AND order_id = $3 RETURNING ${COLUMNS}`, [orgId, vehicleId, orderId])
    return rows[0]
  }

  async delete(db: Db, orgId: string, vehicleId: string): Promise<void> {
    await db.query('DELETE FROM vehicle_destinations WHERE org_id = $1 AND vehicle_id = $2', [orgId, vehicleId])
  }
}
