import multipart from '@fastify/multipart'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { BulkResult, IdParams, Page, UploadForm } from '../../schemas/api.v1.js'
import {
  ActivityQuery, AssignOrderBody, BulkAssignBody, BulkOrderBody, CreateOrderBody, Order, OrderActivity, OrderExportQuery, OrderListQuery,
  OrderReasonBody, OwnOrderListQuery, PodQuery,
} from '../../schemas/orders.v1.js'
import { principalOf, requestMeta } from '../access.js'
import { FileResponse, multipartLimits, uploadedFile } from '../documents/documents.routes.js'
import { AppError } from '../errors.js'
import { exportHeaders } from '../export.js'
import { problemResponses } from '../openapi.js'
import { uploadValidatorCompiler } from '../validation.js'
import { DRIVER_STEPS, ORDER_WORKFLOW, type OrderStep, type OrdersService } from './orders.service.js'

const flow = (step: keyof typeof ORDER_WORKFLOW.transitions) =>
  `${ORDER_WORKFLOW.transitions[step].from.join(', ')} -> ${ORDER_WORKFLOW.transitions[step].to}; from any other status 409 invalid_transition with the allowed steps.`
const pathOf = (step: OrderStep) => step.replaceAll('_', '-')

// Not TypeBox on purpose: the body is a stream, which no JSON schema types.
const ExportResponse: unknown = {
  description: 'text/csv (RFC 4180) or a JSON array of orders, streamed',
  content: { 'text/csv': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'array', items: Order } } },
}

const STEP_SUMMARY: Record<OrderStep, string> = {
  unassign: 'Take the driver and vehicle off an assigned order',
  pick_up: 'Record the pickup',
  depart: 'Leave for the drop-off (in transit)',
  deliver: 'Record the delivery (on-time is judged against the drop-off window)',
  fail: 'Record a failed delivery, with the reason',
  cancel: 'Cancel an order, with the reason',
}
const NEEDS_REASON: readonly OrderStep[] = ['fail', 'cancel']

