/**
 * Webhooks: POST the event as JSON to the organization's URL, signed like
 * Stripe's: `x-fleetpulse-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 * A receiver recomputes the HMAC over the raw body, compares in constant time
 * and refuses old timestamps (replays). `x-fleetpulse-delivery` stays the same
 * across retries of one delivery, so a receiver can drop a duplicate.
 * Retries go to the organization's current URL and secret.
 */
import { createHmac } from 'node:crypto'
import type { WebhookEventV1 } from '../../schemas/notifications.v1.js'
import { DeliveryError, type DeliveryMessage, type DeliveryResult, type NotificationChannel } from './channel.js'
import { postJson } from './http.client.js'
import type { WebhookEndpoint } from './settings.repository.js'

export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const v1 = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')
  return `t=${unixSeconds},v1=${v1}`
}

export interface WebhookChannelOptions {
  /** The organization's endpoint now (null: none configured). */
  endpointOf(orgId: string): Promise<WebhookEndpoint | null>
  timeoutMs: number
  /** Lets URLs reach loopback and private networks (tests, on-premises receivers). */
  allowPrivate: boolean
}

export class WebhookChannel implements NotificationChannel {
  readonly name = 'webhook' as const

  constructor(private readonly options: WebhookChannelOptions) {}

  async send(delivery: DeliveryMessage): Promise<DeliveryResult> {
    const endpoint = await this.options.endpointOf(delivery.orgId)
    if (!endpoint) throw new DeliveryError('the organization has no webhook configured any more', undefined, true)
    const event: WebhookEventV1 = {
      id: delivery.event.id,
      type: delivery.event.kind,
      version: 1,
      createdAt: delivery.event.createdAt,
      organizationId: delivery.orgId,
      entity: delivery.event.entity,
      title: delivery.event.title,
      body: delivery.event.body,
      data: delivery.event.data,
    }
    const body = JSON.stringify(event)
    const status = await postJson(endpoint.url, body, {
      'user-agent': 'fleetpulse-webhooks/1',
      'x-fleetpulse-event': delivery.event.kind,
      'x-fleetpulse-delivery': delivery.deliveryId,
      'x-fleetpulse-signature': signatureHeader(endpoint.secret, body, Math.floor(Date.now() / 1000)),
    }, { timeoutMs: this.options.timeoutMs, allowPrivate: this.options.allowPrivate })
    return { responseCode: status }
  }
}
