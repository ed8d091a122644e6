import multipart from '@fastify/multipart'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import type { Readable } from 'node:stream'
import { BulkResult, IdParams, Page, TimelineQuery, UploadForm } from '../../schemas/api.v1.js'
import {
  AssignTicketBody, BulkAssignTicketsBody, BulkTicketBody, CommentBody, CreateTicketBody, OpenTicketBody, OwnTicketListQuery, PhotoParams,
  Ticket, TicketEvent, TicketExportQuery, TicketListQuery,
} from '../../schemas/tickets.v1.js'
import type { Document } from '../../schemas/api.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { FileResponse, multipartLimits, uploadedFile } from '../documents/documents.routes.js'
import { exportHeaders } from '../export.js'
import { problemResponses } from '../openapi.js'
import { uploadValidatorCompiler } from '../validation.js'
import { TICKET_WORKFLOW, type TicketStep, type TicketsService } from './tickets.service.js'

const flow = (step: TicketStep) =>
  `${TICKET_WORKFLOW.transitions[step].from.join(', ')} -> ${TICKET_WORKFLOW.transitions[step].to}; from any other status 409 invalid_transition with the allowed steps.`

// Not TypeBox on purpose: the body is a stream, which no JSON schema types.
const ExportResponse: unknown = {
  description: 'text/csv (RFC 4180) or a JSON array of tickets, streamed',
  content: { 'text/csv': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'array', items: Ticket } } },
}

const STEP_SUMMARY: Record<TicketStep, string> = {
  start: 'Start working on a ticket',
  resolve: 'Resolve a ticket',
  close: 'Close a resolved ticket',
  reopen: 'Reopen a resolved or closed ticket',
}

