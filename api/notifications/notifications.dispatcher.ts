/**
 * Sending and delivering. `notify` writes, in one transaction, the event, one
 * inbox row per recipient, one delivery per (channel, target) the
 * organization's settings ask for, and one queued job per delivery: a
 * notification is either wholly recorded and queued or not at all, and a
 * restart loses nothing that was.
 *
 * A job is one attempt. The worker sends without holding a database connection
 * (embedded PGlite has one), then logs the attempt and moves the delivery on in
 * one statement: delivered, dead after `maxAttempts`, or retrying, in which case
 * the next attempt's job (after an exponential backoff) commits with it. A job that arrives again
 * for an attempt already logged (a worker died after logging it) does nothing,
 * so an attempt is logged once; the send itself is at least once.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type pg from 'pg'
import type { Logger } from 'pino'
import type { JobQueue } from '../../core/jobs.js'
import {
  CHANNELS, DELIVERY_JOB, DeliveryJobV1, NotifyInput, type ChannelName, type ChannelRoutes,
} from '../../schemas/notifications.v1.js'
import '../../schemas/formats.js'
import { withTransaction, type Db } from '../db.js'
import { DeliveryError, type DeliveryMessage, type NotificationChannel } from './channel.js'
import type { DeliveriesRepository, DeliveryRecord, NewDelivery } from './deliveries.repository.js'
import type { NotificationsRepository } from './notifications.repository.js'
import type { SettingsRepository } from './settings.repository.js'

export interface DeliveryPolicy {
  /** Attempts before a delivery is dead (the first try counts). */
  maxAttempts: number
  /** Wait after the first failed attempt; doubles after each further one. */
  retryBaseMs: number
  /** The longest wait between two attempts. */
  retryMaxMs: number
  /** Deliveries sent at once by this process. */
  concurrency: number
}

/** Wait before attempt `failed + 1`: base * 2^(failed-1), capped, with ±20 % jitter so retries of one outage spread out. */
export function retryDelayMs(policy: Pick<DeliveryPolicy, 'retryBaseMs' | 'retryMaxMs'>, failedAttempt: number): number {
  const exponential = Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** Math.min(30, failedAttempt - 1))
  return Math.round(exponential * (0.8 + Math.random() * 0.4))
}

/** The channels a kind goes to: its own entry, else `*`, else in-app only. */
export function channelsFor(routes: ChannelRoutes, kind: string): ChannelName[] {
  return routes[kind] ?? routes['*'] ?? ['in_app']
}

export interface NotifyResult {
  eventId: string
  /** Inbox rows written: the recipients. */
  notificationIds: string[]
  deliveryIds: string[]
}

const checkNotify = TypeCompiler.Compile(NotifyInput)
const checkJob = TypeCompiler.Compile(DeliveryJobV1)
const ERROR_MAX = 1000

export class NotificationDispatcher {
  private readonly log: Logger
  private readonly channels: Map<ChannelName, NotificationChannel>

