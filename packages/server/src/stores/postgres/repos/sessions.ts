import { and, asc, eq, gt, isNull, ne, sql } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { sessions, signInTokens, teamMembers, teams, users, type SignInTokenKind } from '../schema.ts';
import type { Tenant } from '../tenant.ts';

/**
 * Users, browser sessions and one-time sign-in tokens. The lookups that come before a tenant exists
 * (email → user, token hash → session or sign-in token, a user's teams) are not team-scoped by
 * nature — they are how the tenant is found — and say so. Everything else takes the tenant first.
 */

/** Pre-tenant: the user signing in. An exact match wins over a case-insensitive one. */
export async function findUserByEmail(db: Db, email: string) {
  const rows = await db
    .select({ id: users.id, email: users.email, name: users.name, passwordHash: users.passwordHash })
    .from(users)
    .where(sql`lower(${users.email}) = lower(${email})`)
    .orderBy(sql`${users.email} = ${email} desc`, asc(users.createdAt))
    .limit(1);
  return rows[0];
}

export async function getUser(db: Db, userId: string) {
  const [u] = await db
    .select({ id: users.id, email: users.email, name: users.name, passwordHash: users.passwordHash })
    .from(users)
    .where(eq(users.id, userId));
  return u;
}

/** Pre-tenant: the teams a user belongs to, oldest membership first (the default team to sign in to). */
export async function listUserTeams(db: Db, userId: string) {
  return db
    .select({ teamId: teams.id, teamName: teams.name, role: teamMembers.role })
    .from(teamMembers)
    .innerJoin(teams, eq(teams.id, teamMembers.teamId))
    .where(eq(teamMembers.userId, userId))
    .orderBy(asc(teamMembers.createdAt), asc(teams.name));
}

/** A user's password is theirs across every team: user-scoped, not team-scoped. */
export async function setPasswordHash(db: Db, userId: string, passwordHash: string): Promise<void> {
  await db.update(users).set({ passwordHash }).where(eq(users.id, userId));
}

export async function insertSession(db: Db, tenant: Pick<Tenant, 'teamId' | 'userId'>, v: { tokenHash: string; csrfToken: string; expiresAt: Date }) {
  const [s] = await db
    .insert(sessions)
    .values({ teamId: tenant.teamId, userId: tenant.userId, ...v })
    .returning({ id: sessions.id });
  return s;
}

/**
 * Pre-tenant: a live session by its token hash, with the member's current role (no membership, no
 * session). Live = before its absolute end and seen within the idle limit.
 */
export async function findLiveSession(db: Db, tokenHash: string, now: Date, idleMs: number) {
  const rows = await db
    .select({
      sessionId: sessions.id,
      teamId: sessions.teamId,
      userId: sessions.userId,
      csrfToken: sessions.csrfToken,
      lastSeenAt: sessions.lastSeenAt,
      role: teamMembers.role,
    })
    .from(sessions)
    .innerJoin(teamMembers, and(eq(teamMembers.teamId, sessions.teamId), eq(teamMembers.userId, sessions.userId)))
    .where(and(eq(sessions.tokenHash, tokenHash), gt(sessions.expiresAt, now), gt(sessions.lastSeenAt, new Date(now.getTime() - idleMs))))
    .limit(1);
  return rows[0];
}

export async function touchSession(db: Db, tenant: Tenant, at: Date): Promise<void> {
  if (!tenant.sessionId) return;
  await db.update(sessions).set({ lastSeenAt: at }).where(and(eq(sessions.teamId, tenant.teamId), eq(sessions.id, tenant.sessionId)));
}

export async function getSessionCsrf(db: Db, tenant: Tenant): Promise<string | undefined> {
  if (!tenant.sessionId) return undefined;
  const [s] = await db
    .select({ csrfToken: sessions.csrfToken })
    .from(sessions)
    .where(and(eq(sessions.teamId, tenant.teamId), eq(sessions.id, tenant.sessionId)));
  return s?.csrfToken;
}

export async function deleteSession(db: Db, tenant: Tenant): Promise<void> {
  if (!tenant.sessionId) return;
  await db.delete(sessions).where(and(eq(sessions.teamId, tenant.teamId), eq(sessions.id, tenant.sessionId)));
}

/** A password change signs the user out everywhere (every team) but the session that made it. */
export async function deleteUserSessions(db: Db, userId: string, keepSessionId: string | null): Promise<void> {
  await db.delete(sessions).where(keepSessionId ? and(eq(sessions.userId, userId), ne(sessions.id, keepSessionId)) : eq(sessions.userId, userId));
}

/** Sessions nobody can use any more (past the absolute end or the idle limit). */
export async function deleteDeadSessions(db: Db, now: Date, idleMs: number): Promise<void> {
  await db.delete(sessions).where(sql`${sessions.expiresAt} <= ${now} or ${sessions.lastSeenAt} <= ${new Date(now.getTime() - idleMs)}`);
}

export async function insertSignInToken(db: Db, tenant: Pick<Tenant, 'teamId'>, v: { userId: string; tokenHash: string; kind: SignInTokenKind; expiresAt: Date }) {
  await db.insert(signInTokens).values({ teamId: tenant.teamId, ...v });
}

/** Pre-tenant: a sign-in token by its hash, whatever its state (the caller explains used/expired). */
export async function findSignInToken(db: Db, tokenHash: string) {
  const [t] = await db.select().from(signInTokens).where(eq(signInTokens.tokenHash, tokenHash));
  return t;
}

/** Marks the token used if it still is usable; false when another request got there first. */
export async function consumeSignInToken(db: Db, tenant: Pick<Tenant, 'teamId'>, id: string, now: Date): Promise<boolean> {
  const r = await db
    .update(signInTokens)
    .set({ usedAt: now })
    .where(and(eq(signInTokens.teamId, tenant.teamId), eq(signInTokens.id, id), isNull(signInTokens.usedAt), gt(signInTokens.expiresAt, now)))
    .returning({ id: signInTokens.id });
  return r.length > 0;
}
