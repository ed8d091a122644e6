/**
 * Driver onboarding: applicant -> background_check (pending | passed | failed)
 * -> training (modules assigned and completed) -> approved | rejected -> active
 * <-> suspended; a driver user account linked to the driver; assignment to
 * vehicles. Every step is row-locked, audited and answers 409 with the allowed
 * steps when the driver is not in a state for it.
 */
import type pg from 'pg'
import { hashPassword } from '../../core/secrets.js'
import type { CreateDriverBody, Driver, DriverListQuery, DriverState, UpdateDriverBody, Vehicle } from '../../schemas/api.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditReader, AuditRepository } from '../audit/audit.repository.js'
import type { UsersRepository } from '../auth/users.repository.js'
import { isUniqueViolation, withTransaction } from '../db.js'
import { AppError, notFound } from '../errors.js'
import type { VehiclesRepository } from '../vehicles/vehicles.repository.js'
import type { Notifier } from '../notifications/notifications.module.js'
import { Workflow } from '../workflow.js'
import type { BackgroundCheckProvider } from './background-check.js'
import type { DriversRepository } from './drivers.repository.js'

export const DRIVER_WORKFLOW = new Workflow('driver', {
  start_background_check: { from: ['applicant'], to: 'background_check' },
  start_training: { from: ['background_check'], to: 'training' },
  approve: { from: ['training'], to: 'approved' },
  reject: { from: ['applicant', 'background_check', 'training'], to: 'rejected' },
  activate: { from: ['approved', 'suspended'], to: 'active' },
  suspend: { from: ['active'], to: 'suspended' },
} as const)
export type DriverTransition = keyof typeof DRIVER_WORKFLOW.transitions

/** Vehicles a driver may be assigned to: onboarded and not retired. */
const ASSIGNABLE_VEHICLE: readonly Vehicle['state'][] = ['approved', 'active', 'inactive']
const ASSIGNABLE_DRIVER: readonly DriverState[] = ['approved', 'active']

export interface DriversSettings {
  /** Where the background-check provider posts results (our public URL + the callback path). */
  callbackUrl: string
  /** How many active vehicles one driver may be assigned at a time. */
  maxActiveVehiclesPerDriver: number
}

