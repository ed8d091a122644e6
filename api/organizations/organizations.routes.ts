import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CreatedOrganization, CreateOrganizationBody, Organization, Page, PageQuery } from '../../schemas/api.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { problemResponses } from '../openapi.js'
import type { OrganizationsService } from './organizations.service.js'

export const organizationsRoutes: FastifyPluginAsyncTypebox<{ service: OrganizationsService }> = async (app, { service }) => {
  app.post('/api/v1/organizations', {
    config: { permission: 'organizations:manage' },
    schema: {
      tags: ['organizations'], summary: 'Create an organization with its first operational admin',
      body: CreateOrganizationBody, response: { 201: CreatedOrganization, ...problemResponses(400, 401, 403, 409) },
    },
  }, async (req, reply) => reply.status(201).send(await service.create(principalOf(req), req.body, requestMeta(req))))

  app.get('/api/v1/organizations', {
    config: { permission: 'organizations:manage' },
    schema: { tags: ['organizations'], summary: 'List organizations', querystring: PageQuery, response: { 200: Page(Organization), ...problemResponses(400, 401, 403) } },
  }, async (req) => service.list(req.query))
}
