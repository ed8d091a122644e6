import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { SIGNATURE_HEADER, verifySignature } from '../../core/signing.js'
import {
  AssignDriverBody, AuditEntry, BackgroundCheckCallbackBody, BackgroundCheckSignature, CreateDriverBody, Driver, DriverAccountBody,
  DriverListQuery, IdParams, ModuleParams, Page, ReasonBody, StartTrainingBody, TimelineQuery, UpdateDriverBody, Vehicle,
} from '../../schemas/api.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { AppError } from '../errors.js'
import { problemResponses } from '../openapi.js'
import type { Permission } from '../permissions.js'
import { DRIVER_WORKFLOW, type DriversService } from './drivers.service.js'

export const BACKGROUND_CHECK_CALLBACK_PATH = '/api/v1/drivers/background-check/callback'

const flow = (step: keyof typeof DRIVER_WORKFLOW.transitions) =>
  `${DRIVER_WORKFLOW.transitions[step].from.join(', ')} -> ${DRIVER_WORKFLOW.transitions[step].to}; from any other state 409 invalid_transition with the allowed steps.`

export const driversRoutes: FastifyPluginAsyncTypebox<{ service: DriversService; backgroundCheckSecret: string | undefined }> = async (app, { service, backgroundCheckSecret }) => {
  app.post('/api/v1/drivers', {
    config: { permission: 'drivers:write' },
    schema: { tags: ['drivers'], summary: 'Create a driver (an applicant)', body: CreateDriverBody, response: { 201: Driver, ...problemResponses(400, 401, 403) } },
  }, async (req, reply) => reply.status(201).send(await service.create(principalOf(req), req.body, requestMeta(req))))

  app.get('/api/v1/drivers', {
    config: { permission: 'drivers:read' },
    schema: {
      tags: ['drivers'], summary: 'List drivers', description: 'Filter by state, search name, email and licence number, sort by creation or name.',
      querystring: DriverListQuery, response: { 200: Page(Driver), ...problemResponses(400, 401, 403) },
    },
  }, async (req) => service.list(principalOf(req), req.query))

  app.get('/api/v1/drivers/:id', {
    config: { permission: 'drivers:read' },
    schema: { tags: ['drivers'], summary: 'Get a driver with their training', params: IdParams, response: { 200: Driver, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => service.get(principalOf(req), req.params.id))

  app.patch('/api/v1/drivers/:id', {
    config: { permission: 'drivers:write' },
    schema: { tags: ['drivers'], summary: "Change a driver's name, email, phone or licence number", params: IdParams, body: UpdateDriverBody, response: { 200: Driver, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => service.update(principalOf(req), req.params.id, req.body, requestMeta(req)))

  app.get('/api/v1/drivers/:id/log', {
    config: { permission: 'drivers:read' },
    schema: {
      tags: ['drivers'], summary: "A driver's timeline, newest first (their steps and their vehicle assignments)",
      params: IdParams, querystring: TimelineQuery, response: { 200: Page(AuditEntry), ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req) => service.log(principalOf(req), req.params.id, req.query))

  app.post('/api/v1/drivers/:id/background-check', {
    config: { permission: 'drivers:write' },
    schema: {
      tags: ['driver workflow'], summary: 'Start the background check with the provider', description: flow('start_background_check'),
      params: IdParams, response: { 200: Driver, ...problemResponses(400, 401, 403, 404, 409, 503) },
    },
  }, async (req) => service.startBackgroundCheck(principalOf(req), req.params.id, requestMeta(req)))

  // The provider's verdict: public, but only with a valid signature over the raw body.
  await app.register(async (scope) => {
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: 16 * 1024 }, (req, body, done) => {
      (req as { rawBody?: string }).rawBody = body as string
      try {
        done(null, JSON.parse(body as string))
      } catch (err) {
        done(Object.assign(err as Error, { statusCode: 400 }), undefined)
      }
    })
    scope.withTypeProvider<TypeBoxTypeProvider>().post(BACKGROUND_CHECK_CALLBACK_PATH, {
      config: { public: true },
      schema: {
        tags: ['driver workflow'], summary: 'Background-check result from the provider (signed)',
        description: `Header ${SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256(shared secret, "<t>.<raw body>")>, at most 5 minutes old.`,
        headers: BackgroundCheckSignature, body: BackgroundCheckCallbackBody,
        response: { 204: Type.Null(), ...problemResponses(400, 401, 404, 409, 503) },
      },
    }, async (req, reply) => {
      if (!backgroundCheckSecret) throw new AppError('provider_unavailable', 'no background-check provider is configured')
      if (!verifySignature(backgroundCheckSecret, req.headers[SIGNATURE_HEADER], (req as { rawBody?: string }).rawBody ?? '')) {
        throw new AppError('invalid_signature')
      }
      await service.backgroundCheckResult(req.body.reference, req.body.result, requestMeta(req))
      return reply.status(204).send(null)
    })
  })

  app.post('/api/v1/drivers/:id/training', {
    config: { permission: 'drivers:write' },
    schema: {
      tags: ['driver workflow'], summary: 'Start training with the modules to complete', description: `${flow('start_training')} The background check must have passed.`,
      params: IdParams, body: StartTrainingBody, response: { 200: Driver, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.startTraining(principalOf(req), req.params.id, req.body.modules, requestMeta(req)))

  app.post('/api/v1/drivers/:id/training/:module/complete', {
    config: { permission: 'drivers:write' },
    schema: { tags: ['driver workflow'], summary: 'Record a completed training module', params: ModuleParams, response: { 200: Driver, ...problemResponses(400, 401, 403, 404, 409) } },
  }, async (req) => service.completeModule(principalOf(req), req.params.id, req.params.module, requestMeta(req)))

  const steps: Array<{ step: 'approve' | 'activate'; permission: Permission; summary: string }> = [
    { step: 'approve', permission: 'drivers:approve', summary: 'Approve a driver who completed training' },
    { step: 'activate', permission: 'drivers:write', summary: 'Activate an approved or suspended driver' },
  ]
  for (const { step, permission, summary } of steps) {
    app.post(`/api/v1/drivers/:id/${step}`, {
      config: { permission },
      schema: { tags: ['driver workflow'], summary, description: flow(step), params: IdParams, response: { 200: Driver, ...problemResponses(400, 401, 403, 404, 409) } },
    }, async (req) => service.transition(principalOf(req), req.params.id, step, requestMeta(req)))
  }
  const withReason: Array<{ step: 'reject' | 'suspend'; permission: Permission; summary: string }> = [
    { step: 'reject', permission: 'drivers:approve', summary: 'Reject an applicant, with the reason' },
    { step: 'suspend', permission: 'drivers:write', summary: 'Suspend an active driver, with the reason' },
  ]
  for (const { step, permission, summary } of withReason) {
    app.post(`/api/v1/drivers/:id/${step}`, {
      config: { permission },
      schema: { tags: ['driver workflow'], summary, description: flow(step), params: IdParams, body: ReasonBody, response: { 200: Driver, ...problemResponses(400, 401, 403, 404, 409) } },
    }, async (req) => service.transition(principalOf(req), req.params.id, step, requestMeta(req), req.body.reason))
  }

  app.post('/api/v1/drivers/:id/account', {
    config: { permission: 'users:manage' },
    schema: {
      tags: ['drivers'], summary: "Create the driver's own user account (role driver)",
      params: IdParams, body: DriverAccountBody, response: { 200: Driver, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.createAccount(principalOf(req), req.params.id, req.body, requestMeta(req)))

  app.post('/api/v1/vehicles/:id/assign-driver', {
    config: { permission: 'assignments:write' },
    schema: {
      tags: ['drivers'], summary: 'Assign a driver to a vehicle',
      description: 'Only an approved or active driver, to an approved, active or inactive vehicle; a driver drives at most MAX_ACTIVE_VEHICLES_PER_DRIVER active vehicles.',
      params: IdParams, body: AssignDriverBody, response: { 200: Vehicle, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.assign(principalOf(req), req.params.id, req.body.driverId, requestMeta(req)))

  app.post('/api/v1/vehicles/:id/unassign-driver', {
    config: { permission: 'assignments:write' },
    schema: { tags: ['drivers'], summary: "Remove a vehicle's driver", params: IdParams, response: { 200: Vehicle, ...problemResponses(400, 401, 403, 404, 409) } },
  }, async (req) => service.assign(principalOf(req), req.params.id, null, requestMeta(req)))

  app.get('/api/v1/me/driver', {
    config: { permission: 'own:profile' },
    schema: { tags: ['me'], summary: 'Your own driver profile', response: { 200: Driver, ...problemResponses(401, 403, 404) } },
  }, async (req) => service.own(principalOf(req)))
}
