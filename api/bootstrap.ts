/**
 * First start with an empty database: a default organization and its admin,
 * who is also the platform admin. Runs under an advisory lock so that several
 * API processes starting together create exactly one.
 */
import type pg from 'pg'
import { generateSecret, hashPassword } from '../core/secrets.js'

export interface BootstrapResult {
  created: boolean
  email: string
  /** Set only when the password was generated: it is shown once, never stored in clear. */
  generatedPassword?: string
}

const BOOTSTRAP_LOCK = 727_002

export async function bootstrapAdmin(pool: pg.Pool, email: string, password: string | undefined): Promise<BootstrapResult> {
  const client = await pool.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [BOOTSTRAP_LOCK])
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM users')
    if (rows[0]!.n > 0) return { created: false, email }
    const generatedPassword = password === undefined ? generateSecret(18) : undefined
    const hash = await hashPassword(password ?? generatedPassword!)
    await client.query('BEGIN')
    const org = await client.query<{ id: string }>(`INSERT INTO organizations (name) VALUES ('Default organization') RETURNING id`)
    const orgId = org.rows[0]!.id
    const user = await client.query<{ id: string }>(
      `INSERT INTO users (org_id, email, name, password_hash, role, is_platform_admin)
       VALUES ($1, $2, 'Administrator', $3, 'operational_admin', true) RETURNING id`,
      [orgId, email, hash],
    )
    await client.query(
      `INSERT INTO audit_log (org_id, actor_id, actor_email, action, entity_type, entity_id, after)
       VALUES ($1, NULL, 'system', 'bootstrap.admin_created', 'user', $2, $3)`,
      [orgId, user.rows[0]!.id, JSON.stringify({ email, role: 'operational_admin', platformAdmin: true })],
    )
    await client.query('COMMIT')
    return { created: true, email, ...(generatedPassword ? { generatedPassword } : {}) }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [BOOTSTRAP_LOCK]).catch(() => {})
    client.release()
  }
}
