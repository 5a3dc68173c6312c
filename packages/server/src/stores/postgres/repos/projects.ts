import { and, desc, eq, ilike, type SQL } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { projects } from '../schema.ts';
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

export async function listProjects(db: Db, tenant: Tenant, q: { limit: number; cursor?: string; name?: string }) {
  const where: SQL[] = [eq(projects.teamId, tenant.teamId)];
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

export async function insertProject(db: Db, tenant: Tenant, v: { name: string; description?: string | null; retentionDays?: number }) {
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
