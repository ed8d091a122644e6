/**
 * Tickets: opened by a driver from the app (about themselves), by support
 * staff, or by the system for a dashcam event; worked by support staff
 * (status, assignee, comments). Every change is one timeline event and one
 * audit row in its transaction; the assignee and the admins are told. A driver
 * sees only tickets about themselves: any other answers 404.
 */
import type { Readable } from 'node:stream'
import type pg from 'pg'
import type {
  CreateTicketBody, Ticket, TicketCategory, TicketExportQuery, TicketListQuery, TicketPriority, TicketStatus,
} from '../../schemas/tickets.v1.js'
import type { LiveAlertV1 } from '../../schemas/topics.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import type { UsersRepository } from '../auth/users.repository.js'
import { withTransaction } from '../db.js'
import type { DocumentsService } from '../documents/documents.service.js'
import type { DriversRepository } from '../drivers/drivers.repository.js'
import { ownDriver } from '../drivers/drivers.service.js'
import { AppError, notFound } from '../errors.js'
import { exportStream, type CsvColumn, type ExportFormat } from '../export.js'
import type { Notifier } from '../notifications/notifications.module.js'
import type { OrdersRepository } from '../orders/orders.repository.js'
import { permissionsOf } from '../permissions.js'
import type { VehiclesRepository } from '../vehicles/vehicles.repository.js'
import { Workflow } from '../workflow.js'
import type { NewTicketEvent, TicketEventsRepository, TicketFilter, TicketsRepository } from './tickets.repository.js'

export const TICKET_WORKFLOW = new Workflow<TicketStatus, 'start' | 'resolve' | 'close' | 'reopen'>('ticket', {
  start: { from: ['open'], to: 'in_progress' },
  resolve: { from: ['open', 'in_progress'], to: 'resolved' },
  close: { from: ['resolved'], to: 'closed' },
  reopen: { from: ['resolved', 'closed'], to: 'open' },
})
export type TicketStep = keyof typeof TICKET_WORKFLOW.transitions

/** Staff see their organization's tickets; a driver only those about them (`driverId`). */
export type TicketScope = { driverId: string } | undefined

const ADMINS = { role: 'operational_admin' }

const CSV: CsvColumn<Ticket>[] = [
  ['id', (t) => t.id], ['status', (t) => t.status], ['category', (t) => t.category], ['priority', (t) => t.priority],
  ['description', (t) => t.description], ['source', (t) => t.source], ['driverId', (t) => t.driverId], ['assigneeId', (t) => t.assigneeId],
  ['vehicleId', (t) => t.vehicleId], ['orderId', (t) => t.orderId], ['eventRef', (t) => t.eventRef], ['photos', (t) => t.photoIds.length],
  ['resolvedAt', (t) => t.resolvedAt], ['closedAt', (t) => t.closedAt], ['createdAt', (t) => t.createdAt], ['updatedAt', (t) => t.updatedAt],
]

/** An alert the stream raised on a dashcam or driving event, as openTicketFromEvent takes it. */
export type TicketAlert = Pick<LiveAlertV1, 'id' | 'orgId' | 'vehicleId' | 'kind' | 'severity' | 'ts' | 'message' | 'driverId' | 'lat' | 'lon'>

const PRIORITY_OF: Record<TicketAlert['severity'], TicketPriority> = { critical: 'urgent', warning: 'high', info: 'normal' }
const categoryOf = (kind: TicketAlert['kind']): TicketCategory =>
  kind === 'device_event' ? 'accident' : kind.startsWith('harsh_') || kind === 'overspeed' ? 'safety' : 'other'

