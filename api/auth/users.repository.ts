import type pg from 'pg'
import type { User } from '../../schemas/api.v1.js'
import { findInOrg, isoSql, type Db } from '../db.js'
import { afterCursorSql, CURSOR_MICROS_SQL, type CursorKey } from '../pagination.js'

export interface UserRecord {
  id: string
  orgId: string
  email: string
  name: string
  passwordHash: string
  role: string
  isPlatformAdmin: boolean
  active: boolean
}

const USER_COLUMNS = `id, org_id AS "orgId", email, name, password_hash AS "passwordHash", role,
  is_platform_admin AS "isPlatformAdmin", active`

export class UsersRepository {
  constructor(private readonly pool: pg.Pool) {}

  async findByEmail(email: string): Promise<UserRecord | undefined> {
    const { rows } = await this.pool.query<UserRecord>(`SELECT ${USER_COLUMNS} FROM users WHERE lower(email) = lower($1)`, [email])
    return rows[0]
  }

  async findById(id: string): Promise<UserRecord | undefined> {
    const { rows } = await this.pool.query<UserRecord>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id])
    return rows[0]
  }

  /** Users by id, in one query (the live feed re-reads the users of its sockets). */
  async findByIds(ids: string[]): Promise<UserRecord[]> {
    const { rows } = await this.pool.query<UserRecord>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ANY($1::uuid[])`, [ids])
    return rows
  }

  // --- administration: always within one organization

  async create(db: Db, orgId: string, user: { email: string; name: string; role: string; passwordHash: string }): Promise<User> {
    const { rows } = await db.query<User>(
      `INSERT INTO users (org_id, email, name, role, password_hash) VALUES ($1, lower($2), $3, $4, $5) RETURNING ${PUBLIC_COLUMNS}`,
      [orgId, user.email, user.name, user.role, user.passwordHash],
    )
    return rows[0]!
  }

  get(orgId: string, id: string, db: Db = this.pool): Promise<User | undefined> {
    return findInOrg<User>(db, 'users', PUBLIC_COLUMNS, orgId, id)
  }

  /** Locks the row for a change in this transaction, so two concurrent changes serialize. */
  getForUpdate(db: Db, orgId: string, id: string): Promise<User | undefined> {
    return findInOrg<User>(db, 'users', PUBLIC_COLUMNS, orgId, id, true)
  }

  async list(orgId: string, limit: number, after: CursorKey | undefined, filter: { role?: string; active?: boolean }) {
    const params: unknown[] = [orgId, limit + 1]
    const where = ['org_id = $1']
    if (filter.role !== undefined) where.push(`role = $${params.push(filter.role)}`)
    if (filter.active !== undefined) where.push(`active = $${params.push(filter.active)}`)
    if (after) {
      const micros = params.push(after.micros)
      const id = params.push(after.id)
      where.push(afterCursorSql(`$${micros}`, `$${id}`))
    }
    const { rows } = await this.pool.query<User & { cursorMicros: string }>(
      `SELECT ${PUBLIC_COLUMNS}, ${CURSOR_MICROS_SQL} AS "cursorMicros"
         FROM users WHERE ${where.join(' AND ')} ORDER BY created_at, id LIMIT $2`,
      params,
    )
    return rows
  }

  /** Changes the given columns of a user of orgId and answers the row after the change. */
  async update(db: Db, orgId: string, id: string, change: { role?: string; active?: boolean; passwordHash?: string }): Promise<User> {
    const params: unknown[] = [orgId, id]
    const sets = ['updated_at = now()']
    if (change.role !== undefined) sets.push(`role = $${params.push(change.role)}`)
    if (change.active !== undefined) sets.push(`active = $${params.push(change.active)}`)
    if (change.passwordHash !== undefined) sets.push(`password_hash = $${params.push(change.passwordHash)}`)
    const { rows } = await db.query<User>(
      `UPDATE users SET ${sets.join(', ')} WHERE org_id = $1 AND id = $2 RETURNING ${PUBLIC_COLUMNS}`,
      params,
    )
    return rows[0]!
  }
}

/** What the API shows of a user: never the hash, never the platform flag. */
const PUBLIC_COLUMNS = `id, email, name, role, active, ${isoSql('created_at')} AS "createdAt", ${isoSql('updated_at')} AS "updatedAt"`

export interface RefreshTokenRecord {
  id: string
  userId: string
  familyId: string
  expiresAt: Date
}

export class RefreshTokensRepository {
  constructor(private readonly pool: pg.Pool) {}

  async insert(userId: string, familyId: string, tokenHash: string, ttlS: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4))`,
      [userId, familyId, tokenHash, ttlS],
    )
  }

  /**
   * Marks a token used, atomically: of two concurrent refreshes with one token,
   * exactly one gets the row back.
   */
  async consume(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const { rows } = await this.pool.query<RefreshTokenRecord>(
      `UPDATE refresh_tokens SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
        RETURNING id, user_id AS "userId", family_id AS "familyId", expires_at AS "expiresAt"`,
      [tokenHash],
    )
    return rows[0]
  }

  /** The family of a token, with whose it is, for revocation and its audit row. */
  async findFamily(tokenHash: string): Promise<{ familyId: string; userId: string; orgId: string; email: string } | undefined> {
    const { rows } = await this.pool.query<{ familyId: string; userId: string; orgId: string; email: string }>(
      `SELECT t.family_id AS "familyId", u.id AS "userId", u.org_id AS "orgId", u.email
         FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1`,
      [tokenHash],
    )
    return rows[0]
  }

  async revokeFamily(familyId: string): Promise<void> {
    await this.pool.query('UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL', [familyId])
  }

  /** Every live refresh token of a user (deactivation, password reset). */
  async revokeAllOfUser(db: Db, userId: string): Promise<void> {
    await db.query('UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL', [userId])
  }
}
