/** Per-organization notification settings: kind -> channels, and the webhook endpoint with its signing secret. */
import type pg from 'pg'
import { DEFAULT_ROUTES, type ChannelRoutes } from '../../schemas/notifications.v1.js'
import { isoSql, type Db } from '../db.js'

export interface SettingsRecord {
  channels: ChannelRoutes
  webhook: { url: string; secret: string } | null
  updatedAt: string | null
}

export interface WebhookEndpoint {
  url: string
  secret: string
}

export class SettingsRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** An organization that never saved settings gets the defaults (every kind in-app only). */
  async get(orgId: string, db: Db = this.pool, forUpdate = false): Promise<SettingsRecord> {
    const { rows } = await db.query<{ channels: ChannelRoutes; url: string | null; secret: string | null; updatedAt: string }>(
      `SELECT channels, webhook_url AS url, webhook_secret AS secret, ${isoSql('updated_at')} AS "updatedAt"
         FROM notification_settings WHERE org_id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
      [orgId],
    )
    const row = rows[0]
    if (!row) return { channels: DEFAULT_ROUTES, webhook: null, updatedAt: null }
    return {
      channels: row.channels,
      webhook: row.url && row.secret ? { url: row.url, secret: row.secret } : null,
      updatedAt: row.updatedAt,
    }
  }

  async put(db: Db, orgId: string, channels: ChannelRoutes, webhook: WebhookEndpoint | null): Promise<void> {
    await db.query(
      `INSERT INTO notification_settings (org_id, channels, webhook_url, webhook_secret) VALUES ($1, $2, $3, $4)
       ON CONFLICT (org_id) DO UPDATE
         SET channels = EXCLUDED.channels, webhook_url = EXCLUDED.webhook_url, webhook_secret = EXCLUDED.webhook_secret, updated_at = now()`,
      [orgId, JSON.stringify(channels), webhook?.url ?? null, webhook?.secret ?? null],
    )
  }

  async webhook(orgId: string): Promise<WebhookEndpoint | null> {
    return (await this.get(orgId)).webhook
  }
}
