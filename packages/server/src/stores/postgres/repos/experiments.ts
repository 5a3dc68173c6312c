import { featuresJsonSize, featuresTooLarge, LIMITS } from '@assay/contracts';
import { and, desc, eq, getTableColumns, ilike, inArray, isNotNull, isNull, lt, or, sql, type SQL } from 'drizzle-orm';
import { FeaturesTooLargeError } from '../../errors.ts';
import type { Db } from '../db.ts';
import { experimentReferences, experiments, projects, type ExperimentStatus } from '../schema.ts';
import { afterCursor, isUuid, likeLiteral, type Tenant } from '../tenant.ts';

export type ExperimentRow = typeof experiments.$inferSelect;

/** A run's stored features stay within LIMITS.featuresJsonMax, however many requests built them. */
function requireFeaturesFit(features: unknown): void {
  const n = featuresJsonSize(features);
  if (n > LIMITS.featuresJsonMax) throw new FeaturesTooLargeError(featuresTooLarge(n, "in a run's stored features (after merging this request into them)"));
}

const scope = (tenant: Tenant, projectId: string) => and(eq(experiments.teamId, tenant.teamId), eq(experiments.projectId, projectId));

export async function findExperiment(db: Db, tenant: Tenant, projectId: string, idOrName: string): Promise<ExperimentRow | undefined> {
  if (isUuid(idOrName)) {
    const [e] = await db.select().from(experiments).where(and(scope(tenant, projectId), eq(experiments.id, idOrName)));
    if (e) return e;
  }
  const [e] = await db.select().from(experiments).where(and(scope(tenant, projectId), eq(experiments.name, idOrName)));
  return e;
}

/** Resolves many ids-or-names in one project; unknown ones are simply absent from the result. */
export async function findExperiments(db: Db, tenant: Tenant, projectId: string, idsOrNames: string[]): Promise<ExperimentRow[]> {
  const ids = idsOrNames.filter(isUuid);
  const match = ids.length ? or(inArray(experiments.id, ids), inArray(experiments.name, idsOrNames)) : inArray(experiments.name, idsOrNames);
  return db.select().from(experiments).where(and(scope(tenant, projectId), match));
}

export async function listExperiments(
  db: Db,
  tenant: Tenant,
  projectId: string,
  q: { limit: number; cursor?: string; name?: string; status?: ExperimentStatus; tag?: string; include_deleted?: boolean; ids?: string[] },
) {
  const where: SQL[] = [scope(tenant, projectId)!];
  if (q.ids) {
    const uuids = q.ids.filter(isUuid);
    where.push((uuids.length ? or(inArray(experiments.id, uuids), inArray(experiments.name, q.ids)) : inArray(experiments.name, q.ids.length ? q.ids : ['']))!);
  }
  // soft-deleted runs (MLflow delete_run) are hidden unless asked for
  if (!q.include_deleted) where.push(isNull(experiments.deletedAt));
  if (q.name) where.push(ilike(experiments.name, likeLiteral(q.name)));
  if (q.status) where.push(eq(experiments.status, q.status));
  if (q.tag) where.push(sql`${experiments.tags} @> ${JSON.stringify([q.tag])}::jsonb`);
  const after = afterCursor(experiments, q.cursor);
  if (after) where.push(after);
  return db
    .select()
    .from(experiments)
    .where(and(...where))
    .orderBy(desc(experiments.createdAt), desc(experiments.id))
    .limit(q.limit + 1);
}

export async function insertExperiment(
  db: Db,
  tenant: Tenant,
  projectId: string,
  v: { name: string; description?: string | null; features?: Record<string, unknown>; tags?: string[]; parentId?: string | null; host?: string | null; startedAt?: Date },
) {
  requireFeaturesFit(v.features ?? {});
  return db.transaction(async (tx) => {
    const [e] = await tx
      .insert(experiments)
      .values({ ...v, teamId: tenant.teamId, projectId, heartbeatAt: new Date() })
      .onConflictDoNothing()
      .returning();
    if (e && v.parentId) {
      await tx.insert(experimentReferences).values({ teamId: tenant.teamId, experimentId: e.id, parentId: v.parentId });
    }
    return e;
  });
}

