import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ChangeRoleBody, CreateUserBody, IdParams, Page, ResetPasswordBody, User, UserListQuery } from '../../schemas/api.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { problemResponses } from '../openapi.js'
import type { UsersService } from './users.service.js'

export const usersRoutes: FastifyPluginAsyncTypebox<{ service: UsersService }> = async (app, { service }) => {
  app.post('/api/v1/users', {
    config: { permission: 'users:manage' },
    schema: {
      tags: ['users'], summary: 'Create a user in your organization',
      description: 'You can give only a role whose permissions you hold yourself.',
      body: CreateUserBody, response: { 201: User, ...problemResponses(400, 401, 403, 409) },
    },
  }, async (req, reply) => reply.status(201).send(await service.create(principalOf(req), req.body, requestMeta(req))))

  app.get('/api/v1/users', {
    config: { permission: 'users:read' },
    schema: { tags: ['users'], summary: 'List the users of your organization', querystring: UserListQuery, response: { 200: Page(User), ...problemResponses(400, 401, 403) } },
  }, async (req) => service.list(principalOf(req), req.query))

  app.get('/api/v1/users/:id', {
    config: { permission: 'users:read' },
    schema: { tags: ['users'], summary: 'Get a user', params: IdParams, response: { 200: User, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => service.get(principalOf(req), req.params.id))

  app.put('/api/v1/users/:id/role', {
    config: { permission: 'users:manage' },
    schema: {
      tags: ['users'], summary: "Change a user's role", params: IdParams, body: ChangeRoleBody,
      response: { 200: User, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.changeRole(principalOf(req), req.params.id, req.body.role, requestMeta(req)))

  app.post('/api/v1/users/:id/deactivate', {
    config: { permission: 'users:manage' },
    schema: {
      tags: ['users'], summary: 'Deactivate a user', description: 'Their access and refresh tokens stop working at once.',
      params: IdParams, response: { 200: User, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.deactivate(principalOf(req), req.params.id, requestMeta(req)))

  app.post('/api/v1/users/:id/activate', {
    config: { permission: 'users:manage' },
    schema: { tags: ['users'], summary: 'Activate a user again', params: IdParams, response: { 200: User, ...problemResponses(400, 401, 403, 404, 409) } },
  }, async (req) => service.activate(principalOf(req), req.params.id, requestMeta(req)))

  app.post('/api/v1/users/:id/password', {
    config: { permission: 'users:manage', limit: 'password_reset' },
    schema: {
      tags: ['users'], summary: "Reset a user's password", description: 'Ends every session of the user (refresh tokens are revoked).',
      params: IdParams, body: ResetPasswordBody, response: { 200: User, ...problemResponses(400, 401, 403, 404, 409, 429) },
    },
  }, async (req) => service.resetPassword(principalOf(req), req.params.id, req.body.password, requestMeta(req)))
}
