/**
 * SMS through an HTTP provider: POST `{ to, text }` as JSON to SMS_URL with
 * `authorization: Bearer SMS_TOKEN`; any 2xx means the provider took it. A
 * provider with another API gets an adapter of its own behind this interface.
 */
import type { DeliveryMessage, DeliveryResult, NotificationChannel } from './channel.js'
import { postJson } from './http.client.js'

export interface SmsChannelOptions {
  url: string
  token: string | undefined
  timeoutMs: number
}

/** One SMS segment is 160 GSM-7 characters; longer texts are cut rather than billed as many. */
const MAX_TEXT = 160

export class SmsChannel implements NotificationChannel {
  readonly name = 'sms' as const

  constructor(private readonly options: SmsChannelOptions) {}

  async send(delivery: DeliveryMessage): Promise<DeliveryResult> {
    const full = `${delivery.event.title}: ${delivery.event.body}`
    const text = full.length > MAX_TEXT ? `${full.slice(0, MAX_TEXT - 1)}…` : full
    const status = await postJson(
      this.options.url,
      JSON.stringify({ to: delivery.target, text, reference: delivery.deliveryId }),
      this.options.token ? { authorization: `Bearer ${this.options.token}` } : {},
      // The provider's URL comes from the operator's configuration, not from an organization.
      { timeoutMs: this.options.timeoutMs, allowPrivate: true },
    )
    return { responseCode: status }
  }
}
