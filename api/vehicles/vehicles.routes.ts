import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import {
  CreateVehicleBody, IdParams, Page, PageQuery, Position, ProvisionDeviceBody, ProvisionedDevice, Track, TrackQuery, Vehicle,
} from '../../schemas/api.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { problemResponses } from '../openapi.js'
import type { VehiclesService } from './vehicles.service.js'

export const vehiclesRoutes: FastifyPluginAsyncTypebox<{ service: VehiclesService }> = async (app, { service }) => {

  app.post('/api/v1/vehicles', {
    config: { permission: 'vehicles:write' },
    schema: { tags: ['vehicles'], summary: 'Create a vehicle', body: CreateVehicleBody, response: { 201: Vehicle, ...problemResponses(400, 401, 403) } },
  }, async (req, reply) => reply.status(201).send(await service.create(principalOf(req), req.body, requestMeta(req))))

  app.get('/api/v1/vehicles', {
    config: { permission: 'vehicles:read' },
    schema: { tags: ['vehicles'], summary: 'List vehicles', querystring: PageQuery, response: { 200: Page(Vehicle), ...problemResponses(400, 401, 403) } },
  }, async (req) => service.list(principalOf(req), req.query.limit ?? 50, req.query.cursor))

  app.get('/api/v1/vehicles/:id', {
    config: { permission: 'vehicles:read' },
    schema: { tags: ['vehicles'], summary: 'Get a vehicle', params: IdParams, response: { 200: Vehicle, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => service.get(principalOf(req), req.params.id))

  app.post('/api/v1/vehicles/:id/devices', {
    config: { permission: 'devices:write' },
    schema: {
      tags: ['devices'],
      summary: 'Provision a device for a vehicle',
      description: 'Answers the MQTT credentials: username = id, password = secret. The secret is shown only here.',
      params: IdParams,
      body: ProvisionDeviceBody,
      response: { 201: ProvisionedDevice, ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req, reply) => reply.status(201).send(await service.provisionDevice(principalOf(req), req.params.id, req.body.kind, requestMeta(req))))

  app.get('/api/v1/vehicles/:id/position', {
    config: { permission: 'telemetry:read' },
    schema: {
      tags: ['telemetry'], summary: "A vehicle's latest position", description: '204 when the vehicle has not reported a position yet.',
      params: IdParams, response: { 200: Position, 204: Type.Null({ description: 'no position reported yet' }), ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req, reply) => {
    const position = await service.position(principalOf(req), req.params.id)
    return position ? position : reply.status(204).send(null)
  })

  app.get('/api/v1/vehicles/:id/track', {
    config: { permission: 'telemetry:read' },
    schema: {
      tags: ['telemetry'],
      summary: "A vehicle's fixes in time order (ClickHouse)",
      description: 'Default range: the 24 hours before `to` (default now). A longer range than 31 days is shortened to the 31 days '
        + 'before `to`; `from` after `to` is an empty range. The answer names the effective `from` and `to`.',
      params: IdParams,
      querystring: TrackQuery,
      response: { 200: Track, ...problemResponses(400, 401, 403, 404, 503) },
    },
  }, async (req) => service.track(principalOf(req), req.params.id, req.query))

}
