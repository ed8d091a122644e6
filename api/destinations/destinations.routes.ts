import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { IdParams } from '../../schemas/api.v1.js'
import { Destination, PutDestinationBody } from '../../schemas/geofences.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { problemResponses } from '../openapi.js'
import type { DestinationsService } from './destinations.service.js'

export const destinationsRoutes: FastifyPluginAsyncTypebox<{ service: DestinationsService }> = async (app, { service }) => {
  app.put('/api/v1/vehicles/:id/destination', {
    config: { permission: 'assignments:write' },
    schema: {
      tags: ['destinations'], summary: "Set a vehicle's destination (the stream estimates its arrival)",
      description: 'Replaces the current destination, and detaches it from any dispatch order. 409 for a retired vehicle.',
      params: IdParams, body: PutDestinationBody, response: { 200: Destination, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.put(principalOf(req), req.params.id, req.body, requestMeta(req)))

  app.get('/api/v1/vehicles/:id/destination', {
    config: { permission: 'vehicles:read' },
    schema: {
      tags: ['destinations'], summary: "A vehicle's destination", description: '204 when the vehicle has none.',
      params: IdParams, response: { 200: Destination, 204: Type.Null({ description: 'no destination' }), ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req, reply) => {
    const destination = await service.get(principalOf(req), req.params.id)
    return destination ?? reply.status(204).send(null)
  })

  app.delete('/api/v1/vehicles/:id/destination', {
    config: { permission: 'assignments:write' },
    schema: {
      tags: ['destinations'], summary: "Clear a vehicle's destination", description: 'Idempotent: 204 also when the vehicle has none (404 only for an unknown vehicle).',
      params: IdParams, response: { 204: Type.Null({ description: 'cleared' }), ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req, reply) => {
    await service.clear(principalOf(req), req.params.id, requestMeta(req))
    return reply.status(204).send(null)
  })
}
