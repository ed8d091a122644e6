import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import {
  AuditEntry, BulkResult, MetricsQuery, VehicleMetrics, BulkVehicleBody, CreateVehicleBody, IdParams, Page, Position, RejectBody,
  TimelineQuery, Track, TrackQuery, UpdateVehicleBody, Vehicle, VehicleListQuery,
} from '../../schemas/api.v1.js'
import { AppError } from '../errors.js'
import { principalOf, requestMeta } from '../access.js'
import { problemResponses } from '../openapi.js'
import { VEHICLE_WORKFLOW, type VehicleTransition, type VehiclesService } from './vehicles.service.js'

export const vehiclesRoutes: FastifyPluginAsyncTypebox<{ service: VehiclesService }> = async (app, { service }) => {

  app.post('/api/v1/vehicles', {
    config: { permission: 'vehicles:write' },
    schema: { tags: ['vehicles'], summary: 'Create a vehicle', body: CreateVehicleBody, response: { 201: Vehicle, ...problemResponses(400, 401, 403) } },
  }, async (req, reply) => reply.status(201).send(await service.create(principalOf(req), req.body, requestMeta(req))))

  app.get('/api/v1/vehicles', {
    config: { permission: 'vehicles:read' },
    schema: {
      tags: ['vehicles'], summary: 'List vehicles', description: 'Filter by state, search name, plate and VIN, sort by creation or name.',
      querystring: VehicleListQuery, response: { 200: Page(Vehicle), ...problemResponses(400, 401, 403) },
    },
  }, async (req) => service.list(principalOf(req), req.query))

  app.patch('/api/v1/vehicles/:id', {
    config: { permission: 'vehicles:write' },
    schema: {
      tags: ['vehicles'], summary: "Change a vehicle's name, plate, VIN, make, model, year or capacity", params: IdParams, body: UpdateVehicleBody,
      response: { 200: Vehicle, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.update(principalOf(req), req.params.id, req.body, requestMeta(req)))

  const steps: Array<{ step: VehicleTransition; permission: 'vehicles:write' | 'vehicles:approve'; summary: string }> = [
    { step: 'submit', permission: 'vehicles:write', summary: 'Submit a draft (or rejected) vehicle for review' },
    { step: 'approve', permission: 'vehicles:approve', summary: 'Approve a vehicle in review' },
    { step: 'activate', permission: 'vehicles:write', summary: 'Put an approved or inactive vehicle into service' },
    { step: 'deactivate', permission: 'vehicles:write', summary: 'Take an active vehicle out of service' },
    { step: 'retire', permission: 'vehicles:write', summary: 'Retire a vehicle for good' },
  ]
  for (const { step, permission, summary } of steps) {
    app.post(`/api/v1/vehicles/:id/${step}`, {
      config: { permission },
      schema: {
        tags: ['vehicle workflow'], summary, params: IdParams,
        description: `${VEHICLE_WORKFLOW.transitions[step].from.join(', ')} -> ${VEHICLE_WORKFLOW.transitions[step].to}; from any other state 409 invalid_transition with the allowed steps.`,
        response: { 200: Vehicle, ...problemResponses(400, 401, 403, 404, 409) },
      },
    }, async (req) => service.transition(principalOf(req), req.params.id, step, requestMeta(req)))
  }

  app.post('/api/v1/vehicles/:id/reject', {
    config: { permission: 'vehicles:approve' },
    schema: {
      tags: ['vehicle workflow'], summary: 'Reject a vehicle in review, with the reason', params: IdParams, body: RejectBody,
      response: { 200: Vehicle, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.transition(principalOf(req), req.params.id, 'reject', requestMeta(req), req.body.reason))

  app.post('/api/v1/vehicles/bulk', {
    config: { permission: 'vehicles:write' },
    schema: {
      tags: ['vehicle workflow'], summary: 'One workflow step on many vehicles, with a result per vehicle',
      description: 'Each vehicle is its own transaction; `approve` also needs vehicles:approve.',
      body: BulkVehicleBody, response: { 200: BulkResult, ...problemResponses(400, 401, 403) },
    },
  }, async (req) => {
    const who = principalOf(req)
    if (req.body.action === 'approve' && !who.permissions.has('vehicles:approve')) {
      throw new AppError('forbidden', 'this action needs the permission vehicles:approve')
    }
    return service.bulk(who, req.body.action, req.body.ids, requestMeta(req))
  })

  app.get('/api/v1/vehicles/:id/log', {
    config: { permission: 'vehicles:read' },
    schema: {
      tags: ['vehicles'], summary: "A vehicle's timeline: every event on it and its devices, newest first",
      params: IdParams, querystring: TimelineQuery, response: { 200: Page(AuditEntry), ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req) => service.log(principalOf(req), req.params.id, req.query))

  app.get('/api/v1/vehicles/:id', {
    config: { permission: 'vehicles:read' },
    schema: { tags: ['vehicles'], summary: 'Get a vehicle', params: IdParams, response: { 200: Vehicle, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => service.get(principalOf(req), req.params.id))

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

  app.get('/api/v1/vehicles/:id/metrics', {
    config: { permission: 'telemetry:read' },
    schema: {
      tags: ['telemetry'], summary: "A vehicle's distance, engine hours and speed over a range (ClickHouse), and when it was last seen",
      description: 'Default range: the 30 days before `to` (default now).',
      params: IdParams, querystring: MetricsQuery, response: { 200: VehicleMetrics, ...problemResponses(400, 401, 403, 404, 503) },
    },
  }, async (req) => service.metrics(principalOf(req), req.params.id, req.query))

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
