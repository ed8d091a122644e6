/**
 * User administration within the caller's organization. Every change is
 * audited in its own transaction, and nobody can hand out a permission they do
 * not hold themselves (so a user admin cannot make an operational admin).
 */
import type pg from 'pg'
import { hashPassword } from '../../core/secrets.js'
import type { CreateUserBody, RoleName, User } from '../../schemas/api.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import type { RefreshTokensRepository, UsersRepository } from '../auth/users.repository.js'
import { isUniqueViolation, withTransaction } from '../db.js'
import { AppError, notFound } from '../errors.js'
import { decodeCursor, page } from '../pagination.js'
import { missingToGrant } from '../permissions.js'

export class UsersService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly users: UsersRepository,
    private readonly refreshTokens: RefreshTokensRepository,
    private readonly audit: AuditRepository,
  ) {}

  /** A role may be given only by someone who holds every permission in it. */
  private assertCanGrant(who: Principal, role: RoleName): void {
    const missing = missingToGrant(who.permissions, role)
    if (missing.length > 0) {
      throw new AppError('forbidden', `you cannot grant the role ${role}: it holds permissions you do not have (${missing.join(', ')})`)
    }
  }

  private record(who: Principal, meta: RequestMeta, db: pg.PoolClient, action: string, userId: string, before: unknown, after: unknown) {
    return this.audit.record(
      { orgId: who.orgId, actorId: who.userId, actorEmail: who.email, action, entityType: 'user', entityId: userId, before, after, ...meta },
      db,
    )
  }

  async create(who: Principal, body: CreateUserBody, meta: RequestMeta): Promise<User> {
    this.assertCanGrant(who, body.role)
    const passwordHash = await hashPassword(body.password)
    try {
      return await withTransaction(this.pool, async (db) => {
        const user = await this.users.create(db, who.orgId, { email: body.email, name: body.name, role: body.role, passwordHash })
        await this.record(who, meta, db, 'user.create', user.id, undefined, user)
        return user
      })
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError('conflict', 'a user with this email already exists')
      throw err
    }
  }

  async get(who: Principal, id: string): Promise<User> {
    const user = await this.users.get(who.orgId, id)
    if (!user) throw notFound('user')
    return user
  }

  async list(who: Principal, query: { limit?: number; cursor?: string; role?: RoleName; active?: boolean }) {
    const limit = query.limit ?? 50
    return page(await this.users.list(who.orgId, limit, decodeCursor(query.cursor), query), limit)
  }

  /** Locks the target, refuses changes to oneself, applies change, audits before and after. */
  private change(
    who: Principal, id: string, meta: RequestMeta, action: string,
    apply: (db: pg.PoolClient, before: User) => Promise<User>,
  ): Promise<User> {
    if (id === who.userId) throw new AppError('conflict', 'you cannot change your own role, status or password here')
    return withTransaction(this.pool, async (db) => {
      const before = await this.users.getForUpdate(db, who.orgId, id)
      if (!before) throw notFound('user')
      // Holding a role you may not grant means you may not manage that user either.
      this.assertCanGrant(who, before.role as RoleName)
      const after = await apply(db, before)
      await this.record(who, meta, db, action, id, before, after)
      return after
    })
  }

  changeRole(who: Principal, id: string, role: RoleName, meta: RequestMeta): Promise<User> {
    this.assertCanGrant(who, role)
    return this.change(who, id, meta, 'user.role_change', (db) => this.users.update(db, who.orgId, id, { role }))
  }

  /** Tokens stop at once: the access hook reloads the user, and refresh tokens are revoked. */
  deactivate(who: Principal, id: string, meta: RequestMeta): Promise<User> {
    return this.change(who, id, meta, 'user.deactivate', async (db) => {
      const after = await this.users.update(db, who.orgId, id, { active: false })
      await this.refreshTokens.revokeAllOfUser(db, id)
      return after
    })
  }

  activate(who: Principal, id: string, meta: RequestMeta): Promise<User> {
    return this.change(who, id, meta, 'user.activate', (db) => this.users.update(db, who.orgId, id, { active: true }))
  }

  /** Sets a new password and ends every session of the user (their refresh tokens). */
  async resetPassword(who: Principal, id: string, password: string, meta: RequestMeta): Promise<User> {
    const passwordHash = await hashPassword(password)
    return this.change(who, id, meta, 'user.password_reset', async (db) => {
      const after = await this.users.update(db, who.orgId, id, { passwordHash })
      await this.refreshTokens.revokeAllOfUser(db, id)
      return after
    })
  }
}
