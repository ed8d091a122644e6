/**
 * Login, refresh-token rotation and logout. A refresh token is used once: using
 * it again (a stolen copy, or a replay) revokes its whole family, so both the
 * thief and the owner must log in again.
 */
import { randomUUID } from 'node:crypto'
import { generateSecret, hashSecret, verifyPassword } from '../../core/secrets.js'
import type { RequestMeta } from '../access.js'
import type { AuditRepository } from '../audit/audit.repository.js'
import { AppError } from '../errors.js'
import type { TokenService } from './tokens.js'
import type { RefreshTokensRepository, UserRecord, UsersRepository } from './users.repository.js'

// Verified against when the email is unknown, so a miss costs as much as a hit.
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'

export class AuthService {
  constructor(
    private readonly users: UsersRepository,
    private readonly refreshTokens: RefreshTokensRepository,
    private readonly tokens: TokenService,
    private readonly audit: AuditRepository,
    private readonly refreshTtlS: number,
  ) {}

  private async issue(user: UserRecord, familyId: string) {
    const refreshToken = generateSecret()
    await this.refreshTokens.insert(user.id, familyId, hashSecret(refreshToken), this.refreshTtlS)
    return {
      accessToken: this.tokens.signAccess({ userId: user.id, orgId: user.orgId, role: user.role, platformAdmin: user.isPlatformAdmin }),
      refreshToken,
      tokenType: 'Bearer' as const,
      expiresIn: this.tokens.accessTtlS,
    }
  }

  async login(email: string, password: string, meta: RequestMeta) {
    const user = await this.users.findByEmail(email)
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH)
    if (!user || !ok || !user.active) {
      await this.audit.record({
        orgId: user?.orgId ?? null, actorId: user?.id ?? null, actorEmail: email.toLowerCase(), action: 'auth.login_failed',
        entityType: 'user', entityId: user?.id ?? null, after: { reason: !user ? 'unknown_email' : !ok ? 'bad_password' : 'inactive' }, ...meta,
      })
      throw new AppError('invalid_credentials')
    }
    const pair = await this.issue(user, randomUUID())
    await this.audit.record({ orgId: user.orgId, actorId: user.id, actorEmail: user.email, action: 'auth.login', entityType: 'user', entityId: user.id, ...meta })
    return pair
  }

  async refresh(refreshToken: string, meta: RequestMeta) {
    const hash = hashSecret(refreshToken)
    const record = await this.refreshTokens.consume(hash)
    if (!record) {
      const family = await this.refreshTokens.findFamily(hash)
      if (family) {
        await this.refreshTokens.revokeFamily(family.familyId)
        await this.audit.record({
          orgId: family.orgId, actorId: family.userId, actorEmail: family.email, action: 'auth.refresh_reuse',
          entityType: 'refresh_token_family', entityId: family.familyId, ...meta,
        })
      }
      throw new AppError('invalid_token', 'refresh token is invalid, expired or already used')
    }
    const user = await this.users.findById(record.userId)
    if (!user || !user.active) {
      await this.refreshTokens.revokeFamily(record.familyId)
      throw new AppError('invalid_token', 'refresh token is invalid, expired or already used')
    }
    const pair = await this.issue(user, record.familyId)
    await this.audit.record({ orgId: user.orgId, actorId: user.id, actorEmail: user.email, action: 'auth.refresh', entityType: 'user', entityId: user.id, ...meta })
    return pair
  }

  async logout(refreshToken: string, meta: RequestMeta) {
    const family = await this.refreshTokens.findFamily(hashSecret(refreshToken))
    if (family) {
      await this.refreshTokens.revokeFamily(family.familyId)
      await this.audit.record({
        orgId: family.orgId, actorId: family.userId, actorEmail: family.email, action: 'auth.logout',
        entityType: 'refresh_token_family', entityId: family.familyId, ...meta,
      })
    }
  }
}
