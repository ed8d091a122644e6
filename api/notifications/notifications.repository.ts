/** Notification events, users' inboxes and users' contact preferences: always within one organization. */
import type pg from 'pg'
import type { Notification, NotifyInput } from '../../schemas/notifications.v1.js'
import { isoSql, type Db } from '../db.js'
import { CURSOR_MICROS_SQL, type CursorKey } from '../pagination.js'

/** What the API shows of an inbox row. */
const INBOX_COLUMNS = `id, kind, json_build_object('type', entity_type, 'id', entity_id) AS entity, title, body,
  read_at IS NOT NULL AS read, ${isoSql('read_at')} AS "readAt", ${isoSql('created_at')} AS "createdAt"`

/** Newest first: the rows strictly before the cursor's (created_at, id). */
const beforeCursorSql = (microsParam: string, idParam: string) =>
  `(created_at, id) < ('epoch'::timestamptz + ${microsParam}::bigint * interval '1 microsecond', ${idParam}::uuid)`

export interface Recipient {
  userId: string
  email: string
}

export interface InboxRow {
  id: string
  userId: string
}

export class NotificationsRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** The organization's active users the notification goes to, as of now. */
  async recipients(db: Db, orgId: string, recipient: NotifyInput['recipient']): Promise<Recipient[]> {
    const [where, value] = 'userId' in recipient ? ['id = $2', recipient.userId] : ['role = $2', recipient.role]
    const { rows } = await db.query<Recipient>(
      `SELECT id AS "userId", email FROM users WHERE org_id = $1 AND ${where} AND active ORDER BY created_at, id`,
      [orgId, value],
    )
    return rows
  }

  async insertEvent(db: Db, input: NotifyInput): Promise<{ id: string; createdAt: string }> {
    const { rows } = await db.query<{ id: string; createdAt: string }>(
      `INSERT INTO notification_events (org_id, kind, entity_type, entity_id, title, body, data, recipient_user_id, recipient_role)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, ${isoSql('created_at')} AS "createdAt"`,
      [
        input.orgId, input.kind, input.entity.type, input.entity.id, input.title, input.body, JSON.stringify(input.data ?? {}),
        'userId' in input.recipient ? input.recipient.userId : null, 'role' in input.recipient ? input.recipient.role : null,
      ],
    )
    return rows[0]!
  }

  /** One inbox row per user, copied from the event (an inbox reads without a join). */
  async insertInbox(db: Db, eventId: string, userIds: string[]): Promise<InboxRow[]> {
    if (userIds.length === 0) return []
    const { rows } = await db.query<InboxRow>(
      `INSERT INTO notifications (org_id, event_id, user_id, kind, entity_type, entity_id, title, body, created_at)
       SELECT e.org_id, e.id, u.id, e.kind, e.entity_type, e.entity_id, e.title, e.body, e.created_at
         FROM notification_events e CROSS JOIN unnest($2::uuid[]) AS u (id)
        WHERE e.id = $1
       RETURNING id, user_id AS "userId"`,
      [eventId, userIds],
    )
    return rows
  }

  async list(orgId: string, userId: string, limit: number, before: CursorKey | undefined, unreadOnly: boolean) {
    const params: unknown[] = [orgId, userId, limit + 1]
    const where = ['org_id = $1', 'user_id = $2']
    if (unreadOnly) where.push('read_at IS NULL')
    if (before) {
      const micros = params.push(before.micros)
      const id = params.push(before.id)
      where.push(beforeCursorSql(`$${micros}`, `$${id}`))
    }
    const { rows } = await this.pool.query<Notification & { cursorMicros: string }>(
      `SELECT ${INBOX_COLUMNS}, ${CURSOR_MICROS_SQL} AS "cursorMicros"
         FROM notifications WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $3`,
      params,
    )
    return rows
  }

  /** The caller's own row, locked for a change in this transaction; another user's or organization's is absent. */
  async getOwnForUpdate(db: Db, orgId: string, userId: string, id: string): Promise<Notification | undefined> {
    const { rows } = await db.query<Notification>(
      `SELECT ${INBOX_COLUMNS} FROM notifications WHERE org_id = $1 AND user_id = $2 AND id = $3 FOR UPDATE`,
      [orgId, userId, id],
    )
    return rows[0]
  }

  /** Marks read once: a second call keeps the first read time. */
  async markRead(db: Db, orgId: string, userId: string, id: string): Promise<Notification> {
    const { rows } = await db.query<Notification>(
      `UPDATE notifications SET read_at = COALESCE(read_at, now())
        WHERE org_id = $1 AND user_id = $2 AND id = $3 RETURNING ${INBOX_COLUMNS}`,
      [orgId, userId, id],
    )
    return rows[0]!
  }

  async markAllRead(db: Db, orgId: string, userId: string): Promise<number> {
    const { rowCount } = await db.query(
      'UPDATE notifications SET read_at = now() WHERE org_id = $1 AND user_id = $2 AND read_at IS NULL',
      [orgId, userId],
    )
    return rowCount ?? 0
  }

  // --- contact preferences

  async phone(orgId: string, userId: string, db: Db = this.pool): Promise<string | null> {
    const { rows } = await db.query<{ phone: string | null }>(
      'SELECT phone FROM notification_preferences WHERE org_id = $1 AND user_id = $2',
      [orgId, userId],
    )
    return rows[0]?.phone ?? null
  }

  async setPhone(db: Db, orgId: string, userId: string, phone: string | null): Promise<void> {
    await db.query(
      `INSERT INTO notification_preferences (user_id, org_id, phone) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET phone = EXCLUDED.phone, updated_at = now()`,
      [userId, orgId, phone],
    )
  }

  /** user id -> phone, for those of userIds (in orgId) who gave one. */
  async phones(db: Db, orgId: string, userIds: string[]): Promise<Map<string, string>> {
    if (userIds.length === 0) return new Map()
    const { rows } = await db.query<{ userId: string; phone: string }>(
      `SELECT user_id AS "userId", phone FROM notification_preferences
        WHERE org_id = $1 AND user_id = ANY($2::uuid[]) AND phone IS NOT NULL`,
      [orgId, userIds],
    )
    return new Map(rows.map((r) => [r.userId, r.phone]))
  }
}