  constructor(
    private readonly pool: pg.Pool,
    private readonly jobs: JobQueue,
    private readonly inbox: NotificationsRepository,
    private readonly deliveries: DeliveriesRepository,
    private readonly settings: SettingsRepository,
    channels: NotificationChannel[],
    private readonly policy: DeliveryPolicy,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'notifications' })
    this.channels = new Map(channels.map((c) => [c.name, c]))
  }

  /** Channels this server can deliver on (email and SMS need their configuration). */
  get availableChannels(): ChannelName[] {
    return CHANNELS.filter((c) => this.channels.has(c))
  }

  /** Creates the queue; with `work`, also delivers in this process. */
  async start({ work }: { work: boolean }): Promise<void> {
    await this.jobs.createQueue(DELIVERY_JOB, {
      // Channel failures are retried by this module (its own backoff and dead state);
      // these retries are for a handler that threw: the database was unreachable.
      retryLimit: 10,
      retryDelayS: 5,
      // Beyond the slowest send: a job held longer belonged to a worker that died.
      expireInS: 300,
    })
    if (work) this.jobs.work<unknown>(DELIVERY_JOB, { concurrency: this.policy.concurrency }, (job) => this.attempt(job.data))
  }

  /**
   * Records and queues a notification. With `db` (a client inside the caller's
   * transaction) it commits or rolls back with the caller's change; without,
   * it runs in a transaction of its own and wakes this process's workers.
   */
  async notify(input: NotifyInput, db?: Db): Promise<NotifyResult> {
    if (!checkNotify.Check(input)) {
      const first = checkNotify.Errors(input).First()
      throw new Error(`invalid notification: ${first ? `${first.path} ${first.message}` : 'schema mismatch'}`)
    }
    if (db) return this.record(db, input)
    const result = await withTransaction(this.pool, (tx) => this.record(tx, input))
    if (result.deliveryIds.length > 0) this.jobs.wake(DELIVERY_JOB)
    return result
  }

  private async record(db: Db, input: NotifyInput): Promise<NotifyResult> {
    const settings = await this.settings.get(input.orgId, db)
    const channels = channelsFor(settings.channels, input.kind).filter((c) => this.channels.has(c))
    const recipients = await this.inbox.recipients(db, input.orgId, input.recipient)
    const event = await this.inbox.insertEvent(db, input)
    const rows = await this.inbox.insertInbox(db, event.id, recipients.map((r) => r.userId))
    const emailOf = new Map(recipients.map((r) => [r.userId, r.email]))
    const phones = channels.includes('sms') ? await this.inbox.phones(db, input.orgId, rows.map((r) => r.userId)) : new Map<string, string>()

    const planned: NewDelivery[] = []
    const base = { orgId: input.orgId, eventId: event.id }
    for (const channel of channels) {
      if (channel === 'webhook') {
        if (settings.webhook) planned.push({ ...base, notificationId: null, channel, target: settings.webhook.url })
        continue
      }
      for (const row of rows) {
        const target = channel === 'in_app' ? row.userId : channel === 'email' ? emailOf.get(row.userId) : phones.get(row.userId)
        // No phone number given: nothing to send to.
        if (target) planned.push({ ...base, notificationId: row.id, channel, target })
      }
    }
    const deliveryIds = await this.deliveries.insertMany(db, planned, this.policy.maxAttempts)
    await this.jobs.sendMany(DELIVERY_JOB, deliveryIds.map((deliveryId) => ({ deliveryId, attempt: 1 })), { db })
    this.log.info(
      { orgId: input.orgId, eventId: event.id, kind: input.kind, recipients: rows.length, deliveries: deliveryIds.length },
      'notification recorded',
    )
    return { eventId: event.id, notificationIds: rows.map((r) => r.id), deliveryIds }
  }

  /** One attempt of one delivery (the job handler). */
  async attempt(data: unknown): Promise<void> {
    if (!checkJob.Check(data)) {
      // Nothing can ever make it valid: completing the job drops it.
      this.log.error({ data }, `malformed ${DELIVERY_JOB} job; dropped`)
      return
    }
    const { deliveryId, attempt } = data
    const delivery = await this.deliveries.load(deliveryId)
    if (!delivery || delivery.status === 'delivered' || delivery.status === 'dead' || delivery.attempts >= attempt) return
    const log = this.log.child({ orgId: delivery.orgId, deliveryId, channel: delivery.channel, attempt })

    const startedAt = new Date()
    let outcome: { ok: true; responseCode: number | null } | { ok: false; responseCode: number | null; error: string; permanent: boolean }
    try {
      const channel = this.channels.get(delivery.channel)
      if (!channel) throw new DeliveryError(`the ${delivery.channel} channel is not configured on this server`, undefined, true)
      const result = await channel.send(this.message(delivery, attempt))
      outcome = { ok: true, responseCode: result?.responseCode ?? null }
    } catch (err) {
      const e = err instanceof DeliveryError ? err : new DeliveryError((err as Error)?.message ?? String(err))
      outcome = { ok: false, responseCode: e.responseCode ?? null, error: e.message.slice(0, ERROR_MAX), permanent: e.permanent }
    }

    const entry = { deliveryId, attempt, startedAt, ok: outcome.ok, responseCode: outcome.responseCode, error: outcome.ok ? null : outcome.error }
    // A false `record` means another worker logged this attempt meanwhile (a redelivered job): nothing to do.
    if (outcome.ok) {
      if (await this.deliveries.record(this.pool, entry, { status: 'delivered' })) log.info({ responseCode: outcome.responseCode }, 'notification delivered')
    } else if (outcome.permanent || attempt >= delivery.maxAttempts) {
      if (await this.deliveries.record(this.pool, entry, { status: 'dead' })) {
        log.warn({ responseCode: outcome.responseCode, error: outcome.error }, 'notification delivery dead')
      }
    } else {
      const retryInMs = retryDelayMs(this.policy, attempt)
      // The log row and the next attempt's job commit together, or neither does.
      const queued = await withTransaction(this.pool, async (tx) => {
        if (!(await this.deliveries.record(tx, entry, { status: 'retrying', retryInMs }))) return false
        await this.jobs.send(DELIVERY_JOB, { deliveryId, attempt: attempt + 1 }, { db: tx, delayMs: retryInMs })
        return true
      })
      if (queued) log.warn({ responseCode: outcome.responseCode, error: outcome.error, retryInMs }, 'notification delivery failed; retrying')
    }
  }

  private message(delivery: DeliveryRecord, attempt: number): DeliveryMessage {
    return {
      deliveryId: delivery.id,
      attempt,
      orgId: delivery.orgId,
      channel: delivery.channel,
      target: delivery.target,
      userId: delivery.userId,
      notification: delivery.notification,
      event: delivery.event,
    }
  }
}
