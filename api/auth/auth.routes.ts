import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { LoginBody, RefreshBody, TokenPair } from '../../schemas/api.v1.js'
import { problemResponses } from '../openapi.js'
import { requestMeta } from '../access.js'
import type { AuthService } from './auth.service.js'

export const authRoutes: FastifyPluginAsyncTypebox<{ service: AuthService }> = async (app, { service }) => {
  app.post('/api/v1/auth/login', {
    config: { public: true, limit: 'login' },
    schema: { tags: ['auth'], summary: 'Log in with email and password', body: LoginBody, response: { 200: TokenPair, ...problemResponses(400, 401, 429) } },
  }, async (req) => service.login(req.body.email, req.body.password, requestMeta(req)))

  app.post('/api/v1/auth/refresh', {
    config: { public: true, limit: 'refresh' },
    schema: { tags: ['auth'], summary: 'Trade a refresh token for a new pair (rotation)', body: RefreshBody, response: { 200: TokenPair, ...problemResponses(400, 401, 429) } },
  }, async (req) => service.refresh(req.body.refreshToken, requestMeta(req)))

  app.post('/api/v1/auth/logout', {
    config: { public: true },
    schema: { tags: ['auth'], summary: "Revoke a refresh token's family", body: RefreshBody, response: { 204: Type.Null(), ...problemResponses(400) } },
  }, async (req, reply) => {
    await service.logout(req.body.refreshToken, requestMeta(req))
    return reply.status(204).send(null)
  })
}
