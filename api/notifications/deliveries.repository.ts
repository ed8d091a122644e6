/** Deliveries (one per event, channel and target) and their log of attempts. */
import type pg from 'pg'
import type { ChannelName, Notification } from '../../schemas/notifications.v1.js'
import { isoSql, type Db } from '../db.js'
import type { NotificationEvent } from './channel.js'

export type DeliveryStatus = 'pending' | 'retrying' | 'delivered' | 'dead'

export interface NewDelivery {
  orgId: string
  eventId: string
  notificationId: string | null
  channel: ChannelName
  target: string
}

/** Everything an attempt needs: the delivery, its event and (for a user's channels) the inbox row. */
export interface DeliveryRecord {
  id: string
  orgId: string
  channel: ChannelName
  target: string
  status: DeliveryStatus
  attempts: number
  maxAttempts: number
  notificationId: string | null
  userId: string | null
  /** The recipient's inbox row as the API shows it; null for the webhook. */
  notification: Notification | null
  event: NotificationEvent
}

export interface AttemptLog {
  deliveryId: string
  attempt: number
  ok: boolean
  responseCode: number | null
  error: string | null
  startedAt: Date
}

export class DeliveriesRepository {
  constructor(private readonly pool: pg.Pool) {}

  async insertMany(db: Db, rows: NewDelivery[], maxAttempts: number): Promise<string[]> {
    if (rows.length === 0) return []
    const { rows: inserted } = await db.query<{ id: string }>(
      `INSERT INTO notification_deliveries (org_id, event_id, notification_id, channel, target, max_attempts)
       SELECT r.org_id, r.event_id, r.notification_id, r.channel, r.target, $2
         FROM json_to_recordset($1::json) AS r (org_id uuid, event_id uuid, notification_id uuid, channel text, target text)
       RETURNING id`,
      [
        JSON.stringify(rows.map((r) => ({ org_id: r.orgId, event_id: r.eventId, notification_id: r.notificationId, channel: r.channel, target: r.target }))),
        maxAttempts,
      ],
    )
    return inserted.map((r) => r.id)
  }

  async load(id: string): Promise<DeliveryRecord | undefined> {
    const { rows } = await this.pool.query<DeliveryRecord>(
      `SELECT d.id, d.org_id AS "orgId", d.channel, d.target, d.status, d.attempts, d.max_attempts AS "maxAttempts",
              d.notification_id AS "notificationId", n.user_id AS "userId",
              CASE WHEN n.id IS NOT NULL THEN json_build_object('id', n.id, 'kind', n.kind,
                'entity', json_build_object('type', n.entity_type, 'id', n.entity_id), 'title', n.title, 'body', n.body,
                'read', n.read_at IS NOT NULL, 'readAt', ${isoSql('n.read_at')}, 'createdAt', ${isoSql('n.created_at')}) END AS notification,
              json_build_object('id', e.id, 'kind', e.kind, 'entity', json_build_object('type', e.entity_type, 'id', e.entity_id),
                'title', e.title, 'body', e.body, 'data', e.data, 'createdAt', ${isoSql('e.created_at')}) AS event
         FROM notification_deliveries d
         JOIN notification_events e ON e.id = d.event_id
         LEFT JOIN notifications n ON n.id = d.notification_id
        WHERE d.id = $1`,
      [id],
    )
    return rows[0]
  }

  /**
   * Logs attempt `log.attempt` and moves the delivery on, in one statement:
   * delivered, dead, or retrying at now() + retryInMs. Answers false (and
   * changes nothing) when that attempt is already logged or the delivery is
   * finished: the row lock the UPDATE takes makes a concurrent duplicate wait,
   * then find the guard false.
   */
  async record(db: Db, log: AttemptLog, next: { status: 'delivered' | 'dead' } | { status: 'retrying'; retryInMs: number }): Promise<boolean> {
    const { rowCount } = await db.query(
      `WITH moved AS (
         UPDATE notification_deliveries
            SET status = $3, attempts = $2, last_response_code = $4, last_error = $5, updated_at = now(),
                next_attempt_at = CASE WHEN $3 = 'retrying' THEN now() + $7::double precision * interval '1 millisecond' END,
                delivered_at = CASE WHEN $3 = 'delivered' THEN now() END
          WHERE id = $1 AND attempts < $2 AND status IN ('pending', 'retrying')
          RETURNING id)
       INSERT INTO notification_delivery_attempts (delivery_id, attempt, status, response_code, error, started_at)
       SELECT id, $2, $8, $4, $5, $6 FROM moved`,
      [
        log.deliveryId, log.attempt, next.status, log.responseCode, log.error, log.startedAt,
        next.status === 'retrying' ? next.retryInMs : null, log.ok ? 'delivered' : 'failed',
      ],
    )
    return rowCount === 1
  }
}
