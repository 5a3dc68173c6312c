import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { apiKeys, sessions, signInTokens, teamMembers, teams, users, type Role } from '../schema.ts';
import type { Tenant } from '../tenant.ts';

export interface NewKey {
  prefix: string;
  keyHash: string;
}

/** Bootstrap: a team, its first admin user and that admin's key, in one transaction. */
export async function createTeamWithAdmin(db: Db, name: string, email: string, key: NewKey, passwordHash?: string) {
  return db.transaction(async (tx) => {
    const [team] = await tx.insert(teams).values({ name }).returning();
    const [user] = await tx
      .insert(users)
      .values({ email, passwordHash })
      // an existing user keeps their password unless the operator sets a new one
      .onConflictDoUpdate({ target: users.email, set: passwordHash ? { passwordHash } : { email: sql`excluded.email` } })
      .returning();
    await tx.insert(teamMembers).values({ teamId: team.id, userId: user.id, role: 'admin' });
    const [k] = await tx
      .insert(apiKeys)
      .values({ teamId: team.id, userId: user.id, name: 'admin (bootstrap)', prefix: key.prefix, keyHash: key.keyHash, role: 'admin' })
      .returning();
    return { team, user, key: k };
  });
}

export async function teamNameTaken(db: Db, name: string): Promise<boolean> {
  const r = await db.select({ id: teams.id }).from(teams).where(eq(teams.name, name)).limit(1);
  return r.length > 0;
}

/** Resolves a key hash to its tenant. Not tenant-scoped by nature: this is how the tenant is found. */
export async function findActiveKey(db: Db, keyHash: string) {
  const rows = await db
    .select({ keyId: apiKeys.id, teamId: apiKeys.teamId, userId: apiKeys.userId, keyRole: apiKeys.role, memberRole: teamMembers.role, lastUsedAt: apiKeys.lastUsedAt })
    .from(apiKeys)
    .innerJoin(teamMembers, and(eq(teamMembers.teamId, apiKeys.teamId), eq(teamMembers.userId, apiKeys.userId)))
    .where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt)))
    .limit(1);
  return rows[0];
}

export async function touchKey(db: Db, tenant: Tenant, at: Date): Promise<void> {
  if (!tenant.keyId) return;
  await db.update(apiKeys).set({ lastUsedAt: at }).where(and(eq(apiKeys.teamId, tenant.teamId), eq(apiKeys.id, tenant.keyId)));
}

export async function getMe(db: Db, tenant: Tenant) {
  const rows = await db
    .select({ teamName: teams.name, email: users.email })
    .from(teams)
    .innerJoin(users, eq(users.id, tenant.userId))
    .where(eq(teams.id, tenant.teamId));
  return rows[0];
}

export async function listKeys(db: Db, tenant: Tenant) {
  return db.select().from(apiKeys).where(eq(apiKeys.teamId, tenant.teamId)).orderBy(asc(apiKeys.createdAt));
}

export async function insertKey(db: Db, tenant: Tenant, v: { userId: string; name: string; role: Role } & NewKey) {
  const [k] = await db.insert(apiKeys).values({ ...v, teamId: tenant.teamId }).returning();
  return k;
}

export async function revokeKey(db: Db, tenant: Tenant, keyId: string) {
  const [k] = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.teamId, tenant.teamId), eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)))
    .returning();
  return k;
}

export async function getKey(db: Db, tenant: Tenant, keyId: string) {
  const [k] = await db.select().from(apiKeys).where(and(eq(apiKeys.teamId, tenant.teamId), eq(apiKeys.id, keyId)));
  return k;
}

export async function listMembers(db: Db, tenant: Tenant) {
  return db
    .select({ userId: users.id, email: users.email, name: users.name, role: teamMembers.role, createdAt: teamMembers.createdAt })
    .from(teamMembers)
    .innerJoin(users, eq(users.id, teamMembers.userId))
    .where(eq(teamMembers.teamId, tenant.teamId))
    .orderBy(asc(teamMembers.createdAt));
}

export async function getMemberRole(db: Db, tenant: Tenant, userId: string): Promise<Role | undefined> {
  const [m] = await db
    .select({ role: teamMembers.role })
    .from(teamMembers)
    .where(and(eq(teamMembers.teamId, tenant.teamId), eq(teamMembers.userId, userId)));
  return m?.role;
}

/** Adds (or re-roles) a member; the user row is shared across teams and keyed by email. */
export async function upsertMember(db: Db, tenant: Tenant, email: string, role: Role, name?: string) {
  return db.transaction(async (tx) => {
    const [user] = await tx
      .insert(users)
      .values({ email, name })
      .onConflictDoUpdate({ target: users.email, set: { email: sql`excluded.email` } })
      .returning();
    await tx
      .insert(teamMembers)
      .values({ teamId: tenant.teamId, userId: user.id, role })
      .onConflictDoUpdate({ target: [teamMembers.teamId, teamMembers.userId], set: { role } });
    return { user, role };
  });
}

export async function countAdmins(db: Db, tenant: Tenant): Promise<number> {
  const [r] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(teamMembers)
    .where(and(eq(teamMembers.teamId, tenant.teamId), eq(teamMembers.role, 'admin')));
  return r.n;
}

export async function removeMember(db: Db, tenant: Tenant, userId: string) {
  return db.transaction(async (tx) => {
    const removed = await tx
      .delete(teamMembers)
      .where(and(eq(teamMembers.teamId, tenant.teamId), eq(teamMembers.userId, userId)))
      .returning();
    // A removed member's keys for this team stop working at once.
    if (removed.length) {
      await tx
        .update(apiKeys)
        .set({ revokedAt: new Date() })
        .where(and(eq(apiKeys.teamId, tenant.teamId), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)));
      // … and so do their browser sessions and any unused invite or sign-in link to this team
      await tx.delete(sessions).where(and(eq(sessions.teamId, tenant.teamId), eq(sessions.userId, userId)));
      await tx.delete(signInTokens).where(and(eq(signInTokens.teamId, tenant.teamId), eq(signInTokens.userId, userId)));
    }
    return removed.length > 0;
  });
}
