/** Snapshot reads for /live joins: vehicles with their latest fix (vehicle_positions) and driver. */
import type pg from 'pg'
import { isoSql } from '../db.js'
import type { Bbox } from './viewport.js'

export interface VehicleRow {
  vehicleId: string
  name: string
  plate: string | null
  state: string
  driverId: string | null
  driverName: string | null
  ts: string | null
  lat: number | null
  lon: number | null
  speed: number | null
  heading: number | null
}

const COLUMNS = `v.id AS "vehicleId", v.name, v.plate, v.state, v.driver_id AS "driverId", d.name AS "driverName",
  ${isoSql('p.ts')} AS ts, p.lat, p.lon, p.speed, p.heading`
const FROM = `vehicles v LEFT JOIN vehicle_positions p ON p.vehicle_id = v.id LEFT JOIN drivers d ON d.id = v.driver_id`

export class LiveRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** Every vehicle of the organization but the retired ones. */
  async orgVehicles(orgId: string): Promise<VehicleRow[]> {
    const { rows } = await this.pool.query<VehicleRow>(
      `SELECT ${COLUMNS} FROM ${FROM} WHERE v.org_id = $1 AND v.state <> 'retired' ORDER BY v.name, v.id`, [orgId])
    return rows
  }

  async vehicles(orgId: string, ids: string[]): Promise<VehicleRow[]> {
    if (ids.length === 0) return []
    const { rows } = await this.pool.query<VehicleRow>(
      `SELECT ${COLUMNS} FROM ${FROM} WHERE v.org_id = $1 AND v.id = ANY($2::uuid[]) ORDER BY v.name, v.id`, [orgId, ids])
    return rows
  }

  /** Vehicles whose stored latest fix is inside the box, and the `alsoIds` (newer fixes this node holds in memory). */
  async vehiclesInBbox(orgId: string, [w, s, e, n]: Bbox, alsoIds: string[]): Promise<VehicleRow[]> {
    const lonTest = w <= e ? 'p.lon BETWEEN $2 AND $4' : '(p.lon >= $2 OR p.lon <= $4)'
    const { rows } = await this.pool.query<VehicleRow>(
      `SELECT ${COLUMNS} FROM ${FROM}
        WHERE v.org_id = $1 AND v.state <> 'retired' AND ((p.lat BETWEEN $3 AND $5 AND ${lonTest}) OR v.id = ANY($6::uuid[]))
        ORDER BY v.name, v.id`,
      [orgId, w, s, e, n, alsoIds],
    )
    return rows
  }

  /** Whether the organization has this geofence (not deleted). */
  async geofenceExists(orgId: string, id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM geofences WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL', [orgId, id])
    return (rowCount ?? 0) > 0
  }

  /** The vehicles a driver account drives (through its driver record), in its organization. */
  async driverVehicleIds(orgId: string, userId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT v.id FROM vehicles v JOIN drivers d ON d.id = v.driver_id WHERE v.org_id = $1 AND d.org_id = $1 AND d.user_id = $2`, [orgId, userId])
    return rows.map((r) => r.id)
  }
}