const sendFile = (reply: FastifyReply, { document, content }: { document: Document; content: Readable }) =>
  reply.type(document.contentType).header('content-length', String(document.sizeBytes))
    .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(document.filename)}`).send(content)

export const ticketsRoutes: FastifyPluginAsyncTypebox<{ service: TicketsService; maxBytes: number }> = async (app, { service, maxBytes }) => {
  await app.register(multipart, { limits: multipartLimits(maxBytes) })
  const photoDescription = `multipart/form-data with one file part: a photo (JPEG, PNG) or a PDF, decided by the content, at most ${maxBytes} bytes.`

  app.post('/api/v1/tickets', {
    config: { permission: 'tickets:write' },
    schema: {
      tags: ['tickets'], summary: "Open a ticket (support staff, optionally on a driver's behalf)",
      body: CreateTicketBody, response: { 201: Ticket, ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req, reply) => reply.status(201).send(await service.open(principalOf(req), req.body, requestMeta(req))))

  app.get('/api/v1/tickets', {
    config: { permission: 'tickets:read' },
    schema: {
      tags: ['tickets'], summary: 'List tickets',
      description: 'Filter by status, category, priority, assignee, driver, vehicle and order, search the description, sort by creation, last update or priority.',
      querystring: TicketListQuery, response: { 200: Page(Ticket), ...problemResponses(400, 401, 403) },
    },
  }, async (req) => service.list(principalOf(req), req.query))

  app.get('/api/v1/tickets/export', {
    config: { permission: 'tickets:read' },
    schema: {
      tags: ['tickets'], summary: 'Export the filtered tickets as CSV or JSON (streamed)', description: 'The same filters and sorts as the list; at most 100,000 tickets.',
      querystring: TicketExportQuery, produces: ['text/csv', 'application/json'], response: { 200: ExportResponse, ...problemResponses(400, 401, 403) },
    },
  }, async (req, reply) => {
    const { format, stream } = service.export(principalOf(req), req.query)
    const headers = exportHeaders(format, 'tickets')
    return reply.type(headers.type).header('content-disposition', headers.disposition).send(stream)
  })

  app.get('/api/v1/tickets/:id', {
    config: { permission: 'tickets:read' },
    schema: { tags: ['tickets'], summary: 'Get a ticket', params: IdParams, response: { 200: Ticket, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => service.get(principalOf(req), req.params.id))

  app.get('/api/v1/tickets/:id/timeline', {
    config: { permission: 'tickets:read' },
    schema: {
      tags: ['tickets'], summary: "A ticket's timeline, oldest first: opened, status steps, assignments, comments, photos",
      params: IdParams, querystring: TimelineQuery, response: { 200: Page(TicketEvent), ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req) => service.timeline(principalOf(req), req.params.id, req.query))

  for (const step of Object.keys(STEP_SUMMARY) as TicketStep[]) {
    app.post(`/api/v1/tickets/:id/${step}`, {
      config: { permission: 'tickets:write' },
      schema: {
        tags: ['ticket workflow'], summary: STEP_SUMMARY[step], description: flow(step),
        params: IdParams, response: { 200: Ticket, ...problemResponses(400, 401, 403, 404, 409) },
      },
    }, async (req) => service.step(principalOf(req), req.params.id, step, requestMeta(req)))
  }

  app.post('/api/v1/tickets/:id/assign', {
    config: { permission: 'tickets:write' },
    schema: {
      tags: ['ticket workflow'], summary: 'Assign a ticket (null: unassign)', description: 'To an active user of the organization who holds tickets:write; the assignee is notified.',
      params: IdParams, body: AssignTicketBody, response: { 200: Ticket, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.assign(principalOf(req), req.params.id, req.body.assigneeId, requestMeta(req)))

  app.post('/api/v1/tickets/:id/comments', {
    config: { permission: 'tickets:write' },
    schema: {
      tags: ['tickets'], summary: 'Comment on a ticket', description: 'The comment is on the timeline; the assignee and the opener are notified.',
      params: IdParams, body: CommentBody, response: { 200: Ticket, ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req) => service.comment(principalOf(req), req.params.id, req.body.body, requestMeta(req)))

  app.post('/api/v1/tickets/:id/photos', {
    config: { permission: 'tickets:write' },
    validatorCompiler: uploadValidatorCompiler,
    schema: {
      tags: ['tickets'], summary: 'Add a photo to a ticket', description: photoDescription,
      consumes: ['multipart/form-data'], params: IdParams, body: UploadForm, response: { 200: Ticket, ...problemResponses(400, 401, 403, 404, 413, 415) },
    },
  }, async (req) => service.addPhoto(principalOf(req), req.params.id, await uploadedFile(req), requestMeta(req)))

  app.get('/api/v1/tickets/:id/photos/:photoId', {
    config: { permission: 'tickets:read' },
    schema: { tags: ['tickets'], summary: "Download a ticket's photo", params: PhotoParams, response: { 200: FileResponse, ...problemResponses(400, 401, 403, 404) } },
  }, async (req, reply) => sendFile(reply, await service.photo(principalOf(req), req.params.id, req.params.photoId)))

  app.post('/api/v1/tickets/bulk', {
    config: { permission: 'tickets:write' },
    schema: {
      tags: ['ticket workflow'], summary: 'One status step on many tickets, with a result per ticket', description: 'Each ticket is its own transaction.',
      body: BulkTicketBody, response: { 200: BulkResult, ...problemResponses(400, 401, 403) },
    },
  }, async (req) => {
    const who = principalOf(req)
    return service.bulk(req.body.ids, (id) => service.step(who, id, req.body.action, requestMeta(req)))
  })

  app.post('/api/v1/tickets/bulk-assign', {
    config: { permission: 'tickets:write' },
    schema: {
      tags: ['ticket workflow'], summary: 'Assign many tickets to one user (null: unassign), with a result per ticket',
      body: BulkAssignTicketsBody, response: { 200: BulkResult, ...problemResponses(400, 401, 403) },
    },
  }, async (req) => {
    const who = principalOf(req)
    return service.bulk(req.body.ids, (id) => service.assign(who, id, req.body.assigneeId, requestMeta(req)))
  })

  // --- the driver app: tickets about the driver only (any other answers 404)

  app.post('/api/v1/me/tickets', {
    config: { permission: 'own:tickets' },
    schema: {
      tags: ['me'], summary: 'Open a ticket from the driver app',
      description: 'Optionally about a vehicle, one of your orders or a dashcam event; add photos with POST /api/v1/me/tickets/{id}/photos.',
      body: OpenTicketBody, response: { 201: Ticket, ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req, reply) => {
    const who = principalOf(req)
    return reply.status(201).send(await service.open(who, req.body, requestMeta(req), await service.driverScope(who)))
  })

  app.get('/api/v1/me/tickets', {
    config: { permission: 'own:tickets' },
    schema: { tags: ['me'], summary: 'Your tickets', querystring: OwnTicketListQuery, response: { 200: Page(Ticket), ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => {
    const who = principalOf(req)
    return service.list(who, req.query, await service.driverScope(who))
  })

  app.get('/api/v1/me/tickets/:id', {
    config: { permission: 'own:tickets' },
    schema: { tags: ['me'], summary: 'One of your tickets', params: IdParams, response: { 200: Ticket, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => {
    const who = principalOf(req)
    return service.get(who, req.params.id, await service.driverScope(who))
  })

  app.get('/api/v1/me/tickets/:id/timeline', {
    config: { permission: 'own:tickets' },
    schema: {
      tags: ['me'], summary: "One of your tickets' timeline, oldest first",
      params: IdParams, querystring: TimelineQuery, response: { 200: Page(TicketEvent), ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req) => {
    const who = principalOf(req)
    return service.timeline(who, req.params.id, req.query, await service.driverScope(who))
  })

  app.post('/api/v1/me/tickets/:id/comments', {
    config: { permission: 'own:tickets' },
    schema: { tags: ['me'], summary: 'Comment on one of your tickets', params: IdParams, body: CommentBody, response: { 200: Ticket, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => {
    const who = principalOf(req)
    return service.comment(who, req.params.id, req.body.body, requestMeta(req), await service.driverScope(who))
  })

  app.post('/api/v1/me/tickets/:id/photos', {
    config: { permission: 'own:tickets' },
    validatorCompiler: uploadValidatorCompiler,
    schema: {
      tags: ['me'], summary: 'Add a photo to one of your tickets', description: photoDescription,
      consumes: ['multipart/form-data'], params: IdParams, body: UploadForm, response: { 200: Ticket, ...problemResponses(400, 401, 403, 404, 413, 415) },
    },
  }, async (req) => {
    const who = principalOf(req)
    const scope = await service.driverScope(who)
    return service.addPhoto(who, req.params.id, await uploadedFile(req), requestMeta(req), scope)
  })

  app.get('/api/v1/me/tickets/:id/photos/:photoId', {
    config: { permission: 'own:tickets' },
    schema: { tags: ['me'], summary: "Download one of your tickets' photos", params: PhotoParams, response: { 200: FileResponse, ...problemResponses(400, 401, 403, 404) } },
  }, async (req, reply) => {
    const who = principalOf(req)
    return sendFile(reply, await service.photo(who, req.params.id, req.params.photoId, await service.driverScope(who)))
  })
}
