/**
 * Every permission and every seeded role, in one place (the README shows this
 * table). A route names the permission it needs in its definition.
 */
import { ROLE_NAMES, type RoleName } from '../schemas/api.v1.js'

export const PERMISSIONS = [
  'organizations:manage',
  'users:read',
  'users:manage',
  'vehicles:read',
  'vehicles:write',
  'devices:write',
  'telemetry:read',
  'live:read',
  'audit:read',
] as const
export type Permission = (typeof PERMISSIONS)[number]

const all = PERMISSIONS.filter((p) => p !== 'organizations:manage')

export const ROLES = {
  operational_admin: all,
  fleet_manager: ['vehicles:read', 'vehicles:write', 'devices:write', 'telemetry:read', 'live:read'],
  dispatcher: ['vehicles:read', 'telemetry:read', 'live:read'],
  support_agent: ['vehicles:read'],
  analyst: ['vehicles:read', 'telemetry:read'],
  driver: [],
  auditor: ['audit:read'],
} as const satisfies Record<RoleName, readonly Permission[]>

export type Role = RoleName
export { ROLE_NAMES }

/** The platform admin (the first start's admin) also manages organizations. */
export function permissionsOf(role: string, isPlatformAdmin: boolean): Set<Permission> {
  const perms = new Set<Permission>((ROLES as Record<string, readonly Permission[]>)[role] ?? [])
  if (isPlatformAdmin) perms.add('organizations:manage')
  return perms
}

/** The permissions of a role that a holder of `held` lacks: a role may be given only when this is empty. */
export function missingToGrant(held: ReadonlySet<Permission>, role: Role): Permission[] {
  return ROLES[role].filter((p) => !held.has(p))
}
