import { randomUUID } from 'node:crypto';
import { jsonTextProblem, nameProblem } from '@assay/contracts';
import type { AppContext } from '../../context.ts';
import * as projectRepo from '../../stores/postgres/repos/projects.ts';
import type { ProjectRow } from '../../stores/postgres/repos/projects.ts';
import type { Tenant } from '../../stores/postgres/tenant.ts';
import { requireRole } from '../auth.ts';
import { setProjectDeleted, updateProject } from '../projects.ts';
import { appendToUriPath, resolveArtifactLocation } from './artifact-location.ts';
import { invalid, missing, MlflowError, requireStorable } from './errors.ts';
import { compareValues, parseFilter, parseOrderBy, test } from './filter.ts';
import { hex, uuidOf } from './model.ts';

/* MLflow experiments are Assay projects. */

/** MLflow's default experiment "0" is the team's project named "Default". */
export const DEFAULT_EXPERIMENT = 'Default';

/**
 * MLflow has "Default" from the start (its store creates it); Assay makes it when an MLflow client
 * first looks — get "0", get-by-name "Default", search, a run without an experiment — for any role,
 * since it is the server's object, not the caller's. Dated as old as the team (sorts as the oldest).
 */
async function ensureDefault(ctx: AppContext, tenant: Tenant): Promise<ProjectRow> {
  let p = await projectRepo.findProject(ctx.pg.db, tenant, DEFAULT_EXPERIMENT);
  if (!p) {
    await projectRepo.insertDefaultProject(ctx.pg.db, tenant, DEFAULT_EXPERIMENT);
    p = await projectRepo.findProject(ctx.pg.db, tenant, DEFAULT_EXPERIMENT);
  }
  if (!p) throw missing('No experiment with this experiment_id exists in your team');
  return p;
}

const experimentNotActive = (p: ProjectRow) => invalid(`The experiment ${hex(p.id)} must be in the 'active' state. Current state is deleted.`);

/** MLflow refuses writes into a deleted experiment (INVALID_PARAMETER_VALUE, its wording). */
export function requireActiveExperiment(p: ProjectRow): void {
  if (p.deletedAt) throw experimentNotActive(p);
}

/** Found whatever its lifecycle (MLflow's get_experiment shows a deleted one with lifecycle_stage "deleted"). */
export async function projectByExperimentId(ctx: AppContext, tenant: Tenant, experimentId: unknown): Promise<ProjectRow> {
  if (typeof experimentId !== 'string' || !experimentId) throw invalid("Missing value for required parameter 'experiment_id'");
  if (experimentId === '0') return ensureDefault(ctx, tenant);
  const id = uuidOf(experimentId);
  const p = id ? await projectRepo.findProject(ctx.pg.db, tenant, id) : undefined;
  // findProject also matches by name; an MLflow experiment id must be the id itself
  if (!p || p.id !== id) throw missing('No experiment with this experiment_id exists in your team');
  return p;
}

export async function projectByName(ctx: AppContext, tenant: Tenant, name: unknown): Promise<ProjectRow> {
  if (typeof name !== 'string' || !name) throw invalid("Missing value for required parameter 'experiment_name'");
  requireStorable('experiment_name', name);
  if (name === DEFAULT_EXPERIMENT) return ensureDefault(ctx, tenant);
  const p = await projectRepo.findProject(ctx.pg.db, tenant, name);
  if (!p || p.name !== name) throw missing(`Could not find experiment with name '${name}'`);
  return p;
}

/** MLflow's limits on experiment tags (mlflow/utils/validation.py, 3.17.2). */
export const EXPERIMENT_TAG_KEY_MAX = 250;
export const EXPERIMENT_TAG_VALUE_MAX = 20_000;
export const NOTE_TAG = 'mlflow.note.content';

