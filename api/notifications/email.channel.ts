/** Email over SMTP (nodemailer): one message per recipient, subject = title, text = body. */
import nodemailer from 'nodemailer'
import { DeliveryError, type DeliveryMessage, type DeliveryResult, type NotificationChannel } from './channel.js'

export interface EmailChannelOptions {
  /** smtp://user:pass@host:port (STARTTLS when offered) or smtps:// (TLS from the start). */
  smtpUrl: string
  from: string
  timeoutMs: number
}

export class EmailChannel implements NotificationChannel {
  readonly name = 'email' as const
  private readonly transport: ReturnType<typeof nodemailer.createTransport>

  constructor(private readonly options: EmailChannelOptions) {
    this.transport = nodemailer.createTransport({
      url: options.smtpUrl,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
    })
  }

  async send(delivery: DeliveryMessage): Promise<DeliveryResult> {
    try {
      const info = await this.transport.sendMail({
        from: this.options.from,
        to: delivery.target,
        subject: delivery.event.title,
        text: delivery.event.body,
        // The same id on every retry lets a mail system drop a duplicate.
        messageId: `<${delivery.deliveryId}@fleetpulse>`,
        headers: { 'x-fleetpulse-kind': delivery.event.kind, 'x-fleetpulse-delivery': delivery.deliveryId },
      })
      const code = Number.parseInt(String(info.response ?? ''), 10)
      return Number.isFinite(code) ? { responseCode: code } : {}
    } catch (err) {
      const e = err as Error & { responseCode?: number }
      throw new DeliveryError(e.message, typeof e.responseCode === 'number' ? e.responseCode : undefined)
    }
  }

  close(): void {
    this.transport.close()
  }
}
