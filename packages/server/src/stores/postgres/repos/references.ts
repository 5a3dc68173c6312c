import { and, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { experimentReferences, experiments } from '../schema.ts';
import type { Tenant } from '../tenant.ts';

/**
 * The experiment DAG. An edge (experiment_id → parent_id, kind) reads "experiment_id was derived
 * from / resumes / uses a checkpoint of / compares to parent_id". `experiments.parent_id` mirrors
 * the run's first `derived_from` edge (the seed's column); this table holds them all.
 */
export interface EdgeRow {
  from: string;
  to: string;
  kind: string;
  depth: number;
}

const rowsOf = <T>(r: unknown): T[] => (r as { rows: T[] }).rows;

const kindFilter = (column: SQL, kinds: readonly string[] | undefined) =>
  kinds?.length ? sql`AND ${column} IN (${sql.join(kinds.map((k) => sql`${k}`), sql`, `)})` : sql``;

export type AddResult = 'added' | 'exists' | 'cycle';

/**
 * Adds an edge unless it would close a cycle: `to` must not already descend from `from`. The check
 * and the insert run under a per-team advisory lock, so two concurrent inserts cannot each pass the
 * check and together make a cycle.
 */
export async function addReference(db: Db, tenant: Tenant, from: string, to: string, kind: string): Promise<AddResult> {
  if (from === to) return 'cycle';
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`refs:${tenant.teamId}`}, 0))`);
    const reach = await tx.execute(sql`
      WITH RECURSIVE up(id) AS (
        SELECT parent_id FROM experiment_references WHERE team_id = ${tenant.teamId} AND experiment_id = ${to}
        UNION
        SELECT r.parent_id FROM experiment_references r JOIN up ON r.experiment_id = up.id WHERE r.team_id = ${tenant.teamId}
      )
      SELECT 1 AS hit FROM up WHERE id = ${from} LIMIT 1`);
    if (rowsOf(reach).length) return 'cycle';
    const inserted = await tx
      .insert(experimentReferences)
      .values({ teamId: tenant.teamId, experimentId: from, parentId: to, kind })
      .onConflictDoNothing()
      .returning({ kind: experimentReferences.kind });
    if (!inserted.length) return 'exists';
    if (kind === 'derived_from') {
      await tx
        .update(experiments)
        .set({ parentId: to, updatedAt: new Date() })
        .where(and(eq(experiments.teamId, tenant.teamId), eq(experiments.id, from), isNull(experiments.parentId)));
    }
    return 'added';
  });
}

/** Removes the edges from → to (of one kind, or all); clears `parent_id` when its edge goes. */
export async function removeReferences(db: Db, tenant: Tenant, from: string, to: string, kind?: string): Promise<number> {
  return db.transaction(async (tx) => {
    const where = [eq(experimentReferences.teamId, tenant.teamId), eq(experimentReferences.experimentId, from), eq(experimentReferences.parentId, to)];
    if (kind) where.push(eq(experimentReferences.kind, kind));
    const gone = await tx.delete(experimentReferences).where(and(...where)).returning({ kind: experimentReferences.kind });
    if (gone.some((g) => g.kind === 'derived_from')) {
      await tx
        .update(experiments)
        .set({ parentId: null, updatedAt: new Date() })
        .where(and(eq(experiments.teamId, tenant.teamId), eq(experiments.id, from), eq(experiments.parentId, to)));
    }
    return gone.length;
  });
}

/**
 * Edges reachable from `root` walking up (towards what it was derived from) or down, to `maxDepth`
 * edges, plus one more level so the caller can tell whether the walk was cut. UNION (not UNION ALL)
 * keeps the walk finite on diamonds; an edge reached at several depths is reported by the caller
 * once, at its smallest.
 */
export async function walk(db: Db, tenant: Tenant, root: string, direction: 'up' | 'down', maxDepth: number, kinds?: readonly string[]): Promise<EdgeRow[]> {
  const t = tenant.teamId;
  const limit = maxDepth + 1;
  const q =
    direction === 'up'
      ? sql`
      WITH RECURSIVE w(src, dst, kind, depth) AS (
        SELECT experiment_id, parent_id, kind, 1 FROM experiment_references
        WHERE team_id = ${t} AND experiment_id = ${root} ${kindFilter(sql`kind`, kinds)}
        UNION
        SELECT r.experiment_id, r.parent_id, r.kind, w.depth + 1 FROM experiment_references r JOIN w ON r.experiment_id = w.dst
        WHERE r.team_id = ${t} AND w.depth < ${limit} ${kindFilter(sql`r.kind`, kinds)}
      )
      SELECT src::text AS "from", dst::text AS "to", kind, depth FROM w`
      : sql`
      WITH RECURSIVE w(src, dst, kind, depth) AS (
        SELECT experiment_id, parent_id, kind, 1 FROM experiment_references
        WHERE team_id = ${t} AND parent_id = ${root} ${kindFilter(sql`kind`, kinds)}
        UNION
        SELECT r.experiment_id, r.parent_id, r.kind, w.depth + 1 FROM experiment_references r JOIN w ON r.parent_id = w.src
        WHERE r.team_id = ${t} AND w.depth < ${limit} ${kindFilter(sql`r.kind`, kinds)}
      )
      SELECT src::text AS "from", dst::text AS "to", kind, depth FROM w`;
  return rowsOf<EdgeRow>(await db.execute(q)).map((r) => ({ ...r, depth: Number(r.depth) }));
}

export async function experimentsByIds(db: Db, tenant: Tenant, ids: string[]) {
  if (!ids.length) return [];
  return db
    .select({ id: experiments.id, name: experiments.name, status: experiments.status, projectId: experiments.projectId })
    .from(experiments)
    .where(and(eq(experiments.teamId, tenant.teamId), inArray(experiments.id, ids)));
}
