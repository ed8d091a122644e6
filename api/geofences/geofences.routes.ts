import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { IdParams, Page } from '../../schemas/api.v1.js'
import { CreateGeofenceBody, Geofence, GeofenceListQuery, UpdateGeofenceBody } from '../../schemas/geofences.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { problemResponses } from '../openapi.js'
import type { GeofencesService } from './geofences.service.js'

const GEOMETRY_RULES = 'A polygon is GeoJSON Polygon coordinates ([lon, lat] rings, outer ring first, each closed, not crossing itself or '
  + 'another ring, holes inside the outer ring, 100 m² to 50,000 km², not across the antimeridian); a circle is a center and a radius '
  + 'of 10 m to 100 km. A polygon schema-valid but breaking these rules answers 400 with the reason.'

export const geofencesRoutes: FastifyPluginAsyncTypebox<{ service: GeofencesService }> = async (app, { service }) => {
  app.post('/api/v1/geofences', {
    config: { permission: 'vehicles:write' },
    schema: {
      tags: ['geofences'], summary: 'Create a geofence (polygon or circle)', description: GEOMETRY_RULES,
      body: CreateGeofenceBody, response: { 201: Geofence, ...problemResponses(400, 401, 403) },
    },
  }, async (req, reply) => reply.status(201).send(await service.create(principalOf(req), req.body, requestMeta(req))))

  app.get('/api/v1/geofences', {
    config: { permission: 'vehicles:read' },
    schema: {
      tags: ['geofences'], summary: 'List geofences', description: 'Search by name, sort by creation or name.',
      querystring: GeofenceListQuery, response: { 200: Page(Geofence), ...problemResponses(400, 401, 403) },
    },
  }, async (req) => service.list(principalOf(req), req.query))

  app.get('/api/v1/geofences/:id', {
    config: { permission: 'vehicles:read' },
    schema: { tags: ['geofences'], summary: 'Get a geofence', params: IdParams, response: { 200: Geofence, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => service.get(principalOf(req), req.params.id))

  app.patch('/api/v1/geofences/:id', {
    config: { permission: 'vehicles:write' },
    schema: {
      tags: ['geofences'], summary: "Change a geofence's name, limits or geometry",
      description: `A geometry change names \`kind\` with all of its fields and replaces the geometry. ${GEOMETRY_RULES}`,
      params: IdParams, body: UpdateGeofenceBody, response: { 200: Geofence, ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req) => service.update(principalOf(req), req.params.id, req.body, requestMeta(req)))

  app.delete('/api/v1/geofences/:id', {
    config: { permission: 'vehicles:write' },
    schema: {
      tags: ['geofences'], summary: 'Delete a geofence', description: '409 while alert rules point at it.',
      params: IdParams, response: { 204: Type.Null({ description: 'deleted' }), ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req, reply) => {
    await service.delete(principalOf(req), req.params.id, requestMeta(req))
    return reply.status(204).send(null)
  })
}
