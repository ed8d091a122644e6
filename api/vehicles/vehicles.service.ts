/** Vehicles, their devices and their telemetry, always within the caller's organization. */
import type pg from 'pg'
import { generateSecret, hashSecret } from '../../core/secrets.js'
import type { CreateVehicleBody } from '../../schemas/api.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import { instantOf } from '../dates.js'
import { withTransaction } from '../db.js'
import { AppError, notFound } from '../errors.js'
import { decodeCursor, page } from '../pagination.js'
import type { TrackRepository } from './track.repository.js'
import type { DevicesRepository, VehiclesRepository } from './vehicles.repository.js'

const DAY_MS = 24 * 3600 * 1000
const MAX_TRACK_RANGE_MS = 31 * DAY_MS

export class VehiclesService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly vehicles: VehiclesRepository,
    private readonly devices: DevicesRepository,
    private readonly audit: AuditRepository,
    /** Undefined on an API node that does not reach ClickHouse. */
    private readonly tracks: TrackRepository | undefined,
  ) {}

  async create(who: Principal, body: CreateVehicleBody, meta: RequestMeta) {
    return withTransaction(this.pool, async (db) => {
      const vehicle = await this.vehicles.create(who.orgId, body, db)
      await this.audit.record(
        { orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action: 'vehicle.create', entityType: 'vehicle', entityId: vehicle.id, after: vehicle, ...meta },
        db,
      )
      return vehicle
    })
  }

  async get(who: Principal, id: string) {
    const vehicle = await this.vehicles.get(who.orgId, id)
    if (!vehicle) throw notFound('vehicle')
    return vehicle
  }

  async list(who: Principal, limit: number, cursor: string | undefined) {
    return page(await this.vehicles.list(who.orgId, limit, decodeCursor(cursor)), limit)
  }

  async provisionDevice(who: Principal, vehicleId: string, kind: 'gps' | 'dashcam', meta: RequestMeta) {
    await this.get(who, vehicleId)
    const secret = generateSecret()
    const device = await withTransaction(this.pool, async (db) => {
      const created = await this.devices.create(db, who.orgId, vehicleId, kind, hashSecret(secret))
      await this.audit.record(
        { orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action: 'device.provision', entityType: 'device', entityId: created.id, after: created, ...meta },
        db,
      )
      return created
    })
    return { ...device, secret, topic: `devices/${device.id}/telemetry` }
  }

  async position(who: Principal, vehicleId: string) {
    await this.get(who, vehicleId)
    const position = await this.vehicles.latestPosition(who.orgId, vehicleId)
    // undefined: the vehicle exists and has not reported yet (the route answers 204).
    return position
  }

  async track(who: Principal, vehicleId: string, query: { from?: string; to?: string; limit?: number }) {
    if (!this.tracks) throw new AppError('analytics_unavailable', 'this API node has no ClickHouse; ask a node that runs the stream role, or set CLICKHOUSE_URL')
    await this.get(who, vehicleId)
    // The effective range is answered back: within the store's time range, at
    // most 31 days (ending at `to`); `from` after `to` is an empty range.
    const to = new Date(query.to ? instantOf(query.to, 'to') : Date.now())
    const from = new Date(Math.max(query.from ? instantOf(query.from, 'from') : to.getTime() - DAY_MS, to.getTime() - MAX_TRACK_RANGE_MS, 0))
    const limit = query.limit ?? 10_000
    const items = from > to ? [] : await this.tracks.track(who.orgId, vehicleId, from, to, limit + 1)
    const truncated = items.length > limit
    return { vehicleId, from: from.toISOString(), to: to.toISOString(), items: truncated ? items.slice(0, limit) : items, truncated }
  }
}
