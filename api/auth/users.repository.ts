import type pg from 'pg'

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
}

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
}