export async function updateExperiment(
  db: Db,
  tenant: Tenant,
  projectId: string,
  id: string,
  v: Partial<Pick<ExperimentRow, 'name' | 'description' | 'status' | 'tags' | 'host' | 'git' | 'startedAt' | 'finishedAt' | 'heartbeatAt' | 'deletedAt'>> & {
    mergeFeatures?: Record<string, unknown>;
    /** Appended to the stored tags, skipping those already there. */
    addTags?: string[];
  },
) {
  const { mergeFeatures, addTags, ...rest } = v;
  const set: Record<string, unknown> = { ...rest, updatedAt: new Date() };
  // Merges happen in the database so concurrent updates never lose each other's keys or tags.
  if (mergeFeatures) set.features = sql`assay_jsonb_deep_merge(${experiments.features}, ${JSON.stringify(mergeFeatures)}::jsonb)`;
  if (addTags?.length) {
    set.tags = sql`${experiments.tags} || coalesce((
      SELECT jsonb_agg(n.v ORDER BY n.o) FROM (
        SELECT b.v, min(b.o) AS o FROM jsonb_array_elements(${JSON.stringify(addTags)}::jsonb) WITH ORDINALITY AS b(v, o)
        WHERE NOT ${experiments.tags} @> jsonb_build_array(b.v)
        GROUP BY b.v
      ) n), '[]'::jsonb)`;
  }
  const update = (d: Db) => d.update(experiments).set(set).where(and(scope(tenant, projectId), eq(experiments.id, id))).returning();
  if (!mergeFeatures) return (await update(db))[0];
  // The merged size is known only after the merge: checked inside the transaction, refused by rolling back.
  return db.transaction(async (tx) => {
    const [e] = await update(tx);
    if (e) requireFeaturesFit(e.features);
    return e;
  });
}

export async function deleteExperiment(db: Db, tenant: Tenant, projectId: string, id: string): Promise<boolean> {
  const r = await db.delete(experiments).where(and(scope(tenant, projectId), eq(experiments.id, id))).returning({ id: experiments.id });
  return r.length > 0;
}

export async function listExperimentIds(db: Db, tenant: Tenant, projectId: string): Promise<string[]> {
  const rows = await db.select({ id: experiments.id }).from(experiments).where(scope(tenant, projectId));
  return rows.map((r) => r.id);
}

/**
 * A heartbeat: records the time; a `crashed` run comes back to `running` (its finish time cleared).
 * Complete and failed runs keep their status — a late heartbeat must not reopen a finished run.
 */
export async function touchHeartbeat(db: Db, tenant: Tenant, projectId: string, id: string, at: Date) {
  const revive = sql`${experiments.status} = 'crashed'`;
  const [e] = await db
    .update(experiments)
    .set({
      heartbeatAt: at,
      status: sql`CASE WHEN ${revive} THEN 'running' ELSE ${experiments.status} END`,
      finishedAt: sql`CASE WHEN ${revive} THEN NULL ELSE ${experiments.finishedAt} END`,
      updatedAt: sql`CASE WHEN ${revive} THEN ${at.toISOString()}::timestamptz ELSE ${experiments.updatedAt} END`,
    })
    .where(and(scope(tenant, projectId), eq(experiments.id, id)))
    .returning({ status: experiments.status, heartbeatAt: experiments.heartbeatAt });
  return e;
}

/**
 * SYSTEM JOB — the one deliberately cross-tenant query in the repositories: the crash sweeper marks
 * every `running` experiment whose last heartbeat (or start, if it never sent one) is older than
 * `cutoff` as `crashed`, with `finished_at` = that last sign of life. It reads no tenant data and
 * returns only ids; the status predicate in the same statement means a heartbeat that lands first wins.
 */
export async function markStaleRunsCrashed(
  db: Db,
  cutoff: Date,
  at: Date = new Date(),
  /** Restrict to these teams — for tests sharing one PostgreSQL with other suites; the server sweeps all. */
  onlyTeams?: string[],
): Promise<{ id: string; teamId: string }[]> {
  const lastSeen = sql`coalesce(${experiments.heartbeatAt}, ${experiments.startedAt})`;
  return db
    .update(experiments)
    .set({ status: 'crashed', finishedAt: sql`${lastSeen}`, updatedAt: at })
    .where(
      and(
        eq(experiments.status, 'running'),
        onlyTeams ? inArray(experiments.teamId, onlyTeams) : undefined,
        // Spelled out (not lt(coalesce…)) so the (status, heartbeat_at) index serves it.
        or(lt(experiments.heartbeatAt, cutoff), and(isNull(experiments.heartbeatAt), lt(experiments.startedAt, cutoff))),
      ),
    )
    .returning({ id: experiments.id, teamId: experiments.teamId });
}

