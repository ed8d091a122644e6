/** Alert rules of the caller's organization: validated references, audited changes, the evaluator's cache told at once. */
import type pg from 'pg'
import {
  TIME_ZONES, type AlertRule, type AlertRuleListQuery, type CreateAlertRuleBody, type OutsideHours, type Severity, type UpdateAlertRuleBody,
} from '../../schemas/geofences.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import { withTransaction, type Db } from '../db.js'
import { AppError, notFound } from '../errors.js'
import type { AlertRuleFields, AlertRulesRepository } from './alert-rules.repository.js'
import { permissionsOf } from '../permissions.js'

function checkTimeZone(hours: OutsideHours | null | undefined): void {
  if (hours && !TIME_ZONES.has(hours.timeZone)) {
    throw new AppError('validation_failed', `unknown time zone ${hours.timeZone}`, {
      errors: [{ path: 'body/outsideHours/timeZone', message: 'must be an IANA time zone this server knows, e.g. Europe/Berlin or UTC' }],
    })
  }
}

const fieldsOf = (r: AlertRule): AlertRuleFields => ({
  name: r.name,
  kind: r.kind,
  geofenceId: r.geofenceId,
  outsideHours: r.outsideHours as OutsideHours | null,
  minSeverity: r.minSeverity as Severity,
  recipient: r.recipient,
  active: r.active,
})

const refusedRecipient = (who: string) =>
  new AppError('validation_failed', `${who} may not see vehicle alerts (live:read)`, { errors: [{ path: 'body/recipient', message: 'recipient lacks live:read' }] })

export class AlertRulesService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly rules: AlertRulesRepository,
    private readonly audit: AuditRepository,
    /** Drops this process's cached rules of the organization, so a change applies to the next alert here. */
    private readonly onChange: (orgId: string) => void,
  ) {}

  private record(who: Principal, meta: RequestMeta, db: pg.PoolClient, action: string, id: string, before: unknown, after: unknown) {
    return this.audit.record(
      { orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action, entityType: 'alert_rule', entityId: id, before, after, ...meta },
      db,
    )
  }

  /**
   * A recipient user and a geofence must be the organization's own (else they answer like missing ones),
   * and the recipient must be allowed to see vehicle alerts (live:read): a rule cannot send positions
   * and driver ids to a role or a user that the live feed itself would refuse them to.
   */
  private async checkReferences(db: Db, orgId: string, f: { recipient?: AlertRuleFields['recipient']; geofenceId?: string | null }): Promise<void> {
    if (f.recipient && 'userId' in f.recipient) {
      const user = await this.rules.activeUserInOrg(db, orgId, f.recipient.userId)
      if (!user) throw notFound('user')
      if (!permissionsOf(user.role, user.is_platform_admin).has('live:read')) throw refusedRecipient(`the user (role ${user.role})`)
    }
    if (f.recipient && 'role' in f.recipient && !permissionsOf(f.recipient.role, false).has('live:read')) throw refusedRecipient(`the role ${f.recipient.role}`)
    if (f.geofenceId && !(await this.rules.geofenceInOrg(db, orgId, f.geofenceId))) throw notFound('geofence')
  }

  async create(who: Principal, body: CreateAlertRuleBody, meta: RequestMeta): Promise<AlertRule> {
    checkTimeZone(body.outsideHours)
    const fields: AlertRuleFields = {
      name: body.name, kind: body.kind, geofenceId: body.geofenceId ?? null, outsideHours: body.outsideHours ?? null,
      minSeverity: body.minSeverity ?? 'info', recipient: body.recipient, active: body.active ?? true,
    }
    const rule = await withTransaction(this.pool, async (db) => {
      await this.checkReferences(db, who.orgId, fields)
      const created = await this.rules.create(db, who.orgId, fields)
      await this.record(who, meta, db, 'alert_rule.create', created.id, undefined, created)
      return created
    })
    this.onChange(who.orgId)
    return rule
  }

  async get(who: Principal, id: string): Promise<AlertRule> {
    const rule = await this.rules.get(who.orgId, id)
    if (!rule) throw notFound('alert rule')
    return rule
  }

  list(who: Principal, query: AlertRuleListQuery) {
    return this.rules.list(who.orgId, query)
  }

  async update(who: Principal, id: string, body: UpdateAlertRuleBody, meta: RequestMeta): Promise<AlertRule> {
    checkTimeZone(body.outsideHours)
    const rule = await withTransaction(this.pool, async (db) => {
      const before = await this.rules.get(who.orgId, id, db, true)
      if (!before) throw notFound('alert rule')
      const current = fieldsOf(before)
      const fields: AlertRuleFields = {
        name: body.name ?? current.name,
        kind: body.kind ?? current.kind,
        geofenceId: body.geofenceId === undefined ? current.geofenceId : body.geofenceId,
        outsideHours: body.outsideHours === undefined ? current.outsideHours : body.outsideHours,
        minSeverity: body.minSeverity ?? current.minSeverity,
        recipient: body.recipient ?? current.recipient,
        active: body.active ?? current.active,
      }
      // Only the references this change names are checked again.
      await this.checkReferences(db, who.orgId, body)
      const after = await this.rules.update(db, who.orgId, id, fields)
      await this.record(who, meta, db, 'alert_rule.update', id, before, after)
      return after
    })
    this.onChange(who.orgId)
    return rule
  }

  async delete(who: Principal, id: string, meta: RequestMeta): Promise<void> {
    await withTransaction(this.pool, async (db) => {
      const before = await this.rules.get(who.orgId, id, db, true)
      if (!before) throw notFound('alert rule')
      await this.rules.delete(db, who.orgId, id)
      await this.record(who, meta, db, 'alert_rule.delete', id, before, { id, deleted: true })
    })
    this.onChange(who.orgId)
  }
}
