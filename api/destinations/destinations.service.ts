/** Setting and clearing where a vehicle is heading; the vehicle must be the caller's organization's. */
import type pg from 'pg'
import type { Destination, PutDestinationBody } from '../../schemas/geofences.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import { withTransaction } from '../db.js'
import { AppError, notFound } from '../errors.js'
import type { VehiclesRepository } from '../vehicles/vehicles.repository.js'
import type { DestinationsRepository } from './destinations.repository.js'

export class DestinationsService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly destinations: DestinationsRepository,
    private readonly vehicles: VehiclesRepository,
    private readonly audit: AuditRepository,
  ) {}

  private record(who: Principal, meta: RequestMeta, db: pg.PoolClient, action: string, vehicleId: string, before: unknown, after: unknown) {
    return this.audit.record(
      { orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action, entityType: 'vehicle', entityId: vehicleId, before, after, ...meta },
      db,
    )
  }

  /** undefined: the vehicle has no destination (the route answers 204). */
  async get(who: Principal, vehicleId: string): Promise<Destination | undefined> {
    if (!(await this.vehicles.get(who.orgId, vehicleId))) throw notFound('vehicle')
    return this.destinations.get(who.orgId, vehicleId)
  }

  /** The vehicle row is locked, so a destination never lands on a vehicle being retired at the same moment. */
  async put(who: Principal, vehicleId: string, body: PutDestinationBody, meta: RequestMeta): Promise<Destination> {
    return withTransaction(this.pool, async (db) => {
      const vehicle = await this.vehicles.getForUpdate(db, who.orgId, vehicleId)
      if (!vehicle) throw notFound('vehicle')
      if (vehicle.state === 'retired') throw new AppError('invalid_transition', 'a retired vehicle goes nowhere', { state: vehicle.state, allowed: [] })
      const before = await this.destinations.get(who.orgId, vehicleId, db)
      const after = await this.destinations.put(db, who.orgId, vehicleId, { lat: body.lat, lon: body.lon, radiusM: body.radiusM ?? 100 })
      await this.record(who, meta, db, 'vehicle.destination_set', vehicleId, before, after)
      return after
    })
  }

  async clear(who: Principal, vehicleId: string, meta: RequestMeta): Promise<void> {
    await withTransaction(this.pool, async (db) => {
      const vehicle = await this.vehicles.getForUpdate(db, who.orgId, vehicleId)
      if (!vehicle) throw notFound('vehicle')
      const before = await this.destinations.get(who.orgId, vehicleId, db)
      // Idempotent: clearing no destination changes nothing (and audits nothing).
      if (!before) return
      await this.destinations.delete(db, who.orgId, vehicleId)
      await this.record(who, meta, db, 'vehicle.destination_clear', vehicleId, before, { vehicleId, destination: null })
    })
  }
}
