/** Vehicles, their devices and their telemetry, always within the caller's organization. */
import type pg from 'pg'
import type { CreateVehicleBody, UpdateVehicleBody, Vehicle, VehicleListQuery } from '../../schemas/api.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditReader, AuditRepository } from '../audit/audit.repository.js'
import { instantOf } from '../dates.js'
import { withTransaction } from '../db.js'
import { analyticsUnavailable, AppError, notFound } from '../errors.js'
import type { Notifier } from '../notifications/notifications.module.js'
import { Workflow } from '../workflow.js'
import type { TrackRepository } from './track.repository.js'
import type { VehiclesRepository } from './vehicles.repository.js'

export const VEHICLE_WORKFLOW = new Workflow('vehicle', {
  submit: { from: ['draft', 'rejected'], to: 'in_review' },
  approve: { from: ['in_review'], to: 'approved' },
  reject: { from: ['in_review'], to: 'rejected' },
  activate: { from: ['approved', 'inactive'], to: 'active' },
  deactivate: { from: ['active'], to: 'inactive' },
  retire: { from: ['draft', 'rejected', 'approved', 'inactive'], to: 'retired' },
} as const)
export type VehicleTransition = keyof typeof VEHICLE_WORKFLOW.transitions

/** Who acts next after a step, told in the same transaction (so a refused step tells nobody). */
const NEXT_ACTOR: Partial<Record<VehicleTransition, { role: string; kind: string; title: (v: Vehicle) => string }>> = {
  submit: { role: 'operational_admin', kind: 'vehicle.submitted', title: (v) => `Vehicle ${v.name} awaits review` },
  approve: { role: 'fleet_manager', kind: 'vehicle.approved', title: (v) => `Vehicle ${v.name} was approved: it can be put into service` },
  reject: { role: 'fleet_manager', kind: 'vehicle.rejected', title: (v) => `Vehicle ${v.name} was rejected` },
}

const DAY_MS = 24 * 3600 * 1000
const MAX_TRACK_RANGE_MS = 31 * DAY_MS

