/**
 * Authorization, in one hook: each route declares `config.permission` or
 * `config.public: true` in its definition; a route with neither cannot even be
 * registered. The hook verifies the bearer token, reloads the user (so a
 * deactivated user's tokens stop working at once) and checks the permission.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from './errors.js'
import { permissionsOf, type Permission } from './permissions.js'
import type { TokenService } from './auth/tokens.js'
import type { UserRecord, UsersRepository } from './auth/users.repository.js'

export interface Principal {
  userId: string
  orgId: string
  email: string
  role: string
  permissions: Set<Permission>
  /** When the access token that authenticated this principal expires, epoch seconds. */
  tokenExpiresAt?: number
}

declare module 'fastify' {
  interface FastifyContextConfig {
    permission?: Permission
    public?: boolean
  }
  interface FastifyRequest {
    principal?: Principal
  }
}

/** The principal of an authenticated route; the hook guarantees it exists there. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new AppError('unauthorized')
  return req.principal
}

/** Where a request came from, for the audit log. */
export interface RequestMeta {
  requestId: string
  ip: string
}

export const requestMeta = (req: { id: string; ip: string }): RequestMeta => ({ requestId: req.id, ip: req.ip })

/** Who did it, for the audit log. */
export function auditContext(req: FastifyRequest) {
  return {
    actorId: req.principal?.userId ?? null,
    actorEmail: req.principal?.email ?? null,
    requestId: req.id,
    ip: req.ip,
  }
}

/** Who a user may act as now, in `orgId`: undefined when deactivated or in another organization. */
export function principalOfUser(user: UserRecord | undefined, orgId: string): Principal | undefined {
  if (!user || !user.active || user.orgId !== orgId) return undefined
  return { userId: user.id, orgId: user.orgId, email: user.email, role: user.role, permissions: permissionsOf(user.role, user.isPlatformAdmin) }
}

/** Whether two principals may do exactly the same things (same user, organization and permissions). */
export function samePowers(a: Principal, b: Principal): boolean {
  return a.userId === b.userId && a.orgId === b.orgId && a.permissions.size === b.permissions.size && [...a.permissions].every((p) => b.permissions.has(p))
}

export async function authenticateToken(token: string, tokens: TokenService, users: UsersRepository): Promise<Principal | undefined> {
  const claims = tokens.verifyAccess(token)
  if (!claims) return undefined
  const principal = principalOfUser(await users.findById(claims.userId), claims.orgId)
  return principal && claims.exp !== undefined ? { ...principal, tokenExpiresAt: claims.exp } : principal
}

/** A registered route and what it requires, as the access hook enforces it. */
export interface RouteAccess {
  method: string
  url: string
  permission: Permission | undefined
  public: boolean
}

/** Installs the access hooks; answers the route table they guard (filled as routes register). */
export function registerAccessControl(app: FastifyInstance, tokens: TokenService, users: UsersRepository): RouteAccess[] {
  const table: RouteAccess[] = []
  app.addHook('onRoute', (route) => {
    const config = (route.config ?? {}) as { permission?: Permission; public?: boolean }
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    // The OpenAPI UI and document are public by nature, and so is the CORS preflight (@fastify/cors).
    if (route.url.startsWith('/docs') || (route.method === 'OPTIONS' && route.url === '*')) {
      route.config = { ...config, public: true }
      for (const method of methods) table.push({ method, url: route.url, permission: undefined, public: true })
      return
    }
    if (!config.permission && config.public !== true) {
      throw new Error(`route ${route.method} ${route.url} declares neither a permission nor public: true`)
    }
    for (const method of methods) table.push({ method, url: route.url, permission: config.permission, public: config.public === true })
    if (config.permission && route.schema) {
      const schema = route.schema as Record<string, unknown>
      schema.security = [{ bearerAuth: [] }]
      schema['x-permission'] = config.permission
      schema.description = `${schema.description ? `${String(schema.description)}\n\n` : ''}Permission: \`${config.permission}\``
    }
  })

  app.addHook('onRequest', async (req) => {
    const config = req.routeOptions.config
    if (config.public === true || !req.routeOptions.url) return
    const header = req.headers.authorization
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null
    if (!match) throw new AppError('unauthorized', 'a bearer access token is required')
    const principal = await authenticateToken(match[1]!, tokens, users)
    if (!principal) throw new AppError('invalid_token')
    req.principal = principal
    if (config.permission && !principal.permissions.has(config.permission)) {
      throw new AppError('forbidden', `this action needs the permission ${config.permission}`)
    }
  })
  return table
}
