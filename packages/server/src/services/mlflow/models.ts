import { randomBytes } from 'node:crypto';
import type { AppContext } from '../../context.ts';
import type { ExperimentRow } from '../../stores/postgres/repos/experiments.ts';
import type { Tenant } from '../../stores/postgres/tenant.ts';
import { invalid, missing, requireStorable } from './errors.ts';
import { updateRunMeta } from './meta.ts';
import { hex, metaOf, type LoggedModelMeta } from './model.ts';
import { findRun } from './runs.ts';

/*
 * MLflow 3 logged models, kept minimal: a model belongs to its source run (Assay has no model
 * table). Its metadata lives in the run's features["mlflow"].models, its files are artifacts of
 * the run under .mlflow/models/<model_id>/. The model id embeds the run id (m-<run><8 hex>), so a
 * model is found from its id alone and team isolation is the run's.
 */

const STATUS_NAMES = ['LOGGED_MODEL_STATUS_UNSPECIFIED', 'LOGGED_MODEL_PENDING', 'LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED'];
export function modelStatus(s: unknown): string {
  const name = typeof s === 'number' ? STATUS_NAMES[s] : typeof s === 'string' ? s : undefined;
  if (!name || !STATUS_NAMES.includes(name)) throw invalid(`Invalid logged model status ${JSON.stringify(s)}`);
  return name;
}

export async function runOfModel(ctx: AppContext, tenant: Tenant, modelId: string): Promise<ExperimentRow> {
  const m = /^m-([0-9a-f]{32})[0-9a-f]{8}$/.exec(modelId);
  if (!m) throw missing('Logged model not found: no model with this model_id in your team');
  const run = await findRun(ctx, tenant, m[1]).catch(() => undefined);
  if (!run || !metaOf(run).models?.[modelId]) throw missing('Logged model not found: no model with this model_id in your team');
  return run;
}

export async function getModel(ctx: AppContext, tenant: Tenant, modelId: string): Promise<{ run: ExperimentRow; id: string; model: LoggedModelMeta }> {
  const run = await runOfModel(ctx, tenant, modelId);
  return { run, id: modelId, model: metaOf(run).models![modelId] };
}

const kv = (pairs: [unknown, unknown][], what: string): Record<string, string> => {
  const out = new Map<string, string>(); // made an object by fromEntries: a key named __proto__ stays a key
  for (const [k, v] of pairs) {
    if (typeof k !== 'string' || !k) throw invalid(`Missing value for required parameter '${what} key'`);
    if (v !== undefined && v !== null && typeof v !== 'string') throw invalid(`Invalid value ${JSON.stringify(v).slice(0, 100)} for ${what.toLowerCase()} '${k}' supplied: expected a string`);
    requireStorable(`${what.toLowerCase()}s`, { [k]: v ?? '' });
    out.set(k, v ?? '');
  }
  return Object.fromEntries(out);
};

export async function createModel(
  ctx: AppContext,
  tenant: Tenant,
  projectId: string,
  b: { sourceRunId?: string; name?: string; modelType?: string; params: [unknown, unknown][]; tags: [unknown, unknown][] },
) {
  requireStorable('name', b.name);
  requireStorable('model_type', b.modelType);
  if (!b.sourceRunId) throw invalid('Assay keeps a logged model with the run that produced it: log the model inside an active run (source_run_id is required)');
  const run = await findRun(ctx, tenant, b.sourceRunId);
  if (run.projectId !== projectId) throw invalid(`Run ${b.sourceRunId} is not in experiment ${hex(projectId)}`);
  const id = `m-${hex(run.id)}${randomBytes(4).toString('hex')}`;
  const now = Date.now();
  const model: LoggedModelMeta = { name: b.name || `model-${id.slice(-8)}`, model_type: b.modelType, status: 'LOGGED_MODEL_PENDING', created_ms: now, updated_ms: now, params: kv(b.params, 'Param'), tags: kv(b.tags, 'Tag') };
  const u = await updateRunMeta(ctx, tenant, run, () => ({ models: { [id]: model } }));
  return { run: u, id, model };
}

export async function changeModel(ctx: AppContext, tenant: Tenant, modelId: string, change: (m: LoggedModelMeta) => Partial<LoggedModelMeta>) {
  const { run, model } = await getModel(ctx, tenant, modelId);
  const patch = { ...change(model), updated_ms: Date.now() };
  const u = await updateRunMeta(ctx, tenant, run, () => ({ models: { [modelId]: patch as LoggedModelMeta } }));
  return { run: u, id: modelId, model: metaOf(u).models![modelId] };
}

export const modelKv = kv;
