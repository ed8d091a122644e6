/**
 * Tickets opened by the platform: a critical device event (a dashcam's
 * collision, a panic button) on live.alerts.v1 opens one ticket for support,
 * about that vehicle and its driver, once per event however often the alert is
 * delivered (openTicketFromEvent keys the ticket by the alert's id). One
 * consumer group shared by every API node.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Logger } from 'pino'
import type { Bus, Subscription } from '../../core/bus/bus.js'
import { decodeBatch } from '../../core/bus/decode.js'
import { LiveAlertV1, TOPICS } from '../../schemas/topics.v1.js'
import { AppError } from '../errors.js'
import type { TicketsService } from './tickets.service.js'

export const AUTO_TICKETS_GROUP = 'api-auto-tickets'
const checkAlert = TypeCompiler.Compile(LiveAlertV1)

/** Which alerts open a ticket by themselves. */
export const opensTicket = (a: LiveAlertV1): boolean => a.kind === 'device_event' && a.severity === 'critical'

export async function startAutoTickets(deps: { bus: Bus; tickets: TicketsService; logger: Logger }): Promise<Subscription> {
  const log = deps.logger.child({ component: 'auto-tickets' })
  await deps.bus.ensureTopics([TOPICS.liveAlerts])
  return deps.bus.subscribe({ topic: TOPICS.liveAlerts, groupId: AUTO_TICKETS_GROUP, fromBeginning: false, maxBatchSize: 200 }, async (batch) => {
    const alerts = decodeBatch(batch, checkAlert, (m) => log.error({ offset: m.offset }, 'malformed live.alerts.v1 message; skipped')).filter(opensTicket)
    for (const alert of alerts) {
      try {
        const { ticket, created } = await deps.tickets.openTicketFromEvent(alert)
        if (created) log.info({ ticket: ticket.id, alert: alert.id }, 'ticket opened for a critical device event')
      } catch (err) {
        // A vehicle deleted since: nothing to open a ticket about. Anything else is retried with the batch.
        if (err instanceof AppError && err.code === 'not_found') continue
        throw err
      }
    }
  })
}
