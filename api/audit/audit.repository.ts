/** The append-only audit log: one row per mutation, login and failed login. */
import type pg from 'pg'
import type { AuditEntry as AuditRow, AuditQuery } from '../../schemas/api.v1.js'
import { isoSql } from '../db.js'

export interface AuditEntry {
  orgId: string | null
  actorId: string | null
  actorEmail: string | null
  action: string
  entityType: string
  entityId: string | null
  before?: unknown
  after?: unknown
  requestId: string | null
  ip: string | null
}

const SECRET_KEYS = /^(password|passwordHash|password_hash|secret|secretHash|secret_hash|token|refreshToken|accessToken)$/i

/** Secrets never reach the audit log, at any depth. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact)
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEYS.test(k) ? '[redacted]' : redact(v)]))
  }
  return value
}

export class AuditRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** `db` lets a service write the audit row in the same transaction as the change. */
  async record(entry: AuditEntry, db: Pick<pg.Pool, 'query'> = this.pool): Promise<void> {
    await db.query(
      `INSERT INTO audit_log (org_id, actor_id, actor_email, action, entity_type, entity_id, before, after, request_id, ip)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        entry.orgId, entry.actorId, entry.actorEmail, entry.action, entry.entityType, entry.entityId,
        entry.before === undefined ? null : JSON.stringify(redact(entry.before)),
        entry.after === undefined ? null : JSON.stringify(redact(entry.after)),
        entry.requestId, entry.ip,
      ],
    )
  }
}

export type AuditFilter = Omit<AuditQuery, 'limit' | 'cursor'>

const ROW_COLUMNS = `id::text AS id, ${isoSql('created_at')} AS at, actor_id AS "actorId", actor_email AS "actorEmail", action,
  entity_type AS "entityType", entity_id AS "entityId", before, after, request_id AS "requestId", ip`

export class AuditReader {
  constructor(private readonly pool: pg.Pool) {}

  /** A page of an entity's timeline, newest first, with the cursor for the next. */
  async timeline(orgId: string, subject: TimelineSubject, query: { limit?: number; cursor?: string }) {
    const limit = query.limit ?? 100
    const params: unknown[] = [orgId, subject.entityType, subject.id, subject.refField, limit + 1]
    const older = query.cursor ? `AND audit_log.id < $${params.push(query.cursor)}::bigint` : ''
    const { rows } = await this.pool.query<AuditRow>(
      `SELECT ${ROW_COLUMNS} FROM audit_log
        WHERE org_id = $1 ${older}
          AND ((entity_type = $2 AND entity_id = $3) OR after ->> $4 = $3 OR before ->> $4 = $3)
        ORDER BY audit_log.id DESC LIMIT $5`,
      params,
    )
    const items = rows.slice(0, limit)
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null }
  }

  /** One organization's rows, newest first, older than `beforeId` when given. */
  async list(orgId: string, filter: AuditFilter, limit: number, beforeId: string | undefined): Promise<AuditRow[]> {
    const params: unknown[] = [orgId, limit]
    const where = ['org_id = $1']
    const add = (sql: string, value: unknown) => where.push(sql.replace('?', `$${params.push(value)}`))
    if (filter.actorId) add('actor_id = ?', filter.actorId)
    if (filter.action) add('action = ?', filter.action)
    if (filter.entityType) add('entity_type = ?', filter.entityType)
    if (filter.entityId) add('entity_id = ?', filter.entityId)
    if (filter.from) add('created_at >= ?', filter.from)
    if (filter.to) add('created_at < ?', filter.to)
    if (beforeId) add('id < ?::bigint', beforeId)
    // audit_log.id, not the text alias "id": order and cursor compare numbers.
    const { rows } = await this.pool.query<AuditRow>(
      `SELECT ${ROW_COLUMNS} FROM audit_log WHERE ${where.join(' AND ')} ORDER BY audit_log.id DESC LIMIT $2`,
      params,
    )
    return rows
  }
}

/** An entity and what points at it through a field of its audit rows (a device's `vehicleId`). */
export interface TimelineSubject {
  entityType: string
  id: string
  /** Rows of other entities whose before or after has this field equal to id belong to the timeline too. */
  refField: string
}