/** A run by id alone, in any project of the tenant's team (MLflow addresses runs by run_id only). */
export async function findExperimentInTeam(db: Db, tenant: Tenant, id: string): Promise<ExperimentRow | undefined> {
  if (!isUuid(id)) return undefined;
  const [e] = await db.select().from(experiments).where(and(eq(experiments.teamId, tenant.teamId), eq(experiments.id, id)));
  return e;
}

/** By id alone, with its project's soft delete (MLflow: a run of a deleted experiment is deleted) — one read. */
export async function findExperimentWithProjectState(db: Db, tenant: Tenant, id: string): Promise<(ExperimentRow & { projectDeletedAt: Date | null; projectRetentionDays: number }) | undefined> {
  if (!isUuid(id)) return undefined;
  const [r] = await db
    .select({ e: experiments, projectDeletedAt: projects.deletedAt, projectRetentionDays: projects.retentionDays })
    .from(experiments)
    .innerJoin(projects, and(eq(projects.id, experiments.projectId), eq(projects.teamId, tenant.teamId)))
    .where(and(eq(experiments.teamId, tenant.teamId), eq(experiments.id, id)));
  return r ? { ...r.e, projectDeletedAt: r.projectDeletedAt, projectRetentionDays: r.projectRetentionDays } : undefined;
}

/**
 * Equality clauses of an MLflow search (`params.k = 'v'`, `tags.k IN (…)`) as SQL pre-filters, so a
 * search reads only the runs that can match instead of every run of the project. Each keeps a
 * superset of the exact match, which the caller still evaluates in memory: a param stored as a
 * non-string feature (it reads back as its JSON text) and a run with Assay's string tag `k` pass.
 * Keys and values are bound parameters.
 */
export interface RunMatch {
  /** [flat feature key, accepted values] */
  params: [string, string[]][];
  /** [key under features.mlflow.tags, accepted values] */
  tags: [string, string[]][];
}
function runMatch(m: RunMatch | undefined): SQL[] {
  if (!m) return [];
  const f = experiments.features;
  const values = (v: string[]) => sql`ARRAY[${sql.join(v.map((x) => sql`${x}`), sql`, `)}]::text[]`;
  return [
    ...m.params.map(([k, v]) => sql`(${f} ->> ${k}::text = ANY(${values(v)}) OR jsonb_typeof(${f} -> ${k}::text) IN ('number', 'boolean', 'array', 'null'))`),
    ...m.tags.map(([k, v]) => sql`(${f} #>> ARRAY['mlflow', 'tags', ${k}::text] = ANY(${values(v)}) OR jsonb_typeof(${f} #> ARRAY['mlflow', 'tags', ${k}::text]) IN ('number', 'boolean') OR ${experiments.tags} @> jsonb_build_array(${k}::text))`),
  ];
}

/**
 * Runs of these projects by lifecycle (MLflow search_runs filters them in memory). With `page`, only
 * that slice in MLflow's default order (newest start first, then id) — the unfiltered search. The
 * code snapshot (`git`, up to megabytes of diff) is not read: no search needs it.
 */
export async function listProjectsExperiments(
  db: Db,
  tenant: Tenant,
  projectIds: string[],
  lifecycle: 'active' | 'deleted' | 'all',
  page?: { limit: number; offset: number },
  match?: RunMatch,
): Promise<ExperimentRow[]> {
  if (!projectIds.length) return [];
  const life = lifecycle === 'active' ? isNull(experiments.deletedAt) : lifecycle === 'deleted' ? isNotNull(experiments.deletedAt) : undefined;
  const { git: _git, ...cols } = getTableColumns(experiments);
  const q = db
    .select(cols)
    .from(experiments)
    .where(and(eq(experiments.teamId, tenant.teamId), inArray(experiments.projectId, projectIds), life, ...runMatch(match)))
    .orderBy(desc(experiments.startedAt), experiments.id)
    .$dynamic();
  const rows = page ? await q.limit(page.limit).offset(page.offset) : await q;
  return rows.map((r) => ({ ...r, git: null }));
}

/** Removes one key of a nested features object in place (MLflow delete_tag); false when the run is not ours. */
export async function removeFeatureKey(db: Db, tenant: Tenant, projectId: string, id: string, path: string[]): Promise<boolean> {
  const r = await db
    .update(experiments)
    .set({ features: sql`${experiments.features} #- ARRAY[${sql.join(path.map((k) => sql`${k}`), sql`, `)}]::text[]`, updatedAt: new Date() })
    .where(and(scope(tenant, projectId), eq(experiments.id, id)))
    .returning({ id: experiments.id });
  return r.length > 0;
}
