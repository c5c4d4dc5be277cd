import type { components } from './api/schema';

export type OrgRole = components['schemas']['OrgMember']['orgRole'];
export type Member = components['schemas']['OrgMember'];
export type Department = components['schemas']['OrgDepartment'];
export type Invitation = components['schemas']['OrgInvitation'];
export type AuditRow = components['schemas']['AuditRow'];

export const roles: { value: OrgRole; label: string }[] = [
  { value: 'ORG_OWNER', label: 'Owner' },
  { value: 'ORG_ADMIN', label: 'Admin' },
  { value: 'DEPT_MANAGER', label: 'Department manager' },
  { value: 'ORG_MEMBER', label: 'Member' },
];

export function roleLabel(r: string | undefined): string {
  return roles.find((x) => x.value === r)?.label ?? r ?? '';
}
