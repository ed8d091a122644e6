/** Listens: the REST API and Socket.IO share one port. Owns their teardown. */
import type { AddressInfo } from 'node:net'
import type { RouteAccess } from './access.js'
import { buildApi, type ApiDeps } from './app.js'
import { startAlertRulesConsumer } from './alerts/alert-rules.consumer.js'
import { startLive, userRoom, type LiveGateway, type LiveSettings } from './live/live.gateway.js'
import { AuditRepository } from './audit/audit.repository.js'
import { startOrderArrivals } from './orders/order-telemetry.js'
import { OrderActivityRepository } from './orders/orders.repository.js'
import { startAutoTickets } from './tickets/auto-tickets.consumer.js'
import type { TicketsService } from './tickets/tickets.service.js'

export interface ApiServerOptions {
  host: string
  port: number
}

export interface ApiServer {
  port: number
  routes: RouteAccess[]
  live: LiveGateway
  /** For the alert consumer: openTicketFromEvent. */
  tickets: TicketsService
  close(): Promise<void>
}

export async function startApi(options: ApiServerOptions & { documentReminderIntervalMs: number; live: LiveSettings }, deps: ApiDeps): Promise<ApiServer> {
  const { app, tokens, users, routes, documents, alertRules, tickets } = await buildApi(deps)
  const live = await startLive({
    httpServer: app.server, bus: deps.bus, pool: deps.pool, tokens, users, logger: deps.logger, registry: deps.registry, settings: options.live,
  })
  // In-app notifications delivered by this node's job worker reach the user's open consoles on this node.
  deps.notifications.onInApp((userId, notification) => live.send(userRoom(userId), 'notification', notification))
  // One group across every API process: each live alert is evaluated against the rules once.
  const evaluator = await startAlertRulesConsumer({
    bus: deps.bus, pool: deps.pool, rules: alertRules.repository, cache: alertRules.cache, notifier: deps.notifications.dispatcher, logger: deps.logger,
  })
  // One group across every API process too: each arrival is recorded on its order once.
  const arrivals = await startOrderArrivals({
    bus: deps.bus, pool: deps.pool, activity: new OrderActivityRepository(deps.pool), audit: new AuditRepository(deps.pool), logger: deps.logger,
  })
  const autoTickets = await startAutoTickets({ bus: deps.bus, tickets, logger: deps.logger })
  try {
    await app.listen({ host: options.host, port: options.port })
  } catch (err) {
    await evaluator.close()
    await arrivals.close()
    await autoTickets.close()
    throw err
  }
  const port = (app.server.address() as AddressInfo).port
  // Expiry reminders: each run claims what is due, so several API processes may run it.
  const remind = () => documents.sendExpiryReminders().catch((err: unknown) => deps.logger.error({ err }, 'document expiry reminders failed'))
  const reminders = setInterval(remind, options.documentReminderIntervalMs)
  reminders.unref()
  void remind()
  return {
    port,
    routes,
    live,
    tickets,
    close: async () => {
      clearInterval(reminders)
      await evaluator.close()
      await arrivals.close()
      await autoTickets.close()
      deps.notifications.onInApp(undefined)
      await live.close()
      await app.close()
    },
  }
}
