/** All SQL of alert rules and their firings, always within one organization. */
import type pg from 'pg'
import type { AlertRule, AlertRuleListQuery, OutsideHours, Severity } from '../../schemas/geofences.v1.js'
import { findInOrg, isoSql, type Db } from '../db.js'
import { afterCursorSql, CURSOR_MICROS_SQL, decodeCursor, page } from '../pagination.js'

const COLUMNS = `id, name, kind, geofence_id AS "geofenceId", outside_hours AS "outsideHours", min_severity AS "minSeverity",
  CASE WHEN recipient_role IS NOT NULL THEN json_build_object('role', recipient_role) ELSE json_build_object('userId', recipient_user_id) END AS recipient,
  active, ${isoSql('created_at')} AS "createdAt", ${isoSql('updated_at')} AS "updatedAt"`

export interface AlertRuleFields {
  name: string
  kind: string
  geofenceId: string | null
  outsideHours: OutsideHours | null
  minSeverity: Severity
  recipient: { role: string } | { userId: string }
  active: boolean
}

const params = (f: AlertRuleFields) => [
  f.name, f.kind, f.geofenceId, f.outsideHours === null ? null : JSON.stringify(f.outsideHours), f.minSeverity,
  'role' in f.recipient ? f.recipient.role : null, 'userId' in f.recipient ? f.recipient.userId : null, f.active,
]

export class AlertRulesRepository {
  constructor(private readonly pool: pg.Pool) {}

  async create(db: Db, orgId: string, f: AlertRuleFields): Promise<AlertRule> {
    const { rows } = await db.query<AlertRule>(
      `INSERT INTO alert_rules (org_id, name, kind, geofence_id, outside_hours, min_severity, recipient_role, recipient_user_id, active)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
      [orgId, ...params(f)],
    )
    return rows[0]!
  }

  get(orgId: string, id: string, db: Db = this.pool, lock = false): Promise<AlertRule | undefined> {
    return findInOrg<AlertRule>(db, 'alert_rules', COLUMNS, orgId, id, lock)
  }

  async update(db: Db, orgId: string, id: string, f: AlertRuleFields): Promise<AlertRule> {
    const { rows } = await db.query<AlertRule>(
      `UPDATE alert_rules SET name = $3, kind = $4, geofence_id = $5, outside_hours = $6, min_severity = $7, recipient_role = $8,
              recipient_user_id = $9, active = $10, updated_at = now()
        WHERE org_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
      [orgId, id, ...params(f)],
    )
    return rows[0]!
  }

  /** Its firings go with it (ON DELETE CASCADE). */
  async delete(db: Db, orgId: string, id: string): Promise<void> {
    await db.query('DELETE FROM alert_rules WHERE org_id = $1 AND id = $2', [orgId, id])
  }

  async list(orgId: string, query: AlertRuleListQuery) {
    const limit = query.limit ?? 50
    const after = decodeCursor(query.cursor)
    const values: unknown[] = [orgId, limit + 1]
    const where = ['org_id = $1']
    if (query.kind) where.push(`kind = $${values.push(query.kind)}`)
    if (query.active !== undefined) where.push(`active = $${values.push(query.active)}`)
    if (after) where.push(afterCursorSql(`$${values.push(after.micros)}`, `$${values.push(after.id)}`))
    const { rows } = await this.pool.query<AlertRule & { cursorMicros: string }>(
      `SELECT ${COLUMNS}, ${CURSOR_MICROS_SQL} AS "cursorMicros" FROM alert_rules
        WHERE ${where.join(' AND ')} ORDER BY created_at, id LIMIT $2`,
      values,
    )
    return page(rows, limit)
  }

  /** What the evaluator matches an organization's alerts against. */
  async active(orgId: string): Promise<AlertRule[]> {
    const { rows } = await this.pool.query<AlertRule>(`SELECT ${COLUMNS} FROM alert_rules WHERE org_id = $1 AND active ORDER BY created_at, id`, [orgId])
    return rows
  }

  /** An active user of the organization and what they may do (a recipient must be allowed to see vehicle alerts). */
  async activeUserInOrg(db: Db, orgId: string, userId: string): Promise<{ role: string; is_platform_admin: boolean } | undefined> {
    return findInOrg<{ role: string; is_platform_admin: boolean; active: boolean }>(db, 'users', 'role, is_platform_admin, active', orgId, userId)
      .then((u) => (u?.active ? u : undefined))
  }

  /**
   * A live geofence of the organization, share-locked: a concurrent delete (which
   * locks it to look for rules that use it) waits for this rule, or this rule for it.
   */
  async geofenceInOrg(db: Db, orgId: string, geofenceId: string): Promise<boolean> {
    const { rows } = await db.query('SELECT 1 FROM geofences WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL FOR SHARE', [orgId, geofenceId])
    return rows.length > 0
  }

  /**
   * Records that the rule fired for the alert: false when it did already (a
   * redelivered alert), or when the rule is gone or inactive by now.
   */
  async recordFiring(db: Db, ruleId: string, alertId: string): Promise<boolean> {
    const { rowCount } = await db.query(
      `INSERT INTO alert_rule_firings (rule_id, alert_id) SELECT id, $2 FROM alert_rules WHERE id = $1 AND active
       ON CONFLICT DO NOTHING`,
      [ruleId, alertId],
    )
    return rowCount === 1
  }

  async vehicleName(db: Db, orgId: string, vehicleId: string): Promise<string | undefined> {
    const { rows } = await db.query<{ name: string }>('SELECT name FROM vehicles WHERE org_id = $1 AND id = $2', [orgId, vehicleId])
    return rows[0]?.name
  }
}
