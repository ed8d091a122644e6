/** The one interface every delivery channel implements, and what a channel is handed. */
import type { ChannelName, Notification } from '../../schemas/notifications.v1.js'

export interface DeliveryMessage {
  deliveryId: string
  /** 1 for the first try; the same delivery id and event on every retry. */
  attempt: number
  orgId: string
  channel: ChannelName
  /** User id (in_app), email address, phone number or webhook URL, fixed when the event was sent. */
  target: string
  /** The recipient's inbox row; null for the organization's webhook. */
  userId: string | null
  notification: Notification | null
  event: NotificationEvent
}

/** The event a delivery carries, as stored with it. */
export interface NotificationEvent {
  id: string
  kind: string
  entity: { type: string; id: string }
  title: string
  body: string
  data: Record<string, unknown>
  createdAt: string
}

export interface DeliveryResult {
  /** HTTP status or SMTP reply code, for the delivery log. */
  responseCode?: number
}

export interface NotificationChannel {
  readonly name: ChannelName
  /** Resolves once the other side accepted the message; throws (ideally a DeliveryError) otherwise. */
  send(delivery: DeliveryMessage): Promise<DeliveryResult | void>
}

/** A failed attempt. `permanent`: retrying cannot help (say the channel is not configured), the delivery is dead at once. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly responseCode?: number,
    readonly permanent = false,
  ) {
    super(message)
    this.name = 'DeliveryError'
  }
}
