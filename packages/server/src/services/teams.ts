import type { AppContext } from '../context.ts';
import { conflict, HttpError, notFound } from '../errors.ts';
import * as repo from '../stores/postgres/repos/teams.ts';
import type { Db } from '../stores/postgres/db.ts';
import { roleAtLeast, type Tenant } from '../stores/postgres/tenant.ts';
import type { Role } from '../stores/postgres/schema.ts';
import { requireRole, type Authenticator } from './auth.ts';
import { generateApiKey } from './keys.ts';
import { hashPassword } from './passwords.ts';
import { createSignInLink } from './sessions.ts';
import { deleteUserSessions } from '../stores/postgres/repos/sessions.ts';

/**
 * Bootstrap a team (CLI `assay team create`, or the local admin endpoint it calls). With a password
 * the admin can sign in at once; without one, given the public URL, a one-time sign-in link.
 */
export async function createTeam(db: Db, name: string, email?: string, signIn: { password?: string; publicUrl?: string } = {}) {
  if (await repo.teamNameTaken(db, name)) throw conflict(`A team named "${name}" already exists`);
  const key = generateApiKey();
  const adminEmail = email ?? `admin@${name.toLowerCase().replace(/[^a-z0-9]+/g, '-') || 'team'}.local`;
  const passwordHash = signIn.password ? await hashPassword(signIn.password) : undefined;
  const { team, user } = await repo.createTeamWithAdmin(db, name, adminEmail, key, passwordHash);
  const created = { team_id: team.id, user_id: user.id, api_key: key.apiKey };
  if (passwordHash) await deleteUserSessions(db, user.id, null);
  if (passwordHash || !signIn.publicUrl) return created;
  return { ...created, sign_in_url: await createSignInLink(db, signIn.publicUrl, { teamId: team.id }, user.id, 'sign_in') };
}

export async function me(ctx: AppContext, tenant: Tenant) {
  const m = await repo.getMe(ctx.pg.db, tenant);
  if (!m) throw notFound('Team');
  return { team_id: tenant.teamId, team_name: m.teamName, user_id: tenant.userId, email: m.email, role: tenant.role, key_id: tenant.keyId };
}

type KeyRow = Awaited<ReturnType<typeof repo.listKeys>>[number];
const keyDto = (k: KeyRow) => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  role: k.role,
  user_id: k.userId,
  created_at: k.createdAt.toISOString(),
  last_used_at: k.lastUsedAt?.toISOString() ?? null,
  revoked_at: k.revokedAt?.toISOString() ?? null,
});

/** Admins see every key of the team; others see their own. */
export async function listKeys(ctx: AppContext, tenant: Tenant) {
  const keys = await repo.listKeys(ctx.pg.db, tenant);
  return { items: keys.filter((k) => tenant.role === 'admin' || k.userId === tenant.userId).map(keyDto) };
}

export async function createKey(ctx: AppContext, tenant: Tenant, body: { name: string; role?: Role; user_id?: string }) {
  const userId = body.user_id ?? tenant.userId;
  if (userId !== tenant.userId) requireRole(tenant, 'admin');
  const memberRole = await repo.getMemberRole(ctx.pg.db, tenant, userId);
  if (!memberRole) throw notFound('Team member');
  const role = body.role ?? memberRole;
  if (!roleAtLeast(memberRole, role) || !roleAtLeast(tenant.role, role)) {
    throw new HttpError(403, `A key cannot carry more than the ${roleAtLeast(tenant.role, memberRole) ? memberRole : tenant.role} role`);
  }
  const key = generateApiKey();
  const row = await repo.insertKey(ctx.pg.db, tenant, { userId, name: body.name, role, prefix: key.prefix, keyHash: key.keyHash });
  return { ...keyDto(row), api_key: key.apiKey };
}

export async function revokeKey(ctx: AppContext, auth: Authenticator, tenant: Tenant, keyId: string) {
  const key = await repo.getKey(ctx.pg.db, tenant, keyId);
  if (!key) throw notFound('API key');
  if (key.userId !== tenant.userId) requireRole(tenant, 'admin');
  const revoked = await repo.revokeKey(ctx.pg.db, tenant, keyId);
  auth.invalidate();
  return keyDto(revoked ?? key);
}

type MemberRow = Awaited<ReturnType<typeof repo.listMembers>>[number];
const memberDto = (m: MemberRow) => ({ user_id: m.userId, email: m.email, name: m.name, role: m.role, created_at: m.createdAt.toISOString() });

export async function listMembers(ctx: AppContext, tenant: Tenant) {
  return { items: (await repo.listMembers(ctx.pg.db, tenant)).map(memberDto) };
}

/** Adds or re-roles a member; a user without a password gets a one-time invite link to set one. */
export async function addMember(ctx: AppContext, auth: Authenticator, tenant: Tenant, body: { email: string; role: Role; name?: string }) {
  requireRole(tenant, 'admin');
  const { user } = await repo.upsertMember(ctx.pg.db, tenant, body.email, body.role, body.name);
  auth.invalidate();
  const m = (await repo.listMembers(ctx.pg.db, tenant)).find((x) => x.userId === user.id)!;
  const inviteUrl = user.passwordHash ? null : await createSignInLink(ctx.pg.db, ctx.config.publicUrl, tenant, user.id, 'invite');
  return { ...memberDto(m), invite_url: inviteUrl };
}

export async function removeMember(ctx: AppContext, auth: Authenticator, tenant: Tenant, userId: string) {
  requireRole(tenant, 'admin');
  const role = await repo.getMemberRole(ctx.pg.db, tenant, userId);
  if (!role) throw notFound('Team member');
  if (role === 'admin' && (await repo.countAdmins(ctx.pg.db, tenant)) <= 1) throw conflict('A team needs at least one admin');
  await repo.removeMember(ctx.pg.db, tenant, userId);
  auth.invalidate();
}
