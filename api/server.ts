/** Listens: the REST API and Socket.IO share one port. Owns their teardown. */
import type { AddressInfo } from 'node:net'
import type { RouteAccess } from './access.js'
import { buildApi, type ApiDeps } from './app.js'
import type { TicketsService } from './tickets/tickets.service.js'
import { startLive, userRoom } from './live/live.gateway.js'

export interface ApiServerOptions {
  host: string
  port: number
}

export interface ApiServer {
  port: number
  routes: RouteAccess[]
  /** For the alert consumer: openTicketFromEvent. */
  tickets: TicketsService
  close(): Promise<void>
}

export async function startApi(options: ApiServerOptions & { documentReminderIntervalMs: number }, deps: ApiDeps): Promise<ApiServer> {
  const { app, tokens, users, routes, documents, tickets } = await buildApi(deps)
  const live = await startLive({ httpServer: app.server, bus: deps.bus, tokens, users, logger: deps.logger })
  // In-app notifications delivered by this node's job worker reach the user's open consoles on this node.
  deps.notifications.onInApp((userId, notification) => live.send(userRoom(userId), 'notification', notification))
  await app.listen({ host: options.host, port: options.port })
  const port = (app.server.address() as AddressInfo).port
  // Expiry reminders: each run claims what is due, so several API processes may run it.
  const remind = () => documents.sendExpiryReminders().catch((err: unknown) => deps.logger.error({ err }, 'document expiry reminders failed'))
  const reminders = setInterval(remind, options.documentReminderIntervalMs)
  reminders.unref()
  void remind()
  return {
    port,
    routes,
    tickets,
    close: async () => {
      clearInterval(reminders)
      deps.notifications.onInApp(undefined)
      await live.close()
      await app.close()
    },
  }
}