export class DriversService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly drivers: DriversRepository,
    private readonly vehicles: VehiclesRepository,
    private readonly users: UsersRepository,
    private readonly audit: AuditRepository,
    private readonly auditReader: AuditReader,
    private readonly provider: BackgroundCheckProvider | undefined,
    private readonly settings: DriversSettings,
    private readonly notifier: Notifier,
  ) {}

  /** Tells who acts next, in the step's transaction. */
  private tell(db: pg.PoolClient, orgId: string, recipient: { role: string } | { userId: string }, kind: string, entity: { type: string; id: string }, title: string, body = '') {
    return this.notifier.notify({ orgId, recipient, kind, entity, title, body }, db)
  }

  private record(who: Principal | undefined, orgId: string, meta: RequestMeta, db: pg.PoolClient, action: string, entity: { type: string; id: string }, before: unknown, after: unknown) {
    return this.audit.record({
      orgId, actorId: who?.userId ?? null, actorEmail: who?.email ?? 'background-check provider', action,
      entityType: entity.type, entityId: entity.id, before, after, ...meta,
    }, db)
  }

  async create(who: Principal, body: CreateDriverBody, meta: RequestMeta): Promise<Driver> {
    return withTransaction(this.pool, async (db) => {
      const driver = await this.drivers.create(db, who.orgId, body)
      await this.record(who, who.orgId, meta, db, 'driver.create', { type: 'driver', id: driver.id }, undefined, driver)
      return driver
    })
  }

  async get(who: Principal, id: string): Promise<Driver> {
    const driver = await this.drivers.get(who.orgId, id)
    if (!driver) throw notFound('driver')
    return driver
  }

  list(who: Principal, query: DriverListQuery) {
    return this.drivers.list(who.orgId, query)
  }

  async log(who: Principal, id: string, query: { limit?: number; cursor?: string }) {
    await this.get(who, id)
    return this.auditReader.timeline(who.orgId, { entityType: 'driver', id, refField: 'driverId' }, query)
  }

  /** Locks the driver, lets `apply` judge and change it, audits before and after. */
  private change(who: Principal, id: string, meta: RequestMeta, action: string, apply: (db: pg.PoolClient, before: Driver) => Promise<Driver>) {
    return withTransaction(this.pool, async (db) => {
      const before = await this.drivers.getForUpdate(db, who.orgId, id)
      if (!before) throw notFound('driver')
      const after = await apply(db, before)
      await this.record(who, who.orgId, meta, db, action, { type: 'driver', id }, before, after)
      return after
    })
  }

  update(who: Principal, id: string, change: UpdateDriverBody, meta: RequestMeta): Promise<Driver> {
    return this.change(who, id, meta, 'driver.update', (db) => this.drivers.update(db, who.orgId, id, change))
  }

  /** A plain workflow step (approve, reject, activate, suspend), with its own guards. */
  transition(who: Principal, id: string, step: 'approve' | 'reject' | 'activate' | 'suspend', meta: RequestMeta, reason?: string): Promise<Driver> {
    return this.change(who, id, meta, `driver.${step}`, async (db, before) => {
      const state = DRIVER_WORKFLOW.next(before.state, step)
      if (step === 'approve') {
        const open = before.training.filter((m) => !m.completedAt).map((m) => m.module)
        if (open.length > 0) {
          throw new AppError('invalid_transition', `training is not complete: ${open.join(', ')}`, { state: before.state, allowed: ['reject'] })
        }
      }
      const stateReason = step === 'reject' || step === 'suspend' ? reason ?? null : null
      const after = await this.drivers.update(db, who.orgId, id, { state, stateReason })
      if (step === 'approve') {
        await this.tell(db, who.orgId, { role: 'fleet_manager' }, 'driver.approved', { type: 'driver', id }, `${after.name} was approved: activate and assign a vehicle`)
      }
      if (step === 'suspend' && after.userId) {
        await this.tell(db, who.orgId, { userId: after.userId }, 'driver.suspended', { type: 'driver', id }, 'Your driver account was suspended', stateReason ?? '')
      }
      return after
    })
  }

  /**
   * Asks the provider before the transaction (an outside call must not hold a
   * database connection), then records the reference under the row lock; if
   * the driver moved meanwhile, the step is refused and the orphan reference
   * is never matched.
   */
  async startBackgroundCheck(who: Principal, id: string, meta: RequestMeta): Promise<Driver> {
    const driver = await this.get(who, id)
    DRIVER_WORKFLOW.next(driver.state, 'start_background_check')
    if (!this.provider) throw new AppError('provider_unavailable', 'no background-check provider is configured (BACKGROUND_CHECK_URL)')
    let reference: string
    try {
      ({ reference } = await this.provider.request({
        driverId: driver.id, orgId: who.orgId, name: driver.name, licenceNumber: driver.licenceNumber, callbackUrl: this.settings.callbackUrl,
      }))
    } catch (err) {
      throw new AppError('provider_unavailable', `the background-check provider failed: ${(err as Error).message}`)
    }
    return this.change(who, id, meta, 'driver.start_background_check', async (db, before) => {
      const state = DRIVER_WORKFLOW.next(before.state, 'start_background_check')
      return this.drivers.update(db, who.orgId, id, { state, backgroundCheck: 'pending', backgroundCheckRef: reference })
    })
  }

  /** The provider's verdict (its signature was checked by the route). Unknown or settled references change nothing. */
  async backgroundCheckResult(reference: string, result: 'passed' | 'failed', meta: RequestMeta): Promise<void> {
    await withTransaction(this.pool, async (db) => {
      const found = await this.drivers.findByCheckReference(db, reference)
      if (!found) throw notFound('background check')
      const before = (await this.drivers.get(found.orgId, found.id, db))!
      if (before.state !== 'background_check' || before.backgroundCheck !== 'pending') {
        throw new AppError('conflict', 'this background check already has a result')
      }
      const after = await this.drivers.update(db, found.orgId, found.id, { backgroundCheck: result })
      await this.record(undefined, found.orgId, meta, db, 'driver.background_check_result', { type: 'driver', id: found.id }, before, after)
      await this.tell(db, found.orgId, { role: 'fleet_manager' }, `driver.background_check_${result}`, { type: 'driver', id: found.id },
        `Background check ${result} for ${after.name}`, result === 'passed' ? 'Assign the training modules next.' : 'Reject the application or contact the driver.')
    })
  }

  startTraining(who: Principal, id: string, modules: string[], meta: RequestMeta): Promise<Driver> {
    return this.change(who, id, meta, 'driver.start_training', async (db, before) => {
      const state = DRIVER_WORKFLOW.next(before.state, 'start_training')
      if (before.backgroundCheck !== 'passed') {
        throw new AppError('invalid_transition', `the background check is ${before.backgroundCheck ?? 'not started'}, not passed`, {
          state: before.state, allowed: ['reject'],
        })
      }
      await this.drivers.assignModules(db, id, modules)
      return this.drivers.update(db, who.orgId, id, { state })
    })
  }

  completeModule(who: Principal, id: string, module: string, meta: RequestMeta): Promise<Driver> {
    return this.change(who, id, meta, 'driver.complete_module', async (db, before) => {
      if (before.state !== 'training') {
        throw new AppError('invalid_transition', `a driver in state ${before.state} has no training running`, { state: before.state, allowed: DRIVER_WORKFLOW.allowed(before.state) })
      }
      if (!(await this.drivers.completeModule(db, id, module))) throw notFound('training module')
      const after = (await this.drivers.get(who.orgId, id, db))!
      if (after.training.every((m) => m.completedAt) && before.training.some((m) => !m.completedAt)) {
        await this.tell(db, who.orgId, { role: 'operational_admin' }, 'driver.training_completed', { type: 'driver', id },
          `${after.name} completed training and awaits approval`)
      }
      return after
    })
  }

  /** The driver's own user account (role driver): one per driver. */
  async createAccount(who: Principal, id: string, body: { email: string; password: string }, meta: RequestMeta): Promise<Driver> {
    const passwordHash = await hashPassword(body.password)
    try {
      return await this.change(who, id, meta, 'driver.create_account', async (db, before) => {
        if (before.userId) throw new AppError('conflict', 'this driver already has an account')
        const user = await this.users.create(db, who.orgId, { email: body.email, name: before.name, role: 'driver', passwordHash })
        return this.drivers.update(db, who.orgId, id, { userId: user.id })
      })
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError('conflict', 'a user with this email already exists')
      throw err
    }
  }

  /**
   * Assigns a driver to a vehicle: only an approved or active driver, to an
   * onboarded vehicle, and at most maxActiveVehiclesPerDriver active vehicles
   * each. The driver row is locked too, so two concurrent assignments of one
   * driver are judged one after the other.
   */
  async assign(who: Principal, vehicleId: string, driverId: string | null, meta: RequestMeta): Promise<Vehicle> {
    return withTransaction(this.pool, async (db) => {
      const before = await this.vehicles.getForUpdate(db, who.orgId, vehicleId)
      if (!before) throw notFound('vehicle')
      const driver = driverId ? await this.drivers.getForUpdate(db, who.orgId, driverId) : undefined
      if (driverId) {
        if (!driver) throw notFound('driver')
        if (!ASSIGNABLE_VEHICLE.includes(before.state)) throw new AppError('conflict', `a vehicle in state ${before.state} cannot take a driver`)
        if (!ASSIGNABLE_DRIVER.includes(driver.state)) throw new AppError('conflict', `a driver in state ${driver.state} cannot be assigned; approve the driver first`)
        if (before.state === 'active' && (await this.vehicles.activeVehicleCount(db, driverId, vehicleId)) >= this.settings.maxActiveVehiclesPerDriver) {
          throw new AppError('conflict', `the driver already has ${this.settings.maxActiveVehiclesPerDriver} active vehicle(s)`)
        }
      }
      const after = await this.vehicles.setDriver(db, who.orgId, vehicleId, driverId)
      await this.record(who, who.orgId, meta, db, driverId ? 'vehicle.assign_driver' : 'vehicle.unassign_driver', { type: 'vehicle', id: vehicleId }, before, after)
      if (driver?.userId) {
        await this.tell(db, who.orgId, { userId: driver.userId }, 'vehicle.assigned', { type: 'vehicle', id: vehicleId }, `You drive ${after.name}${after.plate ? ` (${after.plate})` : ''} now`)
      }
      return after
    })
  }

  /** What a driver sees of themselves. */
  own(who: Principal): Promise<Driver> {
    return ownDriver(this.drivers, who)
  }
}

/** The driver record a driver user's account is linked to, or 404 when it is linked to none. */
export async function ownDriver(drivers: DriversRepository, who: Principal): Promise<Driver> {
  const driver = await drivers.getByUser(who.orgId, who.userId)
  if (!driver) throw notFound('driver profile')
  return driver
}
