/**
 * The REST side: a user's own inbox and contact preferences, and an
 * organization's notification settings. Every query is scoped to the caller's
 * organization (and, for the inbox, to the caller): another user's notification
 * answers 404 like a missing one. Every change writes one audit row in its own
 * transaction.
 */
import type pg from 'pg'
import type {
  ChannelName, NotificationListQuery, NotificationPreferences, NotificationSettings, PutNotificationSettingsBody,
} from '../../schemas/notifications.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import { withTransaction } from '../db.js'
import { AppError, notFound } from '../errors.js'
import { decodeCursor, page } from '../pagination.js'
import type { Permission } from '../permissions.js'
import { privateHostOf } from './http.client.js'
import type { NotificationsRepository } from './notifications.repository.js'
import type { SettingsRecord, SettingsRepository } from './settings.repository.js'

/**
 * Reading and marking one's own notifications: every role holds it (api/permissions.ts).
 * The cast goes once the permission is in the PERMISSIONS list.
 */
export const NOTIFICATIONS_READ: Permission = 'notifications:read'
/** Changing an organization's notification settings. */
export const NOTIFICATIONS_MANAGE: Permission = 'users:manage'

export interface SettingsPolicy {
  availableChannels: ChannelName[]
  /** Webhook URLs may point at loopback and private networks. */
  allowPrivateWebhooks: boolean
}

const secretHint = (secret: string) => `…${secret.slice(-4)}`

function settingsView(record: SettingsRecord, policy: SettingsPolicy): NotificationSettings {
  return {
    channels: record.channels,
    webhook: record.webhook ? { url: record.webhook.url, secretHint: secretHint(record.webhook.secret) } : null,
    availableChannels: policy.availableChannels,
    updatedAt: record.updatedAt,
  }
}

export class NotificationsService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly inbox: NotificationsRepository,
    private readonly settings: SettingsRepository,
    private readonly audit: AuditRepository,
    private readonly policy: SettingsPolicy,
  ) {}

  private record(who: Principal, meta: RequestMeta, db: pg.PoolClient, action: string, entityType: string, entityId: string | null, before: unknown, after: unknown) {
    return this.audit.record({ orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action, entityType, entityId, before, after, ...meta }, db)
  }

  // --- the caller's inbox

  async list(who: Principal, query: NotificationListQuery) {
    const limit = query.limit ?? 50
    return page(await this.inbox.list(who.orgId, who.userId, limit, decodeCursor(query.cursor), query.unread === true), limit)
  }

  markRead(who: Principal, id: string, meta: RequestMeta) {
    return withTransaction(this.pool, async (db) => {
      const before = await this.inbox.getOwnForUpdate(db, who.orgId, who.userId, id)
      if (!before) throw notFound('notification')
      const after = await this.inbox.markRead(db, who.orgId, who.userId, id)
      await this.record(who, meta, db, 'notification.read', 'notification', id, { readAt: before.readAt }, { readAt: after.readAt })
      return after
    })
  }

  markAllRead(who: Principal, meta: RequestMeta) {
    return withTransaction(this.pool, async (db) => {
      const updated = await this.inbox.markAllRead(db, who.orgId, who.userId)
      await this.record(who, meta, db, 'notification.read_all', 'notification', null, undefined, { updated })
      return { updated }
    })
  }

  // --- the caller's contact details

  async preferences(who: Principal): Promise<NotificationPreferences> {
    return { phone: await this.inbox.phone(who.orgId, who.userId) }
  }

  putPreferences(who: Principal, body: NotificationPreferences, meta: RequestMeta): Promise<NotificationPreferences> {
    return withTransaction(this.pool, async (db) => {
      const before = { phone: await this.inbox.phone(who.orgId, who.userId, db) }
      await this.inbox.setPhone(db, who.orgId, who.userId, body.phone)
      const after = { phone: body.phone }
      await this.record(who, meta, db, 'notification_preferences.update', 'user', who.userId, before, after)
      return after
    })
  }

  // --- the organization's settings

  async getSettings(who: Principal): Promise<NotificationSettings> {
    return settingsView(await this.settings.get(who.orgId), this.policy)
  }

  putSettings(who: Principal, body: PutNotificationSettingsBody, meta: RequestMeta): Promise<NotificationSettings> {
    const unavailable = [...new Set(Object.values(body.channels).flat())].filter((c) => !this.policy.availableChannels.includes(c))
    if (unavailable.length > 0) {
      // Well-formed, but this server is not set up for it: a conflict with its configuration, not a malformed request.
      throw new AppError('conflict', `not available on this server: ${unavailable.join(', ')}`, {
        errors: [{ path: 'body/channels', message: `channels available: ${this.policy.availableChannels.join(', ')}` }],
      })
    }
    if (body.webhook) {
      let url: URL
      try {
        // The schema's uri format is RFC 3986; what we send with is the WHATWG parser.
        url = new URL(body.webhook.url)
      } catch {
        throw new AppError('validation_failed', 'webhook.url is not a URL this server can call', { errors: [{ path: 'body/webhook/url', message: 'invalid URL' }] })
      }
      const host = this.policy.allowPrivateWebhooks ? undefined : privateHostOf(url)
      if (host) {
        throw new AppError('conflict', `webhook URLs may not point at ${host} (WEBHOOK_ALLOW_PRIVATE is off)`, { errors: [{ path: 'body/webhook/url', message: 'a private address' }] })
      }
    }
    return withTransaction(this.pool, async (db) => {
      const before = await this.settings.get(who.orgId, db, true)
      let webhook: { url: string; secret: string } | null = null
      if (body.webhook) {
        // Leaving the secret out keeps the current one, so an admin can move the URL without re-keying.
        const secret = body.webhook.secret ?? before.webhook?.secret
        if (!secret) {
          throw new AppError('conflict', 'webhook.secret is required when no webhook is configured yet', {
            errors: [{ path: 'body/webhook/secret', message: 'required' }],
          })
        }
        webhook = { url: body.webhook.url, secret }
      }
      await this.settings.put(db, who.orgId, body.channels, webhook)
      const after = await this.settings.get(who.orgId, db)
      const [beforeView, afterView] = [settingsView(before, this.policy), settingsView(after, this.policy)]
      await this.record(who, meta, db, 'notification_settings.update', 'notification_settings', who.orgId, beforeView, afterView)
      return afterView
    })
  }
}
