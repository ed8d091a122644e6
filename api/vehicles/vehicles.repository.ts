import type pg from 'pg'
import type { CreateVehicleBody, Position, Vehicle } from '../../schemas/api.v1.js'
import { isoSql, type Db } from '../db.js'
import { afterCursorSql, CURSOR_MICROS_SQL, type CursorKey } from '../pagination.js'


const VEHICLE_COLUMNS = `id, name, plate, vin, ${isoSql('created_at')} AS "createdAt", ${isoSql('updated_at')} AS "updatedAt"`

export class VehiclesRepository {
  constructor(private readonly pool: pg.Pool) {}

  async create(orgId: string, body: CreateVehicleBody, db: Db = this.pool): Promise<Vehicle> {
    const { rows } = await db.query<Vehicle>(
      `INSERT INTO vehicles (org_id, name, plate, vin) VALUES ($1, $2, $3, $4) RETURNING ${VEHICLE_COLUMNS}`,
      [orgId, body.name, body.plate ?? null, body.vin ?? null],
    )
    return rows[0]!
  }

  async get(orgId: string, id: string): Promise<Vehicle | undefined> {
    const { rows } = await this.pool.query<Vehicle>(`SELECT ${VEHICLE_COLUMNS} FROM vehicles WHERE org_id = $1 AND id = $2`, [orgId, id])
    return rows[0]
  }

  async list(orgId: string, limit: number, after: CursorKey | undefined) {
    const params: unknown[] = [orgId, limit + 1]
    let where = 'org_id = $1'
    if (after) {
      params.push(after.micros, after.id)
      where += ` AND ${afterCursorSql('$3', '$4')}`
    }
    const { rows } = await this.pool.query<Vehicle & { cursorMicros: string }>(
      `SELECT ${VEHICLE_COLUMNS}, ${CURSOR_MICROS_SQL} AS "cursorMicros"
         FROM vehicles WHERE ${where} ORDER BY created_at, id LIMIT $2`,
      params,
    )
    return rows
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

export class DevicesRepository {
  async create(db: Db, orgId: string, vehicleId: string, kind: string, secretHash: string) {
    const { rows } = await db.query<{ id: string; vehicleId: string; kind: 'gps' | 'dashcam'; createdAt: string }>(
      `INSERT INTO devices (org_id, vehicle_id, kind, secret_hash) VALUES ($1, $2, $3, $4)
       RETURNING id, vehicle_id AS "vehicleId", kind, ${isoSql('created_at')} AS "createdAt"`,
      [orgId, vehicleId, kind, secretHash],
    )
    return rows[0]!
  }
}
