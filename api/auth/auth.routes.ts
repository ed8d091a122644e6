import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { LoginBody, RefreshBody, TokenPair } from '../../schemas/api.v1.js'
import { problemResponses } from '../openapi.js'
import type { AuthService } from './auth.service.js'

export const authRoutes: FastifyPluginAsyncTypebox<{ service: AuthService }> = async (app, { service }) => {
  const meta = (req: { id: string; ip: string }) => ({ requestId: req.id, ip: req.ip })

  app.post('/api/v1/auth/login', {
    config: { public: true },
    schema: { tags: ['auth'], summary: 'Log in with email and password', body: LoginBody, response: { 200: TokenPair, ...problemResponses(400, 401) } },
  }, async (req) => service.login(req.body.email, req.body.password, meta(req)))

  app.post('/api/v1/auth/refresh', {
    config: { public: true },
    schema: { tags: ['auth'], summary: 'Trade a refresh token for a new pair (rotation)', body: RefreshBody, response: { 200: TokenPair, ...problemResponses(400, 401) } },
  }, async (req) => service.refresh(req.body.refreshToken, meta(req)))

  app.post('/api/v1/auth/logout', {
    config: { public: true },
    schema: { tags: ['auth'], summary: "Revoke a refresh token's family", body: RefreshBody, response: { 204: Type.Null(), ...problemResponses(400) } },
  }, async (req, reply) => {
    await service.logout(req.body.refreshToken, meta(req))
    return reply.status(204).send(null)
  })
}
