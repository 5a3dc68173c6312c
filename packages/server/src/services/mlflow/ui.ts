import type { AppContext } from '../../context.ts';
import * as repo from '../../stores/postgres/repos/experiments.ts';
import type { ProjectRow } from '../../stores/postgres/repos/projects.ts';
import type { Tenant } from '../../stores/postgres/tenant.ts';
import { MlflowError, invalid, requireStorable } from './errors.ts';
import { projectByExperimentId } from './experiments.ts';
import { hex, metaOf } from './model.ts';
import { findRun } from './runs.ts';
import { metricHistory, type HistoryPoint } from './search.ts';

/*
 * What MLflow's own web UI asks through its ajax-only routes (mlflow/server/handlers.py of 3.17.2:
 * get_metric_history_bulk_handler, search_datasets_impl), with its bounds and messages.
 */

/** MLflow's MAX_HISTORY_RESULTS and MAX_RUN_IDS_PER_REQUEST of get_metric_history_bulk_handler. */
export const BULK_HISTORY_MAX = 25_000;
export const BULK_HISTORY_RUNS_MAX = 100;
/** search_datasets_impl's MAX_EXPERIMENT_IDS_PER_REQUEST and the store's MAX_DATASET_SUMMARIES_RESULTS. */
export const DATASET_EXPERIMENTS_MAX = 20;
export const DATASET_SUMMARIES_MAX = 1000;
const CONTEXT_TAG = 'mlflow.data.context';

/**
 * Full histories of one metric over several runs, runs in run_id order and each run's points by
 * (timestamp, step, value), cut at `maxResults` overall — MLflow's default implementation. Each run
 * is looked up in the caller's team: another team's run is RESOURCE_DOES_NOT_EXIST, like a missing one.
 */
export async function metricHistoryBulk(ctx: AppContext, tenant: Tenant, runIds: string[], key: string, maxResults: number): Promise<(HistoryPoint & { run_id: string })[]> {
  const found = await Promise.all([...new Set(runIds)].map((id) => findRun(ctx, tenant, id)));
  const runs = [...new Map(found.map((e) => [hex(e.id), e])).values()].sort((a, b) => (hex(a.id) < hex(b.id) ? -1 : 1));
  const out: (HistoryPoint & { run_id: string })[] = [];
  for (const e of runs) {
    if (out.length >= maxResults) break;
    const { points } = await metricHistory(ctx, tenant, e, key, { maxResults });
    points.sort((a, b) => a.timestamp - b.timestamp || a.step - b.step || Number(a.value) - Number(b.value));
    for (const p of points) out.push({ ...p, run_id: hex(e.id) });
  }
  return out.slice(0, maxResults);
}

export interface DatasetSummary {
  experiment_id: string;
  name: string;
  digest: string;
  context?: string;
}

/**
 * Distinct (experiment, dataset name, digest, context) of the datasets logged with log_inputs in
 * these experiments, runs of every lifecycle included (MLflow's store joins datasets to inputs, not
 * to runs). Experiment ids that are not the caller's team's are left out, as MLflow's store filters
 * ids it does not know, so the answer never tells another team's experiment from a missing one.
 */
export async function searchDatasets(ctx: AppContext, tenant: Tenant, experimentIds: unknown[]): Promise<DatasetSummary[]> {
  const projects: ProjectRow[] = [];
  for (const id of experimentIds) {
    const p = await projectByExperimentId(ctx, tenant, id).catch((e: unknown) => {
      if (e instanceof MlflowError) return undefined;
      throw e;
    });
    if (p && !projects.some((q) => q.id === p.id)) projects.push(p);
  }
  const runs = await repo.listProjectsExperiments(ctx.pg.db, tenant, projects.map((p) => p.id), 'all');
  const seen = new Set<string>();
  const out: DatasetSummary[] = [];
  for (const e of runs) {
    for (const input of metaOf(e).inputs ?? []) {
      const s = summaryOf(hex(e.projectId), input);
      if (!s) continue;
      const k = JSON.stringify([s.experiment_id, s.name, s.digest, s.context ?? null]);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(s);
      if (out.length >= DATASET_SUMMARIES_MAX) return out;
    }
  }
  return out;
}

/** One stored DatasetInput (as the client sent it: `{dataset: {name, digest, …}, tags: [{key, value}]}`). */
function summaryOf(experimentId: string, input: unknown): DatasetSummary | undefined {
  const i = (input ?? {}) as { dataset?: { name?: unknown; digest?: unknown }; tags?: unknown };
  const d = i.dataset;
  if (!d || typeof d.name !== 'string' || typeof d.digest !== 'string') return undefined;
  const tags = Array.isArray(i.tags) ? (i.tags as { key?: unknown; value?: unknown }[]) : [];
  const context = tags.find((t) => t && t.key === CONTEXT_TAG)?.value;
  return { experiment_id: experimentId, name: d.name, digest: d.digest, ...(typeof context === 'string' ? { context } : {}) };
}

export function checkBulkHistoryRequest(runIds: unknown[], metricKey: unknown): string {
  if (!runIds.length) throw invalid('GetMetricHistoryBulk request must specify at least one run_id.');
  if (runIds.length > BULK_HISTORY_RUNS_MAX) throw invalid(`GetMetricHistoryBulk request cannot specify more than ${BULK_HISTORY_RUNS_MAX} run_ids. Received ${runIds.length} run_ids.`);
  if (typeof metricKey !== 'string') throw invalid('GetMetricHistoryBulk request must specify a metric_key.');
  requireStorable('metric_key', metricKey);
  return metricKey;
}
