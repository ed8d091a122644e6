/** Geofences of the caller's organization: validated geometry, audited changes, soft deletes the stream notices. */
import type pg from 'pg'
import type { CreateGeofenceBody, Geofence, GeofenceListQuery, PolygonCoordinates, UpdateGeofenceBody } from '../../schemas/geofences.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import { withTransaction } from '../db.js'
import { AppError, notFound } from '../errors.js'
import { polygonProblems } from './geometry.js'
import type { GeofenceFields, GeofenceGeometry, GeofencesRepository } from './geofences.repository.js'

function checkPolygon(polygon: PolygonCoordinates): void {
  const errors = polygonProblems(polygon)
  if (errors.length) throw new AppError('validation_failed', `polygon is not a valid geofence: ${errors[0]!.message}`, { errors })
}

/** The geometry a body asks for, if it names one. */
function geometryOf(body: CreateGeofenceBody | UpdateGeofenceBody): GeofenceGeometry | undefined {
  if (!('kind' in body) || body.kind === undefined) return undefined
  if (body.kind === 'polygon') {
    checkPolygon(body.polygon)
    return { kind: 'polygon', polygon: body.polygon }
  }
  return { kind: 'circle', center: body.center, radiusM: body.radiusM }
}

const fieldsOf = (g: Geofence): GeofenceFields => ({
  name: g.name,
  geometry: g.kind === 'polygon'
    ? { kind: 'polygon', polygon: g.polygon as PolygonCoordinates }
    : { kind: 'circle', center: g.center!, radiusM: g.radiusM! },
  speedLimitKmh: g.speedLimitKmh,
  dwellAlertS: g.dwellAlertS,
})

export class GeofencesService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly geofences: GeofencesRepository,
    private readonly audit: AuditRepository,
  ) {}

  private record(who: Principal, meta: RequestMeta, db: pg.PoolClient, action: string, id: string, before: unknown, after: unknown) {
    return this.audit.record(
      { orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action, entityType: 'geofence', entityId: id, before, after, ...meta },
      db,
    )
  }

  async create(who: Principal, body: CreateGeofenceBody, meta: RequestMeta): Promise<Geofence> {
    const geometry = geometryOf(body)!
    return withTransaction(this.pool, async (db) => {
      const geofence = await this.geofences.create(db, who.orgId, {
        name: body.name, geometry, speedLimitKmh: body.speedLimitKmh ?? null, dwellAlertS: body.dwellAlertS ?? null,
      })
      await this.record(who, meta, db, 'geofence.create', geofence.id, undefined, geofence)
      return geofence
    })
  }

  async get(who: Principal, id: string): Promise<Geofence> {
    const geofence = await this.geofences.get(who.orgId, id)
    if (!geofence) throw notFound('geofence')
    return geofence
  }

  list(who: Principal, query: GeofenceListQuery) {
    return this.geofences.list(who.orgId, query)
  }

  async update(who: Principal, id: string, body: UpdateGeofenceBody, meta: RequestMeta): Promise<Geofence> {
    const geometry = geometryOf(body)
    return withTransaction(this.pool, async (db) => {
      const before = await this.geofences.get(who.orgId, id, db, true)
      if (!before) throw notFound('geofence')
      const current = fieldsOf(before)
      const after = await this.geofences.update(db, who.orgId, id, {
        name: body.name ?? current.name,
        geometry: geometry ?? current.geometry,
        speedLimitKmh: body.speedLimitKmh === undefined ? current.speedLimitKmh : body.speedLimitKmh,
        dwellAlertS: body.dwellAlertS === undefined ? current.dwellAlertS : body.dwellAlertS,
      })
      await this.record(who, meta, db, 'geofence.update', id, before, after)
      return after
    })
  }

  /** Soft delete; refused while alert rules point at the geofence (they would silently stop matching). */
  async delete(who: Principal, id: string, meta: RequestMeta): Promise<void> {
    await withTransaction(this.pool, async (db) => {
      const before = await this.geofences.get(who.orgId, id, db, true)
      if (!before) throw notFound('geofence')
      const rules = await this.geofences.ruleNames(db, who.orgId, id)
      if (rules.length) {
        throw new AppError('conflict', `alert rules use this geofence (${rules.join(', ')}): delete them or change their geofence first`)
      }
      const after = await this.geofences.softDelete(db, who.orgId, id)
      await this.record(who, meta, db, 'geofence.delete', id, before, after)
    })
  }
}
