import type { FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Problem } from '../schemas/api.v1.js'

/** Error responses for a route's schema: the shared Problem shape, as application/problem+json. */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, {
    description: 'Problem details (RFC 9457)',
    content: { 'application/problem+json': { schema: Problem } },
  }]))
}

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'fleetpulse API', version: '1', description: 'Telematics ingestion and fleet operations. Errors are application/problem+json (RFC 9457).' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  })
  // staticCSP: the UI's own assets, allowed by a CSP header of its own (helmet's default would block them).
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
}
