import type { AppContext } from '../context.ts';
import { notFound } from '../errors.ts';
import * as experimentRepo from '../stores/postgres/repos/experiments.ts';
import * as projectRepo from '../stores/postgres/repos/projects.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';

/**
 * Name resolution: a `{project_id}` / `{experiment_id}` path segment is a UUID or a name. Anything
 * not in the tenant's team is a 404, never a 403 — another team's objects don't exist for us. A
 * soft-deleted project (MLflow delete_experiment) is in the trash: 404 for everything under it
 * (no reads, no writes, no ingest), found only by `includeDeleted` (get it, purge it).
 */
export async function resolveProject(ctx: AppContext, tenant: Tenant, idOrName: string, o: { includeDeleted?: boolean } = {}) {
  const p = await projectRepo.findProject(ctx.pg.db, tenant, idOrName);
  if (!p || (p.deletedAt && !o.includeDeleted)) throw notFound('Project');
  return p;
}

/**
 * Project (by id or name) then experiment (by id or name) inside it. `includeDeleted` is for reads
 * only: MLflow serves the histories and artifacts of runs whose experiment is deleted.
 */
export async function resolveExperiment(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string, o: { includeDeleted?: boolean } = {}) {
  const project = await resolveProject(ctx, tenant, projectIdOrName, o);
  const experiment = await experimentRepo.findExperiment(ctx.pg.db, tenant, project.id, experimentIdOrName);
  if (!experiment) throw notFound('Experiment');
  return { project, experiment };
}

/**
 * The ingest path resolves its project and experiment (id or name) on every batch: two Postgres
 * reads that cost ~1.3 ms of synchronous PGlite time each time. They are remembered for a couple
 * of seconds per team; a rename or delete in this process forgets everything at once, one in
 * another replica is seen within TTL_MS.
 */
const TTL_MS = 2000;
const MAX_ENTRIES = 10_000;

type Target = Awaited<ReturnType<typeof resolveExperiment>>;
const caches = new WeakMap<AppContext, Map<string, { at: number; target: Target }>>();

export async function resolveIngestTarget(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string): Promise<Target> {
  let cache = caches.get(ctx);
  if (!cache) caches.set(ctx, (cache = new Map()));
  const key = `${tenant.teamId}\u0000${projectIdOrName}\u0000${experimentIdOrName}`;
  const hit = cache.get(key);
  const now = Date.now();
  if (hit && now - hit.at < TTL_MS) return hit.target;
  const target = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName);
  if (cache.size >= MAX_ENTRIES) cache.clear();
  cache.set(key, { at: now, target });
  return target;
}

/** After a project or experiment is renamed or deleted. */
export function forgetIngestTargets(ctx: AppContext): void {
  caches.get(ctx)?.clear();
}
