/** The organization's analytics thresholds (the stream reads them from the same table). */
import type pg from 'pg'
import type { PutAnalyticsSettingsBody } from '../../schemas/geofences.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import { withTransaction } from '../db.js'
import type { AnalyticsSettingsRepository, AnalyticsSettingsRow } from './analytics-settings.repository.js'

export class AnalyticsSettingsService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly settings: AnalyticsSettingsRepository,
    private readonly audit: AuditRepository,
  ) {}

  get(who: Principal): Promise<AnalyticsSettingsRow> {
    return this.settings.get(who.orgId)
  }

  async put(who: Principal, body: PutAnalyticsSettingsBody, meta: RequestMeta): Promise<AnalyticsSettingsRow> {
    return withTransaction(this.pool, async (db) => {
      const before = await this.settings.get(who.orgId, db, true)
      const after = await this.settings.put(db, who.orgId, body.overspeedLimitKmh)
      await this.audit.record({
        orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action: 'analytics_settings.update',
        entityType: 'organization', entityId: who.orgId, before, after, ...meta,
      }, db)
      return after
    })
  }
}
