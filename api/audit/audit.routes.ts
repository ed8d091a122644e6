import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AuditEntry, AuditExportQuery, AuditQuery, Page } from '../../schemas/api.v1.js'
import { principalOf } from '../access.js'
import { problemResponses } from '../openapi.js'
import { EXPORT_MAX_ROWS, type AuditService } from './audit.service.js'

// Not a TypeBox schema on purpose: the body is a stream, which no JSON schema types.
const CsvResponse: unknown = { description: 'text/csv (RFC 4180)', content: { 'text/csv': { schema: { type: 'string' } } } }

export const auditRoutes: FastifyPluginAsyncTypebox<{ service: AuditService }> = async (app, { service }) => {
  app.get('/api/v1/audit', {
    config: { permission: 'audit:read' },
    schema: {
      tags: ['audit'], summary: "Your organization's audit log, newest first",
      description: 'Every mutation, login and failed login: actor, action, entity, before and after (secrets redacted), request id, client address.',
      querystring: AuditQuery, response: { 200: Page(AuditEntry), ...problemResponses(400, 401, 403) },
    },
  }, async (req) => service.list(principalOf(req), req.query))

  app.get('/api/v1/audit/export', {
    config: { permission: 'audit:read' },
    schema: {
      tags: ['audit'], summary: 'Export the audit log as CSV',
      description: `The same filters as the list; newest first; at most ${EXPORT_MAX_ROWS} rows.`,
      querystring: AuditExportQuery,
      produces: ['text/csv'],
      response: { 200: CsvResponse, ...problemResponses(400, 401, 403) },
    },
  }, async (req, reply) => {
    const stream = service.export(principalOf(req), req.query)
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="audit-${new Date().toISOString().slice(0, 10)}.csv"`)
      .send(stream)
  })
}
