import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { Registry } from 'prom-client'

export type ReadinessCheck = () => Promise<boolean> | boolean

const Checks = Type.Record(Type.String(), Type.Boolean())

export const healthRoutes: FastifyPluginAsyncTypebox<{ checks: Record<string, ReadinessCheck>; registry: Registry }> = async (app, { checks, registry }) => {
  app.get('/healthz', {
    config: { public: true },
    schema: { tags: ['operations'], summary: 'Liveness: the process answers', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    config: { public: true },
    schema: {
      tags: ['operations'],
      summary: 'Readiness: 503 until every connector this process uses is ready',
      response: { 200: Type.Object({ status: Type.String(), checks: Checks }), 503: Type.Object({ status: Type.String(), checks: Checks }) },
    },
  }, async (_req, reply) => {
    const results = Object.fromEntries(
      await Promise.all(Object.entries(checks).map(async ([name, check]) => [name, await Promise.resolve(check()).catch(() => false)] as const)),
    )
    const ready = Object.values(results).every(Boolean)
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: results })
  })

  app.get('/metrics', {
    config: { public: true },
    schema: { tags: ['operations'], summary: 'Prometheus metrics (text exposition format)', hide: true },
  }, async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()))
}
