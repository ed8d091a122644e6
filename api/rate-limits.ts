/**
 * Brute-force protection for the credential routes (login, refresh, password
 * reset): each attempt counts against the client address and against the
 * account it names, and either bound answers 429 with Retry-After. A route opts
 * in with `config: { limit: '<action>' }`. Counters live in this process (the
 * @fastify/rate-limit local store); behind a load balancer each API process
 * limits on its own.
 */
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { hashSecret } from '../core/secrets.js'
import { AppError } from './errors.js'

export const LIMITED_ACTIONS = ['login', 'refresh', 'password_reset'] as const
export type LimitedAction = (typeof LIMITED_ACTIONS)[number]

declare module 'fastify' {
  interface FastifyContextConfig {
    limit?: LimitedAction
  }
}

export interface RateLimitSettings {
  perAccount: number
  perAddress: number
  windowMs: number
}

/** The account an attempt names: the email to log in as, the token to refresh, the user whose password is reset. */
function accountOf(action: LimitedAction, req: FastifyRequest): string {
  const body = (req.body ?? {}) as { email?: string; refreshToken?: string }
  const params = (req.params ?? {}) as { id?: string }
  if (action === 'login') return String(body.email ?? '').toLowerCase()
  if (action === 'refresh') return hashSecret(String(body.refreshToken ?? ''))
  return String(params.id ?? '')
}

export async function registerRateLimits(app: FastifyInstance, settings: RateLimitSettings): Promise<void> {
  await app.register(rateLimit, { global: false })
  const actionOf = (req: FastifyRequest) => req.routeOptions.config.limit ?? 'login'
  const limiters = [
    app.createRateLimit({ max: settings.perAddress, timeWindow: settings.windowMs, keyGenerator: (req) => `${actionOf(req)}:address:${req.ip}` }),
    app.createRateLimit({
      max: settings.perAccount, timeWindow: settings.windowMs,
      keyGenerator: (req) => `${actionOf(req)}:account:${accountOf(actionOf(req), req)}`,
    }),
  ]
  app.addHook('onRoute', (route) => {
    const action = (route.config as { limit?: LimitedAction } | undefined)?.limit
    if (!action) return
    // preHandler: after validation, so the account named in the body is known.
    const check = async (req: FastifyRequest, reply: { header(name: string, value: string): unknown }) => {
      for (const limiter of limiters) {
        const result = await limiter(req)
        if (!result.isAllowed && result.isExceeded) {
          reply.header('retry-after', String(result.ttlInSeconds))
          throw new AppError('rate_limited', `too many ${action.replace('_', ' ')} attempts; retry in ${result.ttlInSeconds} s`, {
            retryAfter: result.ttlInSeconds,
          })
        }
      }
    }
    route.preHandler = [...(Array.isArray(route.preHandler) ? route.preHandler : route.preHandler ? [route.preHandler] : []), check]
  })
}
