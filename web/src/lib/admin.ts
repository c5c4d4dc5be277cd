import type { components } from './api/schema';
import type { User } from './api/client';

export type Role = components['schemas']['AuthUser']['role'];
export const roles: Role[] = ['SUPER_ADMIN', 'ADMIN', 'DEVELOPER', 'SUPPORT', 'MEMBER'];
export const plans = ['FREE', 'STARTER', 'PRO', 'BUSINESS', 'ENTERPRISE'];

// The admin area follows the API's permissions: SUPPORT may read
// accounts; only SUPER_ADMIN and ADMIN change anything, manage flags or
// review the marketplace; only SUPER_ADMIN impersonates.
export function canReadUsers(u: User | null): boolean {
  return !!u && (u.role === 'SUPER_ADMIN' || u.role === 'ADMIN' || u.role === 'SUPPORT');
}
export function isAdmin(u: User | null): boolean {
  return !!u && (u.role === 'SUPER_ADMIN' || u.role === 'ADMIN');
}
export function canImpersonate(u: User | null): boolean {
  return !!u && u.role === 'SUPER_ADMIN';
}
