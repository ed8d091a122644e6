/**
 * The operations port of a process that runs no API (an ingest-only or
 * stream-only process): /healthz, /readyz and /metrics on PORT, so a load
 * balancer or orchestrator sees whether it can take work.
 */
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { healthRoutes, type ReadinessCheck } from './health.js'

export interface OpsServer {
  port: number
  close(): Promise<void>
}

export async function startOpsServer(
  options: { host: string; port: number },
  deps: { checks: Record<string, ReadinessCheck>; registry: Registry; logger: Logger },
): Promise<OpsServer> {
  const app = Fastify({ loggerInstance: deps.logger.child({ component: 'ops' }), disableRequestLogging: true })
  await app.register(healthRoutes, { checks: deps.checks, registry: deps.registry })
  await app.listen({ host: options.host, port: options.port })
  return { port: (app.server.address() as AddressInfo).port, close: () => app.close() }
}
