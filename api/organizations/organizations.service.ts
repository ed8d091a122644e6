/**
 * Tenants. Only the platform admin (the first start's admin) creates and lists
 * organizations; a new organization comes with its first operational admin,
 * who manages everything inside it from then on.
 */
import type pg from 'pg'
import { hashPassword } from '../../core/secrets.js'
import type { CreateOrganizationBody } from '../../schemas/api.v1.js'
import type { Principal, RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import type { UsersRepository } from '../auth/users.repository.js'
import { isUniqueViolation, withTransaction } from '../db.js'
import { AppError } from '../errors.js'
import { decodeCursor, page } from '../pagination.js'
import type { OrganizationsRepository } from './organizations.repository.js'

export class OrganizationsService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly organizations: OrganizationsRepository,
    private readonly users: UsersRepository,
    private readonly audit: AuditRepository,
  ) {}

  async create(who: Principal, body: CreateOrganizationBody, meta: RequestMeta) {
    const passwordHash = await hashPassword(body.admin.password)
    try {
      return await withTransaction(this.pool, async (db) => {
        const org = await this.organizations.create(db, body.name)
        const admin = await this.users.create(db, org.id, {
          email: body.admin.email, name: body.admin.name ?? 'Administrator', role: 'operational_admin', passwordHash,
        })
        const created = { ...org, admin }
        // One row for the one action; it belongs to the new organization, whose auditors see how it began.
        await this.audit.record({
          orgId: org.id, actorId: who.userId, actorEmail: who.email, action: 'organization.create',
          entityType: 'organization', entityId: org.id, after: created, ...meta,
        }, db)
        return created
      })
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError('conflict', 'a user with the admin email already exists')
      throw err
    }
  }

  async list(query: { limit?: number; cursor?: string }) {
    const limit = query.limit ?? 50
    return page(await this.organizations.list(limit, decodeCursor(query.cursor)), limit)
  }
}