export class VehiclesService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly vehicles: VehiclesRepository,
    private readonly audit: AuditRepository,
    private readonly auditReader: AuditReader,
    /** Undefined on an API node that does not reach ClickHouse. */
    private readonly tracks: TrackRepository | undefined,
    private readonly maxActiveVehiclesPerDriver: number,
    private readonly notifier: Notifier,
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

  async list(who: Principal, query: VehicleListQuery) {
    return this.vehicles.list(who.orgId, query)
  }

  async log(who: Principal, id: string, query: { limit?: number; cursor?: string }) {
    await this.get(who, id)
    return this.auditReader.timeline(who.orgId, { entityType: 'vehicle', id, refField: 'vehicleId' }, query)
  }

  private record(who: Principal, meta: RequestMeta, db: pg.PoolClient, action: string, id: string, before: Vehicle, after: Vehicle) {
    return this.audit.record(
      { orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action, entityType: 'vehicle', entityId: id, before, after, ...meta },
      db,
    )
  }

  /** Changes the allowed fields; a retired vehicle is history and does not change. */
  async update(who: Principal, id: string, change: UpdateVehicleBody, meta: RequestMeta): Promise<Vehicle> {
    return withTransaction(this.pool, async (db) => {
      const before = await this.vehicles.getForUpdate(db, who.orgId, id)
      if (!before) throw notFound('vehicle')
      if (before.state === 'retired') throw new AppError('invalid_transition', 'a retired vehicle cannot change', { state: before.state, allowed: [] })
      const after = await this.vehicles.update(db, who.orgId, id, change)
      await this.record(who, meta, db, 'vehicle.update', id, before, after)
      return after
    })
  }

  /**
   * One workflow step, in one transaction with the row locked: two concurrent
   * steps on one vehicle serialize, and the second is judged on the first's result.
   */
  async transition(who: Principal, id: string, step: VehicleTransition, meta: RequestMeta, reason?: string): Promise<Vehicle> {
    return withTransaction(this.pool, async (db) => {
      const before = await this.vehicles.getForUpdate(db, who.orgId, id)
      if (!before) throw notFound('vehicle')
      const state = VEHICLE_WORKFLOW.next(before.state, step)
      if (step === 'activate' && before.driverId
        && (await this.vehicles.activeVehicleCount(db, before.driverId, id)) >= this.maxActiveVehiclesPerDriver) {
        throw new AppError('conflict', `its driver already has ${this.maxActiveVehiclesPerDriver} active vehicle(s); unassign the driver first`)
      }
      const after = await this.vehicles.setState(db, who.orgId, id, state, step === 'reject' ? reason ?? null : null)
      await this.record(who, meta, db, `vehicle.${step}`, id, before, after)
      const next = NEXT_ACTOR[step]
      if (next) {
        await this.notifier.notify({
          orgId: who.orgId, recipient: { role: next.role }, kind: next.kind, entity: { type: 'vehicle', id },
          title: next.title(after), body: step === 'reject' ? `Reason: ${after.rejectReason ?? ''}` : '', data: { state: after.state },
        }, db)
      }
      return after
    })
  }

  /** Each id on its own (its own transaction and audit row): one refusal does not undo the others. */
  async bulk(who: Principal, step: VehicleTransition, ids: string[], meta: RequestMeta) {
    const results = []
    for (const id of ids) {
      try {
        const v = await this.transition(who, id, step, meta)
        results.push({ id, ok: true, state: v.state })
      } catch (err) {
        if (!(err instanceof AppError)) throw err
        results.push({ id, ok: false, code: err.code, detail: err.message, ...(typeof err.extra?.state === 'string' ? { state: err.extra.state } : {}) })
      }
    }
    return { results }
  }

  async position(who: Principal, vehicleId: string) {
    await this.get(who, vehicleId)
    const position = await this.vehicles.latestPosition(who.orgId, vehicleId)
    // undefined: the vehicle exists and has not reported yet (the route answers 204).
    return position
  }

  /** Driving figures over a range (default the last 30 days) from ClickHouse, and when the vehicle was last seen. */
  async metrics(who: Principal, vehicleId: string, query: { from?: string; to?: string }) {
    if (!this.tracks) throw analyticsUnavailable()
    await this.get(who, vehicleId)
    const to = new Date(query.to ? instantOf(query.to, 'to') : Date.now())
    const from = new Date(query.from ? instantOf(query.from, 'from') : to.getTime() - 30 * DAY_MS)
    const m = from > to ? undefined : await this.tracks.metrics(who.orgId, vehicleId, from, to)
    const latest = await this.vehicles.latestPosition(who.orgId, vehicleId)
    const fixes = Number(m?.fixes ?? 0)
    return {
      vehicleId,
      from: from.toISOString(),
      to: to.toISOString(),
      fixes,
      distanceKm: fixes ? Math.round(m!.distance_m) / 1000 : 0,
      engineHours: fixes ? Math.round((m!.engine_s / 3600) * 1000) / 1000 : 0,
      maxSpeed: fixes ? m!.max_speed : null,
      firstFixAt: m?.first_ms ? new Date(Number(m.first_ms)).toISOString() : null,
      lastFixAt: m?.last_ms ? new Date(Number(m.last_ms)).toISOString() : null,
      lastSeenAt: latest?.ts ?? null,
    }
  }

  async track(who: Principal, vehicleId: string, query: { from?: string; to?: string; limit?: number; cursor?: string }) {
    if (!this.tracks) throw analyticsUnavailable()
    await this.get(who, vehicleId)
    // The effective range is answered back: within the store's time range, at
    // most 31 days (ending at `to`); `from` after `to` is an empty range.
    const to = new Date(query.to ? instantOf(query.to, 'to') : Date.now())
    const from = new Date(Math.max(query.from ? instantOf(query.from, 'from') : to.getTime() - DAY_MS, to.getTime() - MAX_TRACK_RANGE_MS, 0))
    const limit = query.limit ?? 10_000
    const after = query.cursor === undefined ? undefined : Number(query.cursor)
    const items = from > to ? [] : await this.tracks.track(who.orgId, vehicleId, from, to, limit + 1, after)
    const truncated = items.length > limit
    const page = truncated ? items.slice(0, limit) : items
    return {
      vehicleId, from: from.toISOString(), to: to.toISOString(), items: page, truncated,
      // The last fix's time in ms: the next page starts after it.
      nextCursor: truncated ? String(Date.parse(page[page.length - 1]!.ts)) : null,
    }
  }
}
