/** Per-organization analytics thresholds; no row means the defaults. */
import type pg from 'pg'
import { DEFAULT_OVERSPEED_LIMIT_KMH } from '../../schemas/geofences.v1.js'
import { isoSql, type Db } from '../db.js'

export interface AnalyticsSettingsRow {
  overspeedLimitKmh: number
  updatedAt: string | null
}

export class AnalyticsSettingsRepository {
  constructor(private readonly pool: pg.Pool) {}

  async get(orgId: string, db: Db = this.pool, lock = false): Promise<AnalyticsSettingsRow> {
    const { rows } = await db.query<AnalyticsSettingsRow>(
      `SELECT overspeed_limit_kmh AS "overspeedLimitKmh", ${isoSql('updated_at')} AS "updatedAt"
         FROM analytics_settings WHERE org_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [orgId],
    )
    return rows[0] ?? { overspeedLimitKmh: DEFAULT_OVERSPEED_LIMIT_KMH, updatedAt: null }
  }

  async put(db: Db, orgId: string, overspeedLimitKmh: number): Promise<AnalyticsSettingsRow> {
    const { rows } = await db.query<AnalyticsSettingsRow>(
      `INSERT INTO analytics_settings (org_id, overspeed_limit_kmh) VALUES ($1, $2)
       ON CONFLICT (org_id) DO UPDATE SET overspeed_limit_kmh = EXCLUDED.overspeed_limit_kmh, updated_at = now()
       RETURNING overspeed_limit_kmh AS "overspeedLimitKmh", ${isoSql('updated_at')} AS "updatedAt"`,
      [orgId, overspeedLimitKmh],
    )
    return rows[0]!
  }
}
