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
  'vehicles:approve',
  'drivers:read',
  'drivers:write',
  'drivers:approve',
  'devices:write',
  'maintenance:read',
  'maintenance:write',
  'telemetry:read',
  'live:read',
  'dashboards:read',
  'analytics:manage',
  'exports:read',
  'orders:read',
  'orders:write',
  'assignments:write',
  'tickets:read',
  'tickets:write',
  'audit:read',
  'notifications:read',
  // A driver's own records only: the routes that take these scope every query to the caller.
  'own:profile',
  'own:vehicle',
  'own:tickets',
  'own:orders',
] as const
export type Permission = (typeof PERMISSIONS)[number]

/** Every permission an organization grants (organizations:manage belongs to the platform admin alone). */
const all = PERMISSIONS.filter((p) => p !== 'organizations:manage' && !p.startsWith('own:'))

export const ROLES = {
  operational_admin: all,
  fleet_manager: [
    'vehicles:read', 'vehicles:write', 'drivers:read', 'drivers:write', 'devices:write', 'maintenance:read', 'maintenance:write',
    'telemetry:read', 'live:read', 'dashboards:read', 'assignments:write', 'notifications:read',
  ],
  dispatcher: ['vehicles:read', 'drivers:read', 'telemetry:read', 'live:read', 'orders:read', 'orders:write', 'assignments:write', 'notifications:read'],
  support_agent: ['tickets:read', 'tickets:write', 'vehicles:read', 'drivers:read', 'notifications:read'],
  analyst: ['vehicles:read', 'drivers:read', 'telemetry:read', 'dashboards:read', 'exports:read', 'orders:read', 'notifications:read'],
  driver: ['own:profile', 'own:vehicle', 'own:tickets', 'own:orders', 'notifications:read'],
  auditor: ['audit:read', 'notifications:read'],
} as const satisfies Record<RoleName, readonly Permission[]>

export type Role = RoleName
export { ROLE_NAMES }

/** The platform admin (the first start's admin) also manages organizations. */
export function permissionsOf(role: string, isPlatformAdmin: boolean): Set<Permission> {
  const perms = new Set<Permission>((ROLES as Record<string, readonly Permission[]>)[role] ?? [])
  if (isPlatformAdmin) perms.add('organizations:manage')
  return perms
}

/** An `own:*` permission is a narrow form of a broad one: who holds the broad one may grant it. */
const NARROWS: Partial<Record<Permission, Permission>> = {
  'own:profile': 'users:manage',
  'own:vehicle': 'vehicles:read',
  'own:tickets': 'tickets:write',
  'own:orders': 'orders:write',
}

/** The permissions of a role that a holder of `held` lacks: a role may be given only when this is empty. */
export function missingToGrant(held: ReadonlySet<Permission>, role: Role): Permission[] {
  return ROLES[role].filter((p) => !held.has(p) && !(NARROWS[p] && held.has(NARROWS[p])))
}