/** A tag key and value as MLflow checks them (key first); returns the value as text. */
export function checkExperimentTag(key: unknown, value: unknown): [string, string] {
  if (key === undefined || key === null || key === '') throw invalid("Missing value for required parameter 'key'");
  if (typeof key !== 'string') throw invalid(`Invalid value ${JSON.stringify(key)} for parameter 'key' supplied`);
  if ([...key].length > EXPERIMENT_TAG_KEY_MAX) throw invalid(`'key' exceeds the maximum length of ${EXPERIMENT_TAG_KEY_MAX} characters`);
  if (value === undefined || value === null) throw invalid("Missing value for required parameter 'value'");
  if (typeof value !== 'string') throw invalid(`Invalid value ${JSON.stringify(value)} for parameter 'value' supplied`);
  if ([...value].length > EXPERIMENT_TAG_VALUE_MAX) throw invalid(`'value' exceeds the maximum length of ${EXPERIMENT_TAG_VALUE_MAX} characters`);
  for (const [what, s] of [['key', key], ['value', value]] as const) {
    const p = jsonTextProblem(s);
    if (p) throw invalid(`Experiment tag ${what}: ${p.message}`);
  }
  return [key, value];
}

export async function createExperimentProject(ctx: AppContext, tenant: Tenant, name: unknown, tags: [unknown, unknown][] = [], artifactLocation?: string): Promise<ProjectRow> {
  if (name === undefined || name === null || name === '') throw invalid("Missing value for required parameter 'name'");
  if (typeof name !== 'string') throw invalid(`Invalid value ${JSON.stringify(name)} for parameter 'name' supplied`);
  const problem = nameProblem(name, 'name', 255);
  if (problem) throw invalid(problem);
  const kv = new Map<string, string>(); // made an object by fromEntries: a tag named __proto__ is kept, not swallowed
  let description: string | undefined;
  for (const [k, v] of tags) {
    const [key, value] = checkExperimentTag(k, v);
    if (key === NOTE_TAG) description = value;
    else kv.set(key, value);
  }
  requireStorable('artifact_location', artifactLocation);
  const given = resolveArtifactLocation(artifactLocation);
  requireRole(tenant, 'researcher');
  // the server-wide default root (MLflow's --default-artifact-root) ends in the experiment's own id,
  // so the id is chosen here; kept with the experiment, as MLflow stores it, not recomputed from config
  const id = randomUUID();
  const root = ctx.config.ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT;
  const location = given ?? (root ? appendToUriPath(root, hex(id)) : null);
  // one insert with its tags: a refused create writes nothing
  const p = await projectRepo.insertProject(ctx.pg.db, tenant, { id, name, description, tags: Object.fromEntries(kv), artifactLocation: location });
  if (p) return p;
  // MLflow's answer whether the holder of the name is active or deleted (the name stays taken until purged)
  throw new MlflowError('RESOURCE_ALREADY_EXISTS', `Experiment(name=${name}) already exists.`);
}

export async function renameExperimentProject(ctx: AppContext, tenant: Tenant, p: ProjectRow, newName: unknown): Promise<void> {
  if (typeof newName !== 'string' || !newName) throw invalid("Missing value for required parameter 'new_name'");
  const problem = nameProblem(newName, 'new_name', 255);
  if (problem) throw invalid(problem);
  // MLflow answers INVALID_STATE with HTTP 500 here (which its client retries); 400, never a 500, in Assay
  if (p.deletedAt) throw new MlflowError('INVALID_STATE', 'Cannot rename a non-active experiment.');
  try {
    await updateProject(ctx, tenant, p.id, { name: newName });
  } catch (e) {
    // MLflow's SQL store answers a taken name with BAD_REQUEST (its unique-constraint error), not RESOURCE_ALREADY_EXISTS
    if ((e as { statusCode?: number }).statusCode === 409) throw new MlflowError('BAD_REQUEST', `Experiment(name=${newName}) already exists.`);
    throw e;
  }
}

/** SetExperimentTag: mlflow.note.content is the project description, every other key a project tag. */
export async function setExperimentTag(ctx: AppContext, tenant: Tenant, p: ProjectRow, key: unknown, value: unknown): Promise<void> {
  const [k, v] = checkExperimentTag(key, value);
  requireRole(tenant, 'researcher');
  requireActiveExperiment(p);
  if (k === NOTE_TAG) await updateProject(ctx, tenant, p.id, { description: v });
  else await projectRepo.setProjectTag(ctx.pg.db, tenant, p.id, k, v);
}

export async function deleteExperimentTag(ctx: AppContext, tenant: Tenant, p: ProjectRow, key: unknown): Promise<void> {
  if (key === undefined || key === null || key === '') throw invalid("Missing value for required parameter 'key'");
  if (typeof key !== 'string') throw invalid(`Invalid value ${JSON.stringify(key)} for parameter 'key' supplied`);
  requireStorable('key', key);
  requireRole(tenant, 'researcher');
  requireActiveExperiment(p);
  const gone = key === NOTE_TAG
    ? p.description !== null && (await updateProject(ctx, tenant, p.id, { description: null }), true)
    : await projectRepo.deleteProjectTag(ctx.pg.db, tenant, p.id, key);
  if (!gone) throw missing(`No tag with name: ${key} in experiment with id ${hex(p.id)}`);
}

