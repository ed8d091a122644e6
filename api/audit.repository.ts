/** The append-only audit log: one row per mutation, login and failed login. */
import type pg from 'pg'

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
