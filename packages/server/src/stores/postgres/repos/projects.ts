import { and, desc, eq, ilike, isNotNull, isNull, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { projects, teams } from '../schema.ts';
import { afterCursor, isUuid, likeLiteral, type Tenant } from '../tenant.ts';

export type ProjectRow = typeof projects.$inferSelect;

/** By UUID first, then by name — the API accepts either in a {project_id} segment. */
export async function findProject(db: Db, tenant: Tenant, idOrName: string): Promise<ProjectRow | undefined> {
  if (isUuid(idOrName)) {
    const [p] = await db.select().from(projects).where(and(eq(projects.teamId, tenant.teamId), eq(projects.id, idOrName)));
    if (p) return p;
  }
  const [p] = await db.select().from(projects).where(and(eq(projects.teamId, tenant.teamId), eq(projects.name, idOrName)));
  return p;
}

/** Newest first; soft-deleted projects only with `includeDeleted`. */
export async function listProjects(db: Db, tenant: Tenant, q: { limit: number; cursor?: string; name?: string; includeDeleted?: boolean }) {
  const where: SQL[] = [eq(projects.teamId, tenant.teamId)];
  if (!q.includeDeleted) where.push(isNull(projects.deletedAt));
  if (q.name) where.push(ilike(projects.name, likeLiteral(q.name)));
  const after = afterCursor(projects, q.cursor);
  if (after) where.push(after);
  return db
    .select()
    .from(projects)
    .where(and(...where))
    .orderBy(desc(projects.createdAt), desc(projects.id))
    .limit(q.limit + 1);
}

export async function insertProject(db: Db, tenant: Tenant, v: { id?: string; name: string; description?: string | null; retentionDays?: number; tags?: Record<string, string>; artifactLocation?: string | null }) {
  const [p] = await db
    .insert(projects)
    .values({ ...v, teamId: tenant.teamId })
    .onConflictDoNothing()
    .returning();
  return p;
}

export async function updateProject(db: Db, tenant: Tenant, id: string, v: Partial<Pick<ProjectRow, 'name' | 'description' | 'retentionDays'>>) {
  const [p] = await db
    .update(projects)
    .set({ ...v, updatedAt: new Date() })
    .where(and(eq(projects.teamId, tenant.teamId), eq(projects.id, id)))
    .returning();
  return p;
}

export async function deleteProject(db: Db, tenant: Tenant, id: string): Promise<boolean> {
  const r = await db.delete(projects).where(and(eq(projects.teamId, tenant.teamId), eq(projects.id, id))).returning({ id: projects.id });
  return r.length > 0;
}

/**
 * MLflow's default experiment: made on first use, dated as old as the team so that it sorts as
 * the oldest experiment, where MLflow (which creates it with its store) has it. A no-op if taken.
 */
export async function insertDefaultProject(db: Db, tenant: Tenant, name: string): Promise<void> {
  const teamCreated = sql<Date>`(select ${teams.createdAt} from ${teams} where ${teams.id} = ${tenant.teamId})`;
  await db.insert(projects).values({ name, teamId: tenant.teamId, createdAt: teamCreated, updatedAt: teamCreated }).onConflictDoNothing();
}

/**
 * Soft delete (a date) or restore (null), only from the other state: undefined when the project is
 * missing or already there, so of two concurrent deletes exactly one wins (MLflow's answer to the
 * other is "does not exist") and the first deletion date is kept.
 */
export async function setProjectDeleted(db: Db, tenant: Tenant, id: string, deletedAt: Date | null): Promise<ProjectRow | undefined> {
  const [p] = await db
    .update(projects)
    .set({ deletedAt, updatedAt: new Date() })
    .where(and(eq(projects.teamId, tenant.teamId), eq(projects.id, id), deletedAt ? isNull(projects.deletedAt) : isNotNull(projects.deletedAt)))
    .returning();
  return p;
}

/** One key/value tag set (jsonb `||`: atomic, other keys untouched). */
export async function setProjectTag(db: Db, tenant: Tenant, id: string, key: string, value: string): Promise<void> {
  await db
    .update(projects)
    .set({ tags: sql`${projects.tags} || jsonb_build_object(${key}::text, ${value}::text)`, updatedAt: new Date() })
    .where(and(eq(projects.teamId, tenant.teamId), eq(projects.id, id)));
}

/** Removes one tag; false when the project had no such key. */
export async function deleteProjectTag(db: Db, tenant: Tenant, id: string, key: string): Promise<boolean> {
  const r = await db
    .update(projects)
    .set({ tags: sql`${projects.tags} - ${key}::text`, updatedAt: new Date() })
    .where(and(eq(projects.teamId, tenant.teamId), eq(projects.id, id), sql`${projects.tags} ? ${key}::text`))
    .returning({ id: projects.id });
  return r.length > 0;
}