export class TicketsService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly tickets: TicketsRepository,
    private readonly events: TicketEventsRepository,
    private readonly drivers: DriversRepository,
    private readonly vehicles: VehiclesRepository,
    private readonly orders: OrdersRepository,
    private readonly users: UsersRepository,
    private readonly documents: DocumentsService,
    private readonly audit: AuditRepository,
    private readonly notifier: Notifier,
  ) {}

  async driverScope(who: Principal): Promise<{ driverId: string }> {
    return { driverId: (await ownDriver(this.drivers, who)).id }
  }

  private visible(ticket: Ticket | undefined, scope: TicketScope): ticket is Ticket {
    return ticket !== undefined && (!scope || ticket.driverId === scope.driverId)
  }

  private record(who: Principal | undefined, orgId: string, meta: RequestMeta, db: pg.PoolClient, action: string, id: string, before: Ticket | undefined, after: Ticket) {
    return this.audit.record({
      orgId, actorId: who?.userId ?? null, actorEmail: who?.email ?? 'system', action, entityType: 'ticket', entityId: id, before, after, ...meta,
    }, db)
  }

  private by(who: Principal): NewTicketEvent['actor'] {
    return { type: 'user', id: who.userId, email: who.email }
  }

  /** Tells each recipient once, never the one who acted. */
  private async tell(db: pg.PoolClient, who: Principal, ticket: Ticket, kind: string, title: string, body: string, recipients: Array<string | null | { role: string }>) {
    const seen = new Set<string>()
    for (const r of recipients) {
      if (r === null) continue
      const key = typeof r === 'string' ? r : `role:${r.role}`
      if (seen.has(key) || r === who.userId) continue
      seen.add(key)
      await this.notifier.notify({
        orgId: who.orgId, recipient: typeof r === 'string' ? { userId: r } : r, kind,
        entity: { type: 'ticket', id: ticket.id }, title: title.slice(0, 200), body: body.slice(0, 4000), data: { status: ticket.status },
      }, db)
    }
  }

  /** Checks the links a ticket names: this organization's vehicle and order (a driver's own order only). */
  private async checkLinks(db: pg.PoolClient, orgId: string, body: { vehicleId?: string; orderId?: string }, scope: TicketScope) {
    if (body.vehicleId && !(await this.vehicles.get(orgId, body.vehicleId, db))) throw notFound('vehicle')
    if (body.orderId) {
      const order = await this.orders.get(orgId, body.orderId, db)
      if (!order || (scope && order.driverId !== scope.driverId)) throw notFound('order')
    }
  }

  /** Opens a ticket: a driver's (scope) is about themselves; staff may name the driver. */
  async open(who: Principal, body: CreateTicketBody, meta: RequestMeta, scope: TicketScope = undefined): Promise<Ticket> {
    return withTransaction(this.pool, async (db) => {
      await this.checkLinks(db, who.orgId, body, scope)
      if (!scope && body.driverId && !(await this.drivers.get(who.orgId, body.driverId, db))) throw notFound('driver')
      const ticket = await this.tickets.create(db, who.orgId, {
        category: body.category, priority: body.priority ?? 'normal', description: body.description, source: scope ? 'driver' : 'staff',
        openedBy: who.userId, driverId: scope?.driverId ?? body.driverId ?? null, vehicleId: body.vehicleId ?? null,
        orderId: body.orderId ?? null, eventRef: body.eventRef ?? null,
      })
      await this.events.add(db, { orgId: who.orgId, ticketId: ticket.id, actor: this.by(who), kind: 'opened', toStatus: 'open', body: ticket.description })
      await this.record(who, who.orgId, meta, db, 'ticket.open', ticket.id, undefined, ticket)
      await this.tell(db, who, ticket, 'ticket.opened', `New ${ticket.priority} ticket: ${ticket.category.replaceAll('_', ' ')}`, ticket.description, [ADMINS])
      return ticket
    })
  }

  /**
   * Opens the ticket for a dashcam or driving event the stream raised (a
   * collision, a harsh event), once per event: a replayed alert answers the
   * ticket already opened (`created: false`). Called by the alert consumer.
   */
  async openTicketFromEvent(alert: TicketAlert): Promise<{ ticket: Ticket; created: boolean }> {
    const created = await withTransaction(this.pool, async (db) => {
      const vehicle = await this.vehicles.get(alert.orgId, alert.vehicleId, db)
      if (!vehicle) throw notFound('vehicle')
      const driverId = alert.driverId && (await this.drivers.get(alert.orgId, alert.driverId, db)) ? alert.driverId : vehicle.driverId
      const at = new Date(alert.ts).toISOString()
      const place = alert.lat !== null && alert.lon !== null ? ` at ${alert.lat.toFixed(5)}, ${alert.lon.toFixed(5)}` : ''
      const ticket = await this.tickets.createForEvent(db, alert.orgId, {
        category: categoryOf(alert.kind), priority: PRIORITY_OF[alert.severity], description: `${alert.message} (${vehicle.name}, ${at}${place})`.slice(0, 4000),
        source: 'system', openedBy: null, driverId, vehicleId: vehicle.id, orderId: null, eventRef: alert.id,
      })
      if (!ticket) return undefined
      await this.events.add(db, {
        orgId: alert.orgId, ticketId: ticket.id, actor: { type: 'system' }, kind: 'opened', toStatus: 'open', body: ticket.description,
        data: { alertKind: alert.kind, severity: alert.severity, ts: alert.ts },
      })
      await this.record(undefined, alert.orgId, { requestId: `alert:${alert.id}`.slice(0, 128), ip: '' }, db, 'ticket.open', ticket.id, undefined, ticket)
      await this.notifier.notify({
        orgId: alert.orgId, recipient: ADMINS, kind: 'ticket.opened', entity: { type: 'ticket', id: ticket.id },
        title: `Automatic ${ticket.priority} ticket: ${alert.message}`.slice(0, 200), body: ticket.description, data: { eventRef: alert.id },
      }, db)
      return ticket
    })
    if (created) return { ticket: created, created: true }
    const existing = await this.tickets.findByEvent(alert.orgId, alert.id)
    if (!existing) throw new AppError('conflict', 'the ticket for this event could not be read back')
    return { ticket: existing, created: false }
  }

  async get(who: Principal, id: string, scope: TicketScope = undefined): Promise<Ticket> {
    const ticket = await this.tickets.get(who.orgId, id)
    if (!this.visible(ticket, scope)) throw notFound('ticket')
    return ticket
  }

  list(who: Principal, query: TicketListQuery, scope: TicketScope = undefined) {
    const filter: TicketFilter = { ...query, ...(scope ? { driverId: scope.driverId } : {}) }
    return this.tickets.list(who.orgId, filter, query)
  }

  export(who: Principal, query: TicketExportQuery): { format: ExportFormat; stream: Readable } {
    const format = query.format ?? 'csv'
    return { format, stream: exportStream<Ticket>(format, CSV, (cursor, limit) => this.tickets.list(who.orgId, query, { sort: query.sort, cursor, limit })) }
  }

  async timeline(who: Principal, id: string, query: { limit?: number; cursor?: string }, scope: TicketScope = undefined) {
    await this.get(who, id, scope)
    const limit = query.limit ?? 100
    const rows = await this.events.list(who.orgId, id, limit + 1, query.cursor)
    const items = rows.slice(0, limit)
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null }
  }

  /** Locks the ticket, lets `apply` change it, writes its timeline event and one audit row. */
  private change(
    who: Principal, id: string, scope: TicketScope, meta: RequestMeta, action: string,
    apply: (db: pg.PoolClient, before: Ticket) => Promise<{ after: Ticket; event: Omit<NewTicketEvent, 'orgId' | 'ticketId' | 'actor'> }>,
  ): Promise<Ticket> {
    return withTransaction(this.pool, async (db) => {
      const before = await this.tickets.getForUpdate(db, who.orgId, id)
      if (!this.visible(before, scope)) throw notFound('ticket')
      const { after, event } = await apply(db, before)
      await this.events.add(db, { orgId: who.orgId, ticketId: id, actor: this.by(who), ...event })
      await this.record(who, who.orgId, meta, db, action, id, before, after)
      return after
    })
  }

  step(who: Principal, id: string, step: TicketStep, meta: RequestMeta): Promise<Ticket> {
    return this.change(who, id, undefined, meta, `ticket.${step}`, async (db, before) => {
      const status = TICKET_WORKFLOW.next(before.status, step)
      const after = await this.tickets.setStatus(db, who.orgId, id, status)
      await this.tell(db, who, after, 'ticket.status_changed', `Ticket ${step === 'start' ? 'in progress' : step === 'reopen' ? 'reopened' : `${step}d`}`,
        `${before.status} -> ${status}: ${after.description}`, [after.assigneeId, after.openedBy, ADMINS])
      return { after, event: { kind: 'status', fromStatus: before.status, toStatus: status } }
    })
  }

  /** Assigns the ticket to a user of this organization who may work tickets (null: nobody). */
  async assign(who: Principal, id: string, assigneeId: string | null, meta: RequestMeta): Promise<Ticket> {
    return this.change(who, id, undefined, meta, 'ticket.assign', async (db, before) => {
      // Judged in the transaction, on the organization's own users: deactivated meanwhile means refused.
      if (assigneeId) {
        const user = await this.users.get(who.orgId, assigneeId, db)
        if (!user) throw notFound('user')
        if (!user.active || !permissionsOf(user.role, false).has('tickets:write')) {
          throw new AppError('conflict', 'the assignee must be an active user who may work tickets (tickets:write)')
        }
      }
      const after = await this.tickets.setAssignee(db, who.orgId, id, assigneeId)
      await this.tell(db, who, after, 'ticket.assigned', 'A ticket was assigned to you', after.description, [assigneeId])
      return { after, event: { kind: 'assigned', data: { from: before.assigneeId, to: assigneeId } } }
    })
  }

  /** A comment from staff, or from the driver on their own ticket (scope). */
  comment(who: Principal, id: string, body: string, meta: RequestMeta, scope: TicketScope = undefined): Promise<Ticket> {
    return this.change(who, id, scope, meta, 'ticket.comment', async (db) => {
      const after = await this.tickets.touch(db, who.orgId, id)
      await this.tell(db, who, after, 'ticket.commented', 'New comment on a ticket', body, [after.assigneeId, after.openedBy])
      return { after, event: { kind: 'comment', body } }
    })
  }

  /** A photo (or PDF) on a ticket, stored like the other documents. */
  async addPhoto(who: Principal, id: string, file: { filename: string; stream: Readable & { truncated?: boolean } }, meta: RequestMeta, scope: TicketScope = undefined) {
    await this.get(who, id, scope)
    return this.documents.attach(who, { type: 'ticket', id }, { kind: 'photo', expiresOn: null }, file, async (db, doc) => {
      const before = await this.tickets.getForUpdate(db, who.orgId, id)
      if (!this.visible(before, scope)) throw notFound('ticket')
      const after = await this.tickets.touch(db, who.orgId, id)
      await this.events.add(db, { orgId: who.orgId, ticketId: id, actor: this.by(who), kind: 'photo', data: { documentId: doc.id, contentType: doc.contentType } })
      await this.record(who, who.orgId, meta, db, 'ticket.photo', id, before, after)
      await this.tell(db, who, after, 'ticket.commented', 'New photo on a ticket', after.description, [after.assigneeId, after.openedBy])
      return after
    })
  }

  async photo(who: Principal, id: string, photoId: string, scope: TicketScope = undefined) {
    await this.get(who, id, scope)
    return this.documents.download(who, 'ticket', id, photoId)
  }

  /** Each ticket on its own (its own transaction and audit row), with a result each. */
  async bulk(ids: string[], fn: (id: string) => Promise<Ticket>) {
    const results = []
    for (const id of ids) {
      try {
        results.push({ id, ok: true, state: (await fn(id)).status })
      } catch (err) {
        if (!(err instanceof AppError)) throw err
        results.push({ id, ok: false, code: err.code, detail: err.message, ...(typeof err.extra?.state === 'string' ? { state: err.extra.state } : {}) })
      }
    }
    return { results }
  }
}
