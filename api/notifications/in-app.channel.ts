/**
 * In-app: the inbox row is written when the event is sent; this channel is the
 * live push to the recipient's open consoles (the API wires the listener to
 * Socket.IO). A process without a listener has no one to push to: that counts
 * as delivered, since the inbox already holds the notification.
 */
import type { Notification } from '../../schemas/notifications.v1.js'
import type { DeliveryMessage, NotificationChannel } from './channel.js'

export type InAppListener = (userId: string, notification: Notification) => void

export class InAppChannel implements NotificationChannel {
  readonly name = 'in_app' as const
  private listener: InAppListener | undefined

  /** Sets (or, with undefined, removes) the one listener live pushes go to. */
  listen(listener: InAppListener | undefined): void {
    this.listener = listener
  }

  async send(delivery: DeliveryMessage): Promise<void> {
    if (!delivery.userId || !delivery.notification) return
    this.listener?.(delivery.userId, delivery.notification)
  }
}