/**
 * DeleteExperiment / RestoreExperiment: the project's soft delete. MLflow marks every run of the
 * experiment deleted too (and restore revives them all, even runs deleted before); Assay derives
 * the runs' lifecycle from the project instead, so a restore gives back exactly what was there.
 */
export async function setExperimentDeleted(ctx: AppContext, tenant: Tenant, p: ProjectRow, deleted: boolean): Promise<void> {
  // MLflow looks the experiment up in the other lifecycle only: deleting a deleted one is "does not exist"
  // (checked again by the update itself: of concurrent deletes one wins, the others get this too)
  if (Boolean(p.deletedAt) === deleted || !(await setProjectDeleted(ctx, tenant, p.id, deleted))) throw missing(`No Experiment with id=${hex(p.id)} exists`);
}

/** Every project of the team (MLflow search_experiments filters them in memory, like search_runs). */
export async function allProjects(ctx: AppContext, tenant: Tenant): Promise<ProjectRow[]> {
  const out: ProjectRow[] = [];
  let cursor: string | undefined;
  for (;;) {
    const rows = await projectRepo.listProjects(ctx.pg.db, tenant, { limit: 1000, cursor, includeDeleted: true });
    out.push(...rows.slice(0, 1000));
    if (rows.length <= 1000) return out;
    const last = rows[999];
    cursor = Buffer.from(`${last.createdAt.toISOString()}|${last.id}`).toString('base64url');
  }
}

function experimentAttr(p: ProjectRow, key: string): string | number | undefined {
  switch (key) {
    case 'name': return p.name;
    case 'experiment_id': return p.id.replace(/-/g, '');
    case 'creation_time': case 'created': return p.createdAt.getTime();
    case 'last_update_time': return p.updatedAt.getTime();
    case 'lifecycle_stage': return p.deletedAt ? 'deleted' : 'active';
  }
  throw invalid(`Invalid attribute key '${key}' specified. Valid keys are 'name', 'creation_time', 'last_update_time'`);
}

/** The project's tags plus its description as mlflow.note.content. */
export function experimentTags(p: ProjectRow): [string, string][] {
  return [...Object.entries(p.tags ?? {}), ...(p.description !== null ? [[NOTE_TAG, p.description] as [string, string]] : [])];
}

export async function searchExperiments(
  ctx: AppContext,
  tenant: Tenant,
  o: { filter?: string; orderBy?: string[]; maxResults: number; offset: number; viewType: 'active' | 'deleted' | 'all' },
): Promise<{ items: ProjectRow[]; more: boolean }> {
  const clauses = parseFilter(o.filter);
  const order = parseOrderBy(o.orderBy);
  for (const c of [...clauses, ...order]) if (c.entity !== 'attribute' && c.entity !== 'tag') throw invalid(`Invalid entity type '${c.entity}' for an experiment search: use attributes or tags`);
  await ensureDefault(ctx, tenant);
  // a Map: tags.constructor must not find Object's constructor on an experiment without that tag
  const lookup = (p: ProjectRow, entity: string, key: string) => (entity === 'tag' ? new Map(experimentTags(p)).get(key) : experimentAttr(p, key));
  const inView = (p: ProjectRow) => o.viewType === 'all' || (o.viewType === 'deleted') === Boolean(p.deletedAt);
  const rows = (await allProjects(ctx, tenant)).filter((p) => inView(p) && clauses.every((c) => test(c, lookup(p, c.entity, c.key))));
  const keys = [...order, { entity: 'attribute' as const, key: 'creation_time', asc: false }, { entity: 'attribute' as const, key: 'experiment_id', asc: true }];
  rows.sort((a, b) => {
    for (const k of keys) {
      const r = compareValues(lookup(a, k.entity, k.key), lookup(b, k.entity, k.key), k.asc);
      if (r) return r;
    }
    return 0;
  });
  return { items: rows.slice(o.offset, o.offset + o.maxResults), more: rows.length > o.offset + o.maxResults };
}
