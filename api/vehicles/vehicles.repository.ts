import type pg from 'pg'
import type { CreateVehicleBody, Position, UpdateVehicleBody, Vehicle, VehicleListQuery, VehicleState } from '../../schemas/api.v1.js'
import { findInOrg, isoSql, type Db } from '../db.js'
import { sortedPage } from '../pagination.js'


const VEHICLE_COLUMNS = `id, name, plate, vin, make, model, year,
  max_weight_kg::float8 AS "maxWeightKg", max_volume_m3::float8 AS "maxVolumeM3", state, reject_reason AS "rejectReason", driver_id AS "driverId",
  ${isoSql('created_at')} AS "createdAt", ${isoSql('updated_at')} AS "updatedAt"`

/** API field -> column, for the fields a client may change. */
const UPDATABLE = {
  name: 'name', plate: 'plate', vin: 'vin', make: 'make', model: 'model', year: 'year', maxWeightKg: 'max_weight_kg', maxVolumeM3: 'max_volume_m3',
} as const

export class VehiclesRepository {
  constructor(private readonly pool: pg.Pool) {}

  async create(orgId: string, body: CreateVehicleBody, db: Db = this.pool): Promise<Vehicle> {
    const { rows } = await db.query<Vehicle>(
      `INSERT INTO vehicles (org_id, name, plate, vin, make, model, year, max_weight_kg, max_volume_m3)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${VEHICLE_COLUMNS}`,
      [orgId, body.name, body.plate ?? null, body.vin ?? null, body.make ?? null, body.model ?? null, body.year ?? null,
        body.maxWeightKg ?? null, body.maxVolumeM3 ?? null],
    )
    return rows[0]!
  }

  get(orgId: string, id: string, db: Db = this.pool): Promise<Vehicle | undefined> {
    return findInOrg<Vehicle>(db, 'vehicles', VEHICLE_COLUMNS, orgId, id)
  }

  /** Locks the row in this transaction: of two concurrent transitions, the second sees the first's result. */
  getForUpdate(db: Db, orgId: string, id: string): Promise<Vehicle | undefined> {
    return findInOrg<Vehicle>(db, 'vehicles', VEHICLE_COLUMNS, orgId, id, true)
  }

  async update(db: Db, orgId: string, id: string, change: UpdateVehicleBody): Promise<Vehicle> {
    const params: unknown[] = [orgId, id]
    const sets = ['updated_at = now()']
    for (const [field, column] of Object.entries(UPDATABLE)) {
      const value = change[field as keyof UpdateVehicleBody]
      if (value !== undefined) sets.push(`${column} = $${params.push(value)}`)
    }
    const { rows } = await db.query<Vehicle>(`UPDATE vehicles SET ${sets.join(', ')} WHERE org_id = $1 AND id = $2 RETURNING ${VEHICLE_COLUMNS}`, params)
    return rows[0]!
  }

  async setState(db: Db, orgId: string, id: string, state: VehicleState, rejectReason: string | null): Promise<Vehicle> {
    const { rows } = await db.query<Vehicle>(
      `UPDATE vehicles SET state = $3, reject_reason = $4, updated_at = now() WHERE org_id = $1 AND id = $2 RETURNING ${VEHICLE_COLUMNS}`,
      [orgId, id, state, rejectReason],
    )
    return rows[0]!
  }

  /** How many active vehicles the driver has, other than `exceptVehicleId`. */
  async activeVehicleCount(db: Db, driverId: string, exceptVehicleId: string): Promise<number> {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM vehicles WHERE driver_id = $1 AND state = 'active' AND id <> $2`, [driverId, exceptVehicleId])
    return rows[0]!.n
  }

  async setDriver(db: Db, orgId: string, id: string, driverId: string | null): Promise<Vehicle> {
    const { rows } = await db.query<Vehicle>(
      `UPDATE vehicles SET driver_id = $3, updated_at = now() WHERE org_id = $1 AND id = $2 RETURNING ${VEHICLE_COLUMNS}`,
      [orgId, id, driverId],
    )
    return rows[0]!
  }

  /** A page sorted by creation or by name; the cursor, when given, decides the order. */
  list(orgId: string, query: VehicleListQuery) {
    return sortedPage<Vehicle>(this.pool, { table: 'vehicles', columns: VEHICLE_COLUMNS, searchColumns: ['name', 'plate', 'vin'] }, orgId, query)
  }


  async latestPosition(orgId: string, vehicleId: string): Promise<Position | undefined> {
    const { rows } = await this.pool.query<Position>(
      `SELECT vehicle_id AS "vehicleId", ${isoSql('ts')} AS ts, lat, lon, speed, heading, alt, accuracy, odometer,
              ignition, h3, ${isoSql('received_at')} AS "receivedAt"
         FROM vehicle_positions WHERE org_id = $1 AND vehicle_id = $2`,
      [orgId, vehicleId],
    )
    return rows[0]
  }
}
