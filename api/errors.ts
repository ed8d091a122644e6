/**
 * The catalog of coded errors (code -> status, title) and the one handler that
 * turns any error into application/problem+json (RFC 9457) with the request id.
 * A 5xx body never carries the underlying message, stack or SQL.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export const ERRORS = {
  validation_failed: { status: 400, title: 'Request is invalid' },
  bad_request: { status: 400, title: 'Bad request' },
  unauthorized: { status: 401, title: 'Authentication required' },
  invalid_credentials: { status: 401, title: 'Email or password is wrong' },
  invalid_token: { status: 401, title: 'Token is invalid or expired' },
  forbidden: { status: 403, title: 'Permission denied' },
  not_found: { status: 404, title: 'Not found' },
  route_not_found: { status: 404, title: 'No such route' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  invalid_transition: { status: 409, title: 'Not allowed in the current state' },
  payload_too_large: { status: 413, title: 'Request body is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal error' },
  analytics_unavailable: { status: 503, title: 'Analytics store is not available on this node' },
  not_ready: { status: 503, title: 'Not ready' },
  provider_unavailable: { status: 503, title: 'An outside provider is not configured or did not answer' },
  console_unavailable: { status: 503, title: 'The console is not built (npm run build)' },
  invalid_signature: { status: 401, title: 'Signature is missing, wrong or too old' },
} as const satisfies Record<string, { status: number; title: string }>

export type ErrorCode = keyof typeof ERRORS

export class AppError extends Error {
  readonly status: number
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(detail ?? ERRORS[code].title)
    this.status = ERRORS[code].status
  }
}

/** "Not found" and "no access" look the same to a caller who may not see the record. */
export const notFound = (entity: string) => new AppError('not_found', `${entity} not found`)

export interface Problem {
  type: string
  title: string
  status: number
  code: string
  detail: string
  instance: string
  requestId: string
  errors?: Array<{ path: string; message: string }>
  [key: string]: unknown
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad_request',
}

export function problem(code: ErrorCode, detail: string, instance: string, requestId: string, extra?: Record<string, unknown>): Problem {
  const { status, title } = ERRORS[code]
  return { type: `https://fleetpulse.dev/problems/${code}`, title, status, code, detail, instance, requestId, ...extra }
}

/** The methods routes answer for a concrete path (none: the path is not a route at all). */
function methodsFor(routes: ReadonlyArray<{ method: string; url: string }>, path: string): string[] {
  // A path that is a route of its own is answered by it alone (the router prefers static paths).
  const exact = staticMethods(routes, path)
  if (exact.length > 0) return exact
  const methods = new Set<string>()
  for (const r of routes) {
    if (r.url === '*') continue
    const pattern = new RegExp(`^${r.url.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:\w+/g, '[^/]+').replace(/\*/g, '.*')}$`)
    if (pattern.test(path)) methods.add(r.method)
  }
  return [...methods].sort()
}

/** The methods of routes whose path is exactly this one, with no parameters. */
function staticMethods(routes: ReadonlyArray<{ method: string; url: string }>, url: string): string[] {
  const path = url.split('?')[0]!
  return [...new Set(routes.filter((r) => r.url === path).map((r) => r.method))].sort()
}

/** `routes` is the route table (filled as routes register): it tells a wrong method (405) from a wrong path (404). */
export function registerErrorHandling(app: FastifyInstance, routes: ReadonlyArray<{ method: string; url: string }>): void {
  app.setErrorHandler((err: FastifyError | AppError, req, reply) => {
    let body: Problem
    if (err instanceof AppError) {
      body = problem(err.code, err.message, req.url, req.id, err.extra)
    } else if ((err as FastifyError).validation && (err as FastifyError).validationContext === 'params' && staticMethods(routes, req.url).length > 0) {
      // `PATCH /vehicles/bulk` matched `PATCH /vehicles/:id`, but the path is a
      // route of its own with other methods: the method is what is wrong.
      const allowed = staticMethods(routes, req.url)
      reply.header('allow', allowed.join(', '))
      body = problem('method_not_allowed', `${req.method} is not allowed here; allowed: ${allowed.join(', ')}`, req.url, req.id)
    } else if ((err as FastifyError).validation) {
      const fe = err as FastifyError
      body = problem('validation_failed', fe.message, req.url, req.id, {
        errors: fe.validation!.map((v) => ({
          path: `${fe.validationContext ?? 'body'}${v.instancePath || ''}`,
          message: v.message ?? 'invalid',
          ...(v.params && 'additionalProperty' in v.params ? { field: String(v.params.additionalProperty) } : {}),
        })),
      })
    } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      const code: ErrorCode = FASTIFY_CODES[(err as FastifyError).code] ?? (err.statusCode === 429 ? 'rate_limited' : 'bad_request')
      body = { ...problem(code, err.message, req.url, req.id), status: err.statusCode }
    } else {
      req.log.error({ err }, 'unhandled error')
      body = problem('internal', 'An internal error occurred; quote the request id when reporting it.', req.url, req.id)
    }
    if (err instanceof AppError && err.code === 'unauthorized') reply.header('www-authenticate', 'Bearer')
    return reply.status(body.status).type('application/problem+json').send(body)
  })
  // Before any body parsing: a request no route matches (say QUERY or TRACE with
  // a body) is answered here, not refused by a content-type parser first.
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.url === undefined) return unrouted(routes, req, reply)
  })
  app.setNotFoundHandler((req, reply) => unrouted(routes, req, reply))
}

/** 405 with Allow for a path some route answers with other methods, else 404. */
function unrouted(routes: ReadonlyArray<{ method: string; url: string }>, req: FastifyRequest, reply: FastifyReply) {
  const allowed = methodsFor(routes, req.url.split('?')[0]!)
  if (allowed.length > 0) {
    return reply.status(405).header('allow', allowed.join(', ')).type('application/problem+json')
      .send(problem('method_not_allowed', `${req.method} is not allowed here; allowed: ${allowed.join(', ')}`, req.url, req.id))
  }
  return reply.status(404).type('application/problem+json')
    .send(problem('route_not_found', `${req.method} ${req.url} is not a route`, req.url, req.id))
}

/** 503 from an API node without ClickHouse (embedded chDB belongs to the stream's process). */
export const analyticsUnavailable = () =>
  new AppError('analytics_unavailable', 'this API node has no ClickHouse; ask a node that runs the stream role, or set CLICKHOUSE_URL')
