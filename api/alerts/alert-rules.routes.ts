import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { IdParams, Page } from '../../schemas/api.v1.js'
import { AlertRule, AlertRuleListQuery, CreateAlertRuleBody, UpdateAlertRuleBody } from '../../schemas/geofences.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { problemResponses } from '../openapi.js'
import type { AlertRulesService } from './alert-rules.service.js'

const SEMANTICS = 'A rule matches a live alert of its kind (and of its geofence, when it names one) whose severity is at least '
  + '`minSeverity`; with `outsideHours`, only when the alert happened outside that local-time window. Each match notifies the '
  + 'recipient (a user, or every active user with the role) once, as notification kind `alert.<kind>`. '
  + 'A recipient user or geofence of another organization answers 404.'

export const alertRulesRoutes: FastifyPluginAsyncTypebox<{ service: AlertRulesService }> = async (app, { service }) => {
  app.post('/api/v1/alert-rules', {
    config: { permission: 'vehicles:write' },
    schema: {
      tags: ['alert rules'], summary: 'Create an alert rule', description: SEMANTICS,
      body: CreateAlertRuleBody, response: { 201: AlertRule, ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req, reply) => reply.status(201).send(await service.create(principalOf(req), req.body, requestMeta(req))))

  app.get('/api/v1/alert-rules', {
    config: { permission: 'vehicles:read' },
    schema: {
      tags: ['alert rules'], summary: 'List alert rules', description: 'Filter by kind and active, in creation order.',
      querystring: AlertRuleListQuery, response: { 200: Page(AlertRule), ...problemResponses(400, 401, 403) },
    },
  }, async (req) => service.list(principalOf(req), req.query))

  app.get('/api/v1/alert-rules/:id', {
    config: { permission: 'vehicles:read' },
    schema: { tags: ['alert rules'], summary: 'Get an alert rule', params: IdParams, response: { 200: AlertRule, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => service.get(principalOf(req), req.params.id))

  app.patch('/api/v1/alert-rules/:id', {
    config: { permission: 'vehicles:write' },
    schema: {
      tags: ['alert rules'], summary: 'Change an alert rule, or switch it off (`active: false`)', description: SEMANTICS,
      params: IdParams, body: UpdateAlertRuleBody, response: { 200: AlertRule, ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req) => service.update(principalOf(req), req.params.id, req.body, requestMeta(req)))

  app.delete('/api/v1/alert-rules/:id', {
    config: { permission: 'vehicles:write' },
    schema: {
      tags: ['alert rules'], summary: 'Delete an alert rule',
      params: IdParams, response: { 204: Type.Null({ description: 'deleted' }), ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req, reply) => {
    await service.delete(principalOf(req), req.params.id, requestMeta(req))
    return reply.status(204).send(null)
  })
}
