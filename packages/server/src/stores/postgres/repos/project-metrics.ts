import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { projectMetrics } from '../schema.ts';
import type { Tenant } from '../tenant.ts';

export type ProjectMetricRow = typeof projectMetrics.$inferSelect;
export type ProjectMetricValues = Pick<ProjectMetricRow, 'direction' | 'aggregation' | 'sourceType' | 'expression' | 'description'>;

/** Configured metrics of a project; with `names`, only those (an empty list selects nothing). */
export async function listProjectMetrics(db: Db, tenant: Tenant, projectId: string, names?: string[]): Promise<ProjectMetricRow[]> {
  if (names && names.length === 0) return [];
  const where = [eq(projectMetrics.teamId, tenant.teamId), eq(projectMetrics.projectId, projectId)];
  if (names) where.push(inArray(projectMetrics.name, names));
  return db.select().from(projectMetrics).where(and(...where)).orderBy(projectMetrics.name);
}

/** Insert or replace the whole configuration of one metric (the service merged the request into the old row). */
export async function upsertProjectMetric(db: Db, tenant: Tenant, projectId: string, name: string, v: ProjectMetricValues): Promise<ProjectMetricRow> {
  const [row] = await db
    .insert(projectMetrics)
    .values({ ...v, teamId: tenant.teamId, projectId, name })
    .onConflictDoUpdate({ target: [projectMetrics.projectId, projectMetrics.name], set: { ...v, updatedAt: new Date() } })
    .returning();
  return row;
}

export async function deleteProjectMetric(db: Db, tenant: Tenant, projectId: string, name: string): Promise<boolean> {
  const r = await db
    .delete(projectMetrics)
    .where(and(eq(projectMetrics.teamId, tenant.teamId), eq(projectMetrics.projectId, projectId), eq(projectMetrics.name, name)))
    .returning({ id: projectMetrics.id });
  return r.length > 0;
}

/**
 * Read the project's configured metrics, let `decide` check them and build the new row (it throws
 * to refuse), and write it — under a per-project advisory lock, so two concurrent PUTs cannot each
 * pass a check that only holds for one of them (e.g. two derived metrics naming each other).
 */
export async function upsertProjectMetricChecked(
  db: Db,
  tenant: Tenant,
  projectId: string,
  name: string,
  decide: (rows: ProjectMetricRow[]) => ProjectMetricValues,
): Promise<ProjectMetricRow> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`project_metrics:${projectId}`}, 0))`);
    const rows = await listProjectMetrics(tx, tenant, projectId);
    return upsertProjectMetric(tx, tenant, projectId, name, decide(rows));
  });
}