export const ordersRoutes: FastifyPluginAsyncTypebox<{ service: OrdersService; maxBytes: number }> = async (app, { service, maxBytes }) => {
  await app.register(multipart, { limits: multipartLimits(maxBytes) })

  app.post('/api/v1/orders', {
    config: { permission: 'orders:write' },
    schema: {
      tags: ['orders'], summary: 'Create a dispatch order (status pending, with the next number)',
      description: 'Totals (weight, volume, value, item count) are computed from the line items; a client-sent total is refused (400).',
      body: CreateOrderBody, response: { 201: Order, ...problemResponses(400, 401, 403) },
    },
  }, async (req, reply) => reply.status(201).send(await service.create(principalOf(req), req.body, requestMeta(req))))

  app.get('/api/v1/orders', {
    config: { permission: 'orders:read' },
    schema: {
      tags: ['orders'], summary: 'List orders',
      description: 'Filter by status, driver, vehicle and creation time, search number, customer reference and addresses, sort by creation, number or drop-off deadline.',
      querystring: OrderListQuery, response: { 200: Page(Order), ...problemResponses(400, 401, 403) },
    },
  }, async (req) => service.list(principalOf(req), req.query))

  app.get('/api/v1/orders/export', {
    config: { permission: 'orders:read' },
    schema: {
      tags: ['orders'], summary: 'Export the filtered orders as CSV or JSON (streamed)',
      description: 'The same filters and sorts as the list; at most 100,000 orders.',
      querystring: OrderExportQuery, produces: ['text/csv', 'application/json'], response: { 200: ExportResponse, ...problemResponses(400, 401, 403) },
    },
  }, async (req, reply) => {
    const { format, stream } = service.export(principalOf(req), req.query)
    const headers = exportHeaders(format, 'orders')
    return reply.type(headers.type).header('content-disposition', headers.disposition).send(stream)
  })

  app.get('/api/v1/orders/:id', {
    config: { permission: 'orders:read' },
    schema: { tags: ['orders'], summary: 'Get an order', params: IdParams, response: { 200: Order, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => service.get(principalOf(req), req.params.id))

  app.get('/api/v1/orders/:id/activity', {
    config: { permission: 'orders:read' },
    schema: {
      tags: ['orders'], summary: "An order's activity, oldest first (created, assigned, each status step, proof of delivery, on-time)",
      params: IdParams, querystring: ActivityQuery, response: { 200: Page(OrderActivity), ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req) => service.activityOf(principalOf(req), req.params.id, req.query))

  app.post('/api/v1/orders/:id/assign', {
    config: { permission: 'assignments:write' },
    schema: {
      tags: ['order workflow'], summary: 'Assign (or reassign) a driver and a vehicle',
      description: `${flow('assign')} Only an active vehicle and an approved or active driver; the order must fit the vehicle's capacity; `
        + 'neither may hold another open order at an overlapping time (409 conflict).',
      params: IdParams, body: AssignOrderBody, response: { 200: Order, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.assign(principalOf(req), req.params.id, req.body, requestMeta(req)))

  app.post('/api/v1/orders/:id/unassign', {
    config: { permission: 'assignments:write' },
    schema: {
      tags: ['order workflow'], summary: STEP_SUMMARY.unassign, description: flow('unassign'),
      params: IdParams, response: { 200: Order, ...problemResponses(400, 401, 403, 404, 409) },
    },
  }, async (req) => service.step(principalOf(req), req.params.id, 'unassign', requestMeta(req)))

  for (const step of ['pick_up', 'depart', 'deliver'] as const) {
    app.post(`/api/v1/orders/:id/${pathOf(step)}`, {
      config: { permission: 'orders:write' },
      schema: {
        tags: ['order workflow'], summary: STEP_SUMMARY[step], description: flow(step),
        params: IdParams, response: { 200: Order, ...problemResponses(400, 401, 403, 404, 409) },
      },
    }, async (req) => service.step(principalOf(req), req.params.id, step, requestMeta(req)))
  }
  for (const step of ['fail', 'cancel'] as const) {
    app.post(`/api/v1/orders/:id/${step}`, {
      config: { permission: 'orders:write' },
      schema: {
        tags: ['order workflow'], summary: STEP_SUMMARY[step], description: flow(step),
        params: IdParams, body: OrderReasonBody, response: { 200: Order, ...problemResponses(400, 401, 403, 404, 409) },
      },
    }, async (req) => service.step(principalOf(req), req.params.id, step, requestMeta(req), { reason: req.body.reason }))
  }

  app.post('/api/v1/orders/bulk', {
    config: { permission: 'orders:write' },
    schema: {
      tags: ['order workflow'], summary: 'One status step on many orders, with a result per order',
      description: 'Each order is its own transaction; fail and cancel need a reason; unassign also needs assignments:write.',
      body: BulkOrderBody, response: { 200: BulkResult, ...problemResponses(400, 401, 403) },
    },
  }, async (req) => {
    const who = principalOf(req)
    if (req.body.action === 'unassign' && !who.permissions.has('assignments:write')) {
      throw new AppError('forbidden', 'this action needs the permission assignments:write')
    }
    return service.bulk(who, req.body.action, req.body.ids, 'reason' in req.body ? req.body.reason : undefined, requestMeta(req))
  })

  app.post('/api/v1/orders/bulk-assign', {
    config: { permission: 'assignments:write' },
    schema: {
      tags: ['order workflow'], summary: 'Assign many orders, with a result per order',
      description: 'Each assignment is its own transaction, in the order given, with the rules of a single assignment.',
      body: BulkAssignBody, response: { 200: BulkResult, ...problemResponses(400, 401, 403) },
    },
  }, async (req) => service.bulkAssign(principalOf(req), req.body.assignments, requestMeta(req)))

  const podDescription = `multipart/form-data with one file part: a photo (JPEG, PNG) or a PDF, decided by the content, at most ${maxBytes} bytes. `
    + 'Only while the order is in transit or delivered (409 otherwise); a later proof replaces the earlier one.'
  app.post('/api/v1/orders/:id/proof-of-delivery', {
    config: { permission: 'orders:write' },
    validatorCompiler: uploadValidatorCompiler,
    schema: {
      tags: ['orders'], summary: 'Upload the proof of delivery, with the recipient name', description: podDescription,
      consumes: ['multipart/form-data'], params: IdParams, querystring: PodQuery, body: UploadForm,
      response: { 200: Order, ...problemResponses(400, 401, 403, 404, 409, 413, 415) },
    },
  }, async (req) => service.proofOfDelivery(principalOf(req), req.params.id, req.query.recipientName, await uploadedFile(req), requestMeta(req)))

  app.get('/api/v1/orders/:id/proof-of-delivery', {
    config: { permission: 'orders:read' },
    schema: { tags: ['orders'], summary: 'Download the proof of delivery', params: IdParams, response: { 200: FileResponse, ...problemResponses(400, 401, 403, 404) } },
  }, async (req, reply) => {
    const { document, content } = await service.proofOfDeliveryContent(principalOf(req), req.params.id)
    return reply.type(document.contentType).header('content-length', String(document.sizeBytes))
      .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(document.filename)}`).send(content)
  })

  // --- the driver app: a driver's own orders only (any other answers 404)

  app.get('/api/v1/me/orders', {
    config: { permission: 'own:orders' },
    schema: {
      tags: ['me'], summary: 'Your orders (as their driver)', querystring: OwnOrderListQuery,
      response: { 200: Page(Order), ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req) => {
    const who = principalOf(req)
    return service.list(who, req.query, await service.driverScope(who))
  })

  app.get('/api/v1/me/orders/:id', {
    config: { permission: 'own:orders' },
    schema: { tags: ['me'], summary: 'One of your orders', params: IdParams, response: { 200: Order, ...problemResponses(400, 401, 403, 404) } },
  }, async (req) => {
    const who = principalOf(req)
    return service.get(who, req.params.id, await service.driverScope(who))
  })

  app.get('/api/v1/me/orders/:id/activity', {
    config: { permission: 'own:orders' },
    schema: {
      tags: ['me'], summary: "One of your orders' activity, oldest first",
      params: IdParams, querystring: ActivityQuery, response: { 200: Page(OrderActivity), ...problemResponses(400, 401, 403, 404) },
    },
  }, async (req) => {
    const who = principalOf(req)
    return service.activityOf(who, req.params.id, req.query, await service.driverScope(who))
  })

  for (const step of DRIVER_STEPS) {
    const withReason = NEEDS_REASON.includes(step)
    app.post(`/api/v1/me/orders/:id/${pathOf(step)}`, {
      config: { permission: 'own:orders' },
      schema: {
        tags: ['me'], summary: `${STEP_SUMMARY[step]} (your own order)`, description: flow(step),
        params: IdParams, ...(withReason ? { body: OrderReasonBody } : {}), response: { 200: Order, ...problemResponses(400, 401, 403, 404, 409) },
      },
    }, async (req) => {
      const who = principalOf(req)
      const reason = withReason ? (req.body as { reason: string }).reason : undefined
      return service.step(who, req.params.id, step, requestMeta(req), { reason, scope: await service.driverScope(who) })
    })
  }

  app.post('/api/v1/me/orders/:id/proof-of-delivery', {
    config: { permission: 'own:orders' },
    validatorCompiler: uploadValidatorCompiler,
    schema: {
      tags: ['me'], summary: 'Upload the proof of delivery of your order, with the recipient name', description: podDescription,
      consumes: ['multipart/form-data'], params: IdParams, querystring: PodQuery, body: UploadForm,
      response: { 200: Order, ...problemResponses(400, 401, 403, 404, 409, 413, 415) },
    },
  }, async (req) => {
    const who = principalOf(req)
    const scope = await service.driverScope(who)
    return service.proofOfDelivery(who, req.params.id, req.query.recipientName, await uploadedFile(req), requestMeta(req), scope)
  })

  app.get('/api/v1/me/orders/:id/proof-of-delivery', {
    config: { permission: 'own:orders' },
    schema: { tags: ['me'], summary: 'Download the proof of delivery of your order', params: IdParams, response: { 200: FileResponse, ...problemResponses(400, 401, 403, 404) } },
  }, async (req, reply) => {
    const who = principalOf(req)
    const { document, content } = await service.proofOfDeliveryContent(who, req.params.id, await service.driverScope(who))
    return reply.type(document.contentType).header('content-length', String(document.sizeBytes))
      .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(document.filename)}`).send(content)
  })
}
