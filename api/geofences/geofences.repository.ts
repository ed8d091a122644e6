/** All SQL of geofences: live rows only (deleted_at IS NULL), always within one organization. */
import type pg from 'pg'
import type { Geofence, GeofenceListQuery, PolygonCoordinates } from '../../schemas/geofences.v1.js'
import { isoSql, type Db } from '../db.js'
import { sortedPage } from '../pagination.js'

const COLUMNS = `id, name, kind, polygon,
  CASE WHEN kind = 'circle' THEN json_build_object('lat', center_lat, 'lon', center_lon) END AS center,
  radius_m AS "radiusM", speed_limit_kmh AS "speedLimitKmh", dwell_alert_s AS "dwellAlertS",
  ${isoSql('created_at')} AS "createdAt", ${isoSql('updated_at')} AS "updatedAt"`

export type GeofenceGeometry =
  | { kind: 'polygon'; polygon: PolygonCoordinates }
  | { kind: 'circle'; center: { lat: number; lon: number }; radiusM: number }

export interface GeofenceFields {
  name: string
  geometry: GeofenceGeometry
  speedLimitKmh: number | null
  dwellAlertS: number | null
}

const geometryParams = (g: GeofenceGeometry) =>
  g.kind === 'polygon'
    ? [g.kind, JSON.stringify(g.polygon), null, null, null]
    : [g.kind, null, g.center.lat, g.center.lon, g.radiusM]

export class GeofencesRepository {
  constructor(private readonly pool: pg.Pool) {}

  async create(db: Db, orgId: string, f: GeofenceFields): Promise<Geofence> {
    const { rows } = await db.query<Geofence>(
      `INSERT INTO geofences (org_id, name, kind, polygon, center_lat, center_lon, radius_m, speed_limit_kmh, dwell_alert_s)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
      [orgId, f.name, ...geometryParams(f.geometry), f.speedLimitKmh, f.dwellAlertS],
    )
    return rows[0]!
  }

  async get(orgId: string, id: string, db: Db = this.pool, lock = false): Promise<Geofence | undefined> {
    const { rows } = await db.query<Geofence>(
      `SELECT ${COLUMNS} FROM geofences WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL${lock ? ' FOR UPDATE' : ''}`, [orgId, id])
    return rows[0]
  }

  async update(db: Db, orgId: string, id: string, f: GeofenceFields): Promise<Geofence> {
    const { rows } = await db.query<Geofence>(
      `UPDATE geofences SET name = $3, kind = $4, polygon = $5, center_lat = $6, center_lon = $7, radius_m = $8,
              speed_limit_kmh = $9, dwell_alert_s = $10, updated_at = now()
        WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING ${COLUMNS}`,
      [orgId, id, f.name, ...geometryParams(f.geometry), f.speedLimitKmh, f.dwellAlertS],
    )
    return rows[0]!
  }

  /** Soft delete: updated_at moves too, so the stream's change probe (max(updated_at)) sees it. */
  async softDelete(db: Db, orgId: string, id: string): Promise<Geofence & { deletedAt: string }> {
    const { rows } = await db.query<Geofence & { deletedAt: string }>(
      `UPDATE geofences SET deleted_at = now(), updated_at = now() WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL
       RETURNING ${COLUMNS}, ${isoSql('deleted_at')} AS "deletedAt"`,
      [orgId, id],
    )
    return rows[0]!
  }

  /** Names of the alert rules that point at the geofence. */
  async ruleNames(db: Db, orgId: string, id: string): Promise<string[]> {
    const { rows } = await db.query<{ name: string }>(
      'SELECT name FROM alert_rules WHERE org_id = $1 AND geofence_id = $2 ORDER BY name LIMIT 10', [orgId, id])
    return rows.map((r) => r.name)
  }

  list(orgId: string, query: GeofenceListQuery) {
    // Only live geofences are listed: a deleted one answers like a missing one.
    return sortedPage<Geofence>(this.pool, { table: 'geofences', visible: 'deleted_at IS NULL', columns: COLUMNS, searchColumns: ['name'] }, orgId, query)
  }
}
