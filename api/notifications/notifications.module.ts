/**
 * Builds the notifications feature from explicit dependencies: repositories,
 * the channels this configuration enables (in-app and webhook always, email
 * with an SMTP URL, SMS with a provider URL), the dispatcher other modules call
 * `notify` on, and the REST service. Reads no environment; the job queue is
 * owned (started and stopped) by the caller.
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import type { JobQueue } from '../../core/jobs.js'
import type { ChannelName } from '../../schemas/notifications.v1.js'
import { AuditRepository } from '../audit/audit.repository.js'
import type { NotificationChannel } from './channel.js'
import { DeliveriesRepository } from './deliveries.repository.js'
import { EmailChannel } from './email.channel.js'
import { InAppChannel, type InAppListener } from './in-app.channel.js'
import { NotificationDispatcher } from './notifications.dispatcher.js'
import { NotificationsRepository } from './notifications.repository.js'
import { NotificationsService } from './notifications.service.js'
import { SettingsRepository } from './settings.repository.js'
import { SmsChannel } from './sms.channel.js'
import { WebhookChannel } from './webhook.channel.js'

export interface NotificationsConfig {
  /** smtp://user:pass@host:port or smtps://…; undefined: no email channel. */
  smtpUrl: string | undefined
  mailFrom: string
  /** The SMS provider's endpoint; undefined: no SMS channel. */
  smsUrl: string | undefined
  smsToken: string | undefined
  maxAttempts: number
  retryBaseMs: number
  retryMaxMs: number
  /** Deliveries sent at once by one process. */
  concurrency: number
  /** Longest wait for one webhook, SMS or SMTP exchange. */
  sendTimeoutMs: number
  /** Webhook URLs may reach loopback and private networks. */
  allowPrivateWebhooks: boolean
}

export interface NotificationsDeps {
  pool: pg.Pool
  jobs: JobQueue
  logger: Logger
  config: NotificationsConfig
}

/** What a workflow needs to tell people: notify, inside its own transaction when `db` is given. */
export type Notifier = Pick<NotificationDispatcher, 'notify'>

export interface Notifications {
  /** For the REST routes (notificationsRoutes). */
  service: NotificationsService
  /** For other modules: `dispatcher.notify(...)`. */
  dispatcher: NotificationDispatcher
  availableChannels: ChannelName[]
  /** Where in-app notifications are pushed live (the API wires it to Socket.IO). */
  onInApp(listener: InAppListener | undefined): void
  /** Creates the queue; with work: true this process also delivers. */
  start(options: { work: boolean }): Promise<void>
  /** Closes the SMTP transport; stop the job queue first, so no delivery is still using it. */
  close(): Promise<void>
}

export function createNotifications(deps: NotificationsDeps): Notifications {
  const { pool, config } = deps
  const inbox = new NotificationsRepository(pool)
  const settings = new SettingsRepository(pool)
  const inApp = new InAppChannel()
  const email = config.smtpUrl ? new EmailChannel({ smtpUrl: config.smtpUrl, from: config.mailFrom, timeoutMs: config.sendTimeoutMs }) : undefined
  const channels: NotificationChannel[] = [
    inApp,
    new WebhookChannel({ endpointOf: (orgId) => settings.webhook(orgId), timeoutMs: config.sendTimeoutMs, allowPrivate: config.allowPrivateWebhooks }),
    ...(email ? [email] : []),
    ...(config.smsUrl ? [new SmsChannel({ url: config.smsUrl, token: config.smsToken, timeoutMs: config.sendTimeoutMs })] : []),
  ]
  const dispatcher = new NotificationDispatcher(
    pool, deps.jobs, inbox, new DeliveriesRepository(pool), settings, channels,
    { maxAttempts: config.maxAttempts, retryBaseMs: config.retryBaseMs, retryMaxMs: config.retryMaxMs, concurrency: config.concurrency },
    deps.logger,
  )
  const service = new NotificationsService(pool, inbox, settings, new AuditRepository(pool), {
    availableChannels: dispatcher.availableChannels,
    allowPrivateWebhooks: config.allowPrivateWebhooks,
  })
  return {
    service,
    dispatcher,
    availableChannels: dispatcher.availableChannels,
    onInApp: (listener) => inApp.listen(listener),
    start: (options) => dispatcher.start(options),
    close: async () => email?.close(),
  }
}
