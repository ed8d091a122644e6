import type pg from 'pg'
import type { Ticket, TicketCategory, TicketEvent, TicketPriority, TicketStatus } from '../../schemas/tickets.v1.js'
import { findInOrg, isoSql, updateInOrg, type Db } from '../db.js'
import { containsPattern, integerSort, keysetPage, timeSort } from '../pagination.js'
import { TimelineRepository, type TimelineActor } from '../timeline.js'

const PHOTOS = `COALESCE((SELECT json_agg(d.id ORDER BY d.created_at, d.id) FROM documents d
  WHERE d.org_id = tickets.org_id AND d.owner_type = 'ticket' AND d.owner_id = tickets.id), '[]'::json)`

const COLUMNS = `id, status, category, priority, description, source, opened_by AS "openedBy", driver_id AS "driverId",
  assignee_id AS "assigneeId", vehicle_id AS "vehicleId", order_id AS "orderId", event_ref AS "eventRef", ${PHOTOS} AS "photoIds",
  ${isoSql('resolved_at')} AS "resolvedAt", ${isoSql('closed_at')} AS "closedAt",
  ${isoSql('created_at')} AS "createdAt", ${isoSql('updated_at')} AS "updatedAt"`

const SORTS = {
  createdAt: timeSort('c', 'created_at'),
  updatedAt: timeSort('u', 'updated_at'),
  priority: integerSort('p', `CASE priority WHEN 'low' THEN 0 WHEN 'normal' THEN 1 WHEN 'high' THEN 2 ELSE 3 END`),
}

export interface NewTicket {
  category: TicketCategory
  priority: TicketPriority
  description: string
  source: 'driver' | 'staff' | 'system'
  openedBy: string | null
  driverId: string | null
  vehicleId: string | null
  orderId: string | null
  eventRef: string | null
}

export interface TicketFilter {
  status?: TicketStatus
  category?: TicketCategory
  priority?: TicketPriority
  assigneeId?: string
  driverId?: string
  vehicleId?: string
  orderId?: string
  q?: string
}

export class TicketsRepository {
  constructor(private readonly pool: pg.Pool) {}

  async create(db: Db, orgId: string, t: NewTicket): Promise<Ticket> {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO tickets (org_id, category, priority, description, source, opened_by, driver_id, vehicle_id, order_id, event_ref)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
      [orgId, t.category, t.priority, t.description, t.source, t.openedBy, t.driverId, t.vehicleId, t.orderId, t.eventRef],
    )
    return (await this.get(orgId, rows[0]!.id, db))!
  }

  /** The system's ticket for an event: created once; undefined when one exists already (a replayed alert). */
  async createForEvent(db: Db, orgId: string, t: NewTicket & { eventRef: string }): Promise<Ticket | undefined> {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO tickets (org_id, category, priority, description, source, opened_by, driver_id, vehicle_id, order_id, event_ref)
       VALUES ($1, $2, $3, $4, 'system', NULL, $5, $6, NULL, $7)
       ON CONFLICT (org_id, event_ref) WHERE source = 'system' DO NOTHING RETURNING id`,
      [orgId, t.category, t.priority, t.description, t.driverId, t.vehicleId, t.eventRef],
    )
    return rows[0] ? this.get(orgId, rows[0].id, db) : undefined
  }

  async findByEvent(orgId: string, eventRef: string): Promise<Ticket | undefined> {
    const { rows } = await this.pool.query<Ticket>(
      `SELECT ${COLUMNS} FROM tickets WHERE org_id = $1 AND event_ref = $2 AND source = 'system'`, [orgId, eventRef])
    return rows[0]
  }

  get(orgId: string, id: string, db: Db = this.pool): Promise<Ticket | undefined> {
    return findInOrg<Ticket>(db, 'tickets', COLUMNS, orgId, id)
  }

  getForUpdate(db: Db, orgId: string, id: string): Promise<Ticket | undefined> {
    return findInOrg<Ticket>(db, 'tickets', COLUMNS, orgId, id, true)
  }

  setStatus(db: Db, orgId: string, id: string, status: TicketStatus): Promise<Ticket> {
    // Reopening clears the resolution; resolving and closing stamp their time.
    return updateInOrg<Ticket>(db, 'tickets', COLUMNS, orgId, id,
      `status = $3, updated_at = now(),
       resolved_at = CASE WHEN $3 = 'resolved' THEN now() WHEN $3 = 'open' THEN NULL ELSE resolved_at END,
       closed_at = CASE WHEN $3 = 'closed' THEN now() WHEN $3 = 'open' THEN NULL ELSE closed_at END`,
      [status])
  }

  setAssignee(db: Db, orgId: string, id: string, assigneeId: string | null): Promise<Ticket> {
    return updateInOrg<Ticket>(db, 'tickets', COLUMNS, orgId, id, 'assignee_id = $3, updated_at = now()', [assigneeId])
  }

  touch(db: Db, orgId: string, id: string): Promise<Ticket> {
    return updateInOrg<Ticket>(db, 'tickets', COLUMNS, orgId, id, 'updated_at = now()')
  }

  list(orgId: string, filter: TicketFilter, query: { limit?: number; sort?: string; cursor?: string }) {
    const params: unknown[] = [orgId]
    const where = ['org_id = $1']
    const columns = { status: 'status', category: 'category', priority: 'priority', assigneeId: 'assignee_id', driverId: 'driver_id', vehicleId: 'vehicle_id', orderId: 'order_id' } as const
    for (const [field, column] of Object.entries(columns)) {
      const value = filter[field as keyof typeof columns]
      if (value) where.push(`${column} = $${params.push(value)}`)
    }
    if (filter.q) {
      const p = params.push(containsPattern(filter.q))
      where.push(`(description ILIKE $${p} OR event_ref ILIKE $${p})`)
    }
    return keysetPage<Ticket>(this.pool, { from: 'tickets', columns: COLUMNS, sorts: SORTS }, { where, params }, query)
  }
}

export interface NewTicketEvent {
  orgId: string
  ticketId: string
  actor: TimelineActor
  kind: TicketEvent['kind']
  fromStatus?: TicketStatus | null
  toStatus?: TicketStatus | null
  body?: string | null
  data?: Record<string, unknown>
}

/** A ticket's timeline, append-only (a trigger refuses UPDATE and DELETE). */
export class TicketEventsRepository extends TimelineRepository<TicketEvent> {
  constructor(pool: pg.Pool) {
    super(pool, 'ticket_events', 'ticket_id', 'body')
  }

  add(db: Db, { orgId, ticketId, body, ...entry }: NewTicketEvent): Promise<void> {
    return this.append(db, orgId, ticketId, { ...entry, text: body })
  }
}
