import { nameProblem } from '@assay/contracts';
import type { AppContext } from '../../context.ts';
import * as projectRepo from '../../stores/postgres/repos/projects.ts';
import type { ProjectRow } from '../../stores/postgres/repos/projects.ts';
import type { Tenant } from '../../stores/postgres/tenant.ts';
import { createProject, updateProject } from '../projects.ts';
import { invalid, missing, MlflowError } from './errors.ts';
import { compareValues, parseFilter, parseOrderBy, test } from './filter.ts';
import { uuidOf } from './model.ts';

/* MLflow experiments are Assay projects. */

/** MLflow's default experiment "0" is the team's project named "Default" (made on first use by a writer). */
export const DEFAULT_EXPERIMENT = 'Default';

export async function projectByExperimentId(ctx: AppContext, tenant: Tenant, experimentId: unknown, createDefault = false): Promise<ProjectRow> {
  if (typeof experimentId !== 'string' || !experimentId) throw invalid("Missing value for required parameter 'experiment_id'");
  if (experimentId === '0') {
    const p = await projectRepo.findProject(ctx.pg.db, tenant, DEFAULT_EXPERIMENT);
    if (p) return p;
    if (createDefault) return createExperimentProject(ctx, tenant, DEFAULT_EXPERIMENT, undefined, true);
    throw missing('No experiment with this experiment_id exists in your team');
  }
  const id = uuidOf(experimentId);
  const p = id ? await projectRepo.findProject(ctx.pg.db, tenant, id) : undefined;
  // findProject also matches by name; an MLflow experiment id must be the id itself
  if (!p || p.id !== id) throw missing('No experiment with this experiment_id exists in your team');
  return p;
}

export async function projectByName(ctx: AppContext, tenant: Tenant, name: unknown): Promise<ProjectRow> {
  if (typeof name !== 'string' || !name) throw invalid("Missing value for required parameter 'experiment_name'");
  const p = await projectRepo.findProject(ctx.pg.db, tenant, name);
  if (!p || p.name !== name) throw missing(`Could not find experiment with name '${name}'`);
  return p;
}

export async function createExperimentProject(ctx: AppContext, tenant: Tenant, name: unknown, description?: string, getOrCreate = false): Promise<ProjectRow> {
  if (name === undefined || name === null || name === '') throw invalid("Missing value for required parameter 'name'");
  if (typeof name !== 'string') throw invalid(`Invalid value ${JSON.stringify(name)} for parameter 'name' supplied`);
  const problem = nameProblem(name, 'name', 255);
  if (problem) throw invalid(problem);
  try {
    const r = await createProject(ctx, tenant, { name, description }, getOrCreate ? 'return' : 'error');
    return (await projectRepo.findProject(ctx.pg.db, tenant, r.project.id))!;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 409) throw new MlflowError('RESOURCE_ALREADY_EXISTS', `Experiment(name=${name}) already exists.`);
    throw e;
  }
}

export async function renameExperimentProject(ctx: AppContext, tenant: Tenant, p: ProjectRow, newName: unknown): Promise<void> {
  if (typeof newName !== 'string' || !newName) throw invalid("Missing value for required parameter 'new_name'");
  const problem = nameProblem(newName, 'new_name', 255);
  if (problem) throw invalid(problem);
  await updateProject(ctx, tenant, p.id, { name: newName });
}

export async function setExperimentNote(ctx: AppContext, tenant: Tenant, p: ProjectRow, description: string | null): Promise<void> {
  await updateProject(ctx, tenant, p.id, { description });
}

/** Every project of the team (MLflow search_experiments filters them in memory, like search_runs). */
export async function allProjects(ctx: AppContext, tenant: Tenant): Promise<ProjectRow[]> {
  const out: ProjectRow[] = [];
  let cursor: string | undefined;
  for (;;) {
    const rows = await projectRepo.listProjects(ctx.pg.db, tenant, { limit: 1000, cursor });
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
    case 'lifecycle_stage': return 'active';
  }
  throw invalid(`Invalid attribute key '${key}' specified. Valid keys are 'name', 'creation_time', 'last_update_time'`);
}

export function experimentDescriptionTag(p: ProjectRow): [string, string][] {
  return p.description ? [['mlflow.note.content', p.description]] : [];
}

export async function searchExperiments(
  ctx: AppContext,
  tenant: Tenant,
  o: { filter?: string; orderBy?: string[]; maxResults: number; offset: number; viewType: 'active' | 'deleted' | 'all' },
): Promise<{ items: ProjectRow[]; more: boolean }> {
  const clauses = parseFilter(o.filter);
  const order = parseOrderBy(o.orderBy);
  for (const c of [...clauses, ...order]) if (c.entity !== 'attribute' && c.entity !== 'tag') throw invalid(`Invalid entity type '${c.entity}' for an experiment search: use attributes or tags`);
  if (o.viewType === 'deleted') return { items: [], more: false };
  const lookup = (p: ProjectRow, entity: string, key: string) => (entity === 'tag' ? Object.fromEntries(experimentDescriptionTag(p))[key] : experimentAttr(p, key));
  const rows = (await allProjects(ctx, tenant)).filter((p) => clauses.every((c) => test(c, lookup(p, c.entity, c.key))));
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
