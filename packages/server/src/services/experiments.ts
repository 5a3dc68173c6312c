import { LIMITS } from '@assay/contracts';
import type { AppContext } from '../context.ts';
import { conflict, notFound, unprocessable } from '../errors.ts';
import { isUniqueViolation } from '../stores/postgres/errors.ts';
import * as repo from '../stores/postgres/repos/experiments.ts';
import type { ExperimentStatus } from '../stores/postgres/schema.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { requireRole } from './auth.ts';
import { experimentDto, pageOf } from './dto.ts';
import { deleteExperimentCascade } from './cascade.ts';
import { forgetIngestTargets, resolveExperiment, resolveProject } from './resolve.ts';

const TERMINAL: ExperimentStatus[] = ['complete', 'failed', 'crashed'];

export async function listExperiments(
  ctx: AppContext,
  tenant: Tenant,
  projectIdOrName: string,
  q: { limit: number; cursor?: string; name?: string; status?: ExperimentStatus; tag?: string; ids?: string[] },
) {
  const project = await resolveProject(ctx, tenant, projectIdOrName);
  return pageOf(await repo.listExperiments(ctx.pg.db, tenant, project.id, q), q.limit, experimentDto);
}

export async function createExperiment(
  ctx: AppContext,
  tenant: Tenant,
  projectIdOrName: string,
  body: { name: string; description?: string | null; features?: Record<string, unknown>; tags?: string[]; parent_id?: string | null; host?: string | null; started_at?: string | number | null },
  ifExists: 'error' | 'return',
) {
  requireRole(tenant, 'researcher');
  const project = await resolveProject(ctx, tenant, projectIdOrName);
  let parentId: string | null = null;
  if (body.parent_id) {
    // The parent must be ours and in this project: a DAG edge may not point across tenants. It may
    // be named, like every other experiment reference; the row stores its id.
    const parent = await repo.findExperiment(ctx.pg.db, tenant, project.id, body.parent_id);
    if (!parent) throw notFound('Parent experiment');
    parentId = parent.id;
  }
  const created = await repo.insertExperiment(ctx.pg.db, tenant, project.id, {
    name: body.name,
    description: body.description,
    features: body.features,
    tags: body.tags,
    parentId,
    host: body.host,
    startedAt: body.started_at != null ? new Date(body.started_at) : undefined,
  });
  if (created) return { status: 201 as const, experiment: experimentDto(created) };
  const existing = await repo.findExperiment(ctx.pg.db, tenant, project.id, body.name);
  if (ifExists === 'return' && existing) return { status: 200 as const, experiment: experimentDto(await resume(ctx, tenant, existing, body)) };
  throw conflict(`An experiment named "${body.name}" already exists in this project`);
}

/**
 * get-or-create on an existing run is how a run (re)starts: it is running again from now, and what
 * the resuming client passes is merged in — tags added after the stored ones, features deep-merged
 * (as PATCH does), the description replaced when given. Name, host and parent stay as stored.
 */
async function resume(ctx: AppContext, tenant: Tenant, existing: repo.ExperimentRow, body: { description?: string | null; features?: Record<string, unknown>; tags?: string[] }) {
  const patch: Parameters<typeof repo.updateExperiment>[4] = {};
  if (existing.status !== 'running') Object.assign(patch, { status: 'running', finishedAt: null, heartbeatAt: new Date() });
  if (body.description !== undefined) patch.description = body.description;
  if (body.features !== undefined && Object.keys(body.features).length) patch.mergeFeatures = body.features;
  const added = (body.tags ?? []).filter((t) => !existing.tags.includes(t));
  if (added.length) {
    if (new Set([...existing.tags, ...added]).size > LIMITS.tagsMax) throw unprocessable(['body', 'tags'], `an experiment has at most ${LIMITS.tagsMax} tags; merged with the stored ones these would be more`);
    patch.addTags = added;
  }
  if (!Object.keys(patch).length) return existing;
  return (await repo.updateExperiment(ctx.pg.db, tenant, existing.projectId, existing.id, patch)) ?? existing;
}

export async function getExperiment(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string) {
  return experimentDto((await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName)).experiment);
}

export async function updateExperiment(
  ctx: AppContext,
  tenant: Tenant,
  projectIdOrName: string,
  experimentIdOrName: string,
  body: {
    status?: ExperimentStatus;
    description?: string | null;
    features?: Record<string, unknown>;
    tags?: string[];
    name?: string;
    host?: string | null;
    git?: Record<string, unknown>;
    started_at?: string | number;
    finished_at?: string | number | null;
  },
) {
  requireRole(tenant, 'researcher');
  const { project, experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName);
  const patch: Parameters<typeof repo.updateExperiment>[4] = {};
  if (body.name !== undefined) patch.name = body.name;
  if (body.description !== undefined) patch.description = body.description;
  if (body.tags !== undefined) patch.tags = body.tags;
  if (body.host !== undefined) patch.host = body.host;
  if (body.git !== undefined) patch.git = body.git;
  if (body.features !== undefined) patch.mergeFeatures = body.features;
  if (body.status !== undefined && body.status !== experiment.status) {
    patch.status = body.status;
    patch.finishedAt = TERMINAL.includes(body.status) ? new Date() : null;
    if (body.status === 'running') patch.heartbeatAt = new Date();
  }
  // Explicit times (an importer restoring a source run) win over the server time a status change records.
  if (body.started_at !== undefined) patch.startedAt = new Date(body.started_at);
  if (body.finished_at !== undefined) patch.finishedAt = body.finished_at === null ? null : new Date(body.finished_at);
  try {
    const u = await repo.updateExperiment(ctx.pg.db, tenant, project.id, experiment.id, patch);
    if (!u) throw notFound('Experiment');
    if (patch.name !== undefined) forgetIngestTargets(ctx);
    return experimentDto(u);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`An experiment named "${body.name}" already exists in this project`);
    throw e;
  }
}

export async function deleteExperiment(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string) {
  requireRole(tenant, 'researcher');
  const { project, experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName);
  await deleteExperimentCascade(ctx, tenant, project.id, experiment.id);
}

/** `POST …/heartbeat`: the run is alive now; a run the sweeper had marked `crashed` is `running` again. */
export async function heartbeat(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string) {
  requireRole(tenant, 'researcher');
  const { project, experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName);
  const r = await repo.touchHeartbeat(ctx.pg.db, tenant, project.id, experiment.id, new Date());
  if (!r) throw notFound('Experiment');
  return { status: r.status, heartbeat_at: (r.heartbeatAt ?? new Date()).toISOString() };
}
