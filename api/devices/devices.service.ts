/**
 * Devices: provisioning (the secret is shown once), secret rotation, revocation,
 * binding to a vehicle. A change ingest must act on (revoked, rotated, rebound)
 * is announced on control.devices.v1 after it committed, so every ingest process
 * disconnects the device at once; its next CONNECT is judged on the new record.
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import type { Bus } from '../../core/bus/bus.js'
import { generateSecret, hashSecret } from '../../core/secrets.js'
import type { Device, DeviceListQuery } from '../../schemas/api.v1.js'
import { TOPICS, type DeviceControlV1 } from '../../schemas/topics.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import { withTransaction } from '../db.js'
import { AppError, notFound } from '../errors.js'
import { decodeCursor, page } from '../pagination.js'
import type { VehiclesRepository } from '../vehicles/vehicles.repository.js'
import type { DevicesRepository } from './devices.repository.js'

export const telemetryTopicOf = (deviceId: string) => `devices/${deviceId}/telemetry`

export class DevicesService {
  private readonly log: Logger

  constructor(
    private readonly pool: pg.Pool,
    private readonly devices: DevicesRepository,
    private readonly vehicles: VehiclesRepository,
    private readonly audit: AuditRepository,
    private readonly bus: Bus,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'devices' })
  }

  private record(who: Principal, meta: RequestMeta, db: pg.PoolClient, action: string, id: string, before: Device | undefined, after: Device) {
    return this.audit.record(
      { orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action, entityType: 'device', entityId: id, before, after, ...meta },
      db,
    )
  }

  /** A vehicle a device may be bound to: of this organization and not retired. */
  private async bindableVehicle(db: pg.PoolClient, orgId: string, vehicleId: string): Promise<void> {
    const vehicle = await this.vehicles.get(orgId, vehicleId, db)
    if (!vehicle) throw notFound('vehicle')
    if (vehicle.state === 'retired') throw new AppError('conflict', 'a retired vehicle takes no devices')
  }

  /** Tells every ingest process; the change is committed already, so a failure here is logged, not undone. */
  private async announce(device: Device, orgId: string, action: DeviceControlV1['action']): Promise<void> {
    const message: DeviceControlV1 = { deviceId: device.id, orgId, action, at: Date.now() }
    await this.bus.publish(TOPICS.deviceControl, [{ key: device.id, value: Buffer.from(JSON.stringify(message)) }]).catch((err: unknown) =>
      this.log.error({ err, deviceId: device.id, action }, 'could not announce a device change; a connected device keeps its session until it reconnects'))
  }

  async provision(who: Principal, body: { kind: 'gps' | 'dashcam'; vehicleId?: string; firmware?: string }, meta: RequestMeta) {
    const secret = generateSecret()
    const device = await withTransaction(this.pool, async (db) => {
      if (body.vehicleId) await this.bindableVehicle(db, who.orgId, body.vehicleId)
      const created = await this.devices.create(db, who.orgId, {
        vehicleId: body.vehicleId ?? null, kind: body.kind, firmware: body.firmware ?? null, secretHash: hashSecret(secret),
      })
      await this.record(who, meta, db, 'device.provision', created.id, undefined, created)
      return created
    })
    return { ...device, secret, topic: telemetryTopicOf(device.id) }
  }

  async get(who: Principal, id: string): Promise<Device> {
    const device = await this.devices.get(who.orgId, id)
    if (!device) throw notFound('device')
    return device
  }

  async list(who: Principal, query: DeviceListQuery) {
    const limit = query.limit ?? 50
    return page(await this.devices.list(who.orgId, limit, decodeCursor(query.cursor), query), limit)
  }

  /** Locks the device, refuses a revoked one, applies the change and audits it. */
  private change(who: Principal, id: string, meta: RequestMeta, action: string, apply: (db: pg.PoolClient, before: Device) => Promise<Device>) {
    return withTransaction(this.pool, async (db) => {
      const before = await this.devices.getForUpdate(db, who.orgId, id)
      if (!before) throw notFound('device')
      if (before.revokedAt) throw new AppError('conflict', 'the device is revoked; provision a new one')
      const after = await apply(db, before)
      await this.record(who, meta, db, action, id, before, after)
      return after
    })
  }

  async rotateSecret(who: Principal, id: string, meta: RequestMeta) {
    const secret = generateSecret()
    const device = await this.change(who, id, meta, 'device.rotate_secret', (db) => this.devices.update(db, who.orgId, id, { secretHash: hashSecret(secret) }))
    await this.announce(device, who.orgId, 'secret_rotated')
    return { ...device, secret, topic: telemetryTopicOf(device.id) }
  }

  async revoke(who: Principal, id: string, meta: RequestMeta) {
    const device = await this.change(who, id, meta, 'device.revoke', (db) => this.devices.update(db, who.orgId, id, { revoke: true }))
    await this.announce(device, who.orgId, 'revoked')
    return device
  }

  async bind(who: Principal, id: string, vehicleId: string | null, meta: RequestMeta) {
    const device = await this.change(who, id, meta, vehicleId ? 'device.bind' : 'device.unbind', async (db) => {
      if (vehicleId) await this.bindableVehicle(db, who.orgId, vehicleId)
      return this.devices.update(db, who.orgId, id, { vehicleId })
    })
    await this.announce(device, who.orgId, 'rebound')
    return device
  }

  update(who: Principal, id: string, firmware: string | null, meta: RequestMeta) {
    return this.change(who, id, meta, 'device.update', (db) => this.devices.update(db, who.orgId, id, { firmware }))
  }
}
