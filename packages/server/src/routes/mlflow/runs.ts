import { LIMITS } from '@assay/contracts';
import { invalid, requireStorable } from '../../services/mlflow/errors.ts';
import { projectByExperimentId } from '../../services/mlflow/experiments.ts';
import { hex } from '../../services/mlflow/model.ts';
import * as runs from '../../services/mlflow/runs.ts';
import { decodeToken, encodeToken, metricHistory, sampledHistory, searchRuns } from '../../services/mlflow/search.ts';
import { updateRunMeta } from '../../services/mlflow/meta.ts';
import type { Api, RouteDeps } from '../types.ts';
import { listRunArtifacts, safeArtifactPath } from './artifacts.ts';
import { array, clip, input, list, maxResults, optString, pairs, schema, stringList, stringValue, viewType } from './common.ts';
import { runInfoJson, runJson } from './dto.ts';

const BULK_INTERVAL_MAX = 2500;
/**
 * MLflow's MAX_PARAMS_TAGS_PER_BATCH, kept: params and tags merge into the run's one features
 * document, rewritten whole per call; a million params in one log_batch held the server's event
 * loop 15 s (and each get_run of that run 6 s). The client and the framework callbacks split at 100.
 */
const PARAMS_TAGS_PER_BATCH = 100;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** MLflow checks run_id, then key, then value: a bad key is reported before a bad value. */
const keyValue = (b: Record<string, unknown>): [unknown, unknown] => [b.key, typeof b.key === 'string' && b.key ? stringValue(b.value, 'value') : b.value];

/** MLflow runs = Assay experiments, addressed by run_id (the experiment UUID without dashes). */
export function mlflowRunRoutes(app: Api, { ctx }: RouteDeps): void {
  const find = (req: { tenant: Parameters<typeof runs.findRun>[1] }, b: Record<string, unknown>) => runs.findRun(ctx, req.tenant, b.run_id || b.run_uuid);

  app.post('/runs/create', schema('MLflow CreateRun → a new Assay experiment in the project', 'The run name becomes the experiment name (a short suffix if the project already has one by that name; the exact name stays in the mlflow.runName tag).'), async (req) => {
    const b = input(req);
    const project = await projectByExperimentId(ctx, req.tenant, b.experiment_id ?? '0');
    const e = await runs.createRun(ctx, req.tenant, project, {
      runName: optString(b.run_name, 'run_name'),
      startTime: b.start_time === undefined || b.start_time === null ? undefined : runs.runTimeMs(b.start_time, 'start_time'),
      userId: optString(b.user_id, 'user_id'),
      tags: pairs(b.tags, 'tags').map(([k, v]) => [k as string, v as string]),
    });
    return { run: runJson(e) };
  });

  app.post('/runs/update', schema('MLflow UpdateRun (status, end_time, run_name)'), async (req) => {
    const b = input(req);
    const e = await find(req, b);
    const u = await runs.updateRun(ctx, req.tenant, e, {
      status: b.status,
      endTime: b.end_time === undefined || b.end_time === null ? undefined : runs.runTimeMs(b.end_time, 'end_time'),
      runName: optString(b.run_name, 'run_name'),
    });
    return { run_info: runInfoJson(u) };
  });

  app.get('/runs/get', schema('MLflow GetRun (info, params, tags, latest metrics)'), async (req) => {
    const e = await find(req, input(req));
    const m = await runs.latestMetrics(ctx, req.tenant, [e]);
    return { run: runJson(e, m.get(e.id)) };
  });

  app.post('/runs/delete', schema('MLflow DeleteRun: soft delete (experiments.deleted_at), restorable'), async (req) => {
    await runs.setDeleted(ctx, req.tenant, await find(req, input(req)), true);
    return {};
  });
  app.post('/runs/restore', schema('MLflow RestoreRun'), async (req) => {
    await runs.setDeleted(ctx, req.tenant, await find(req, input(req)), false);
    return {};
  });

  app.post('/runs/log-metric', schema('MLflow LogMetric → one metric point (same ingest path as /api/v1/metrics/batch)'), async (req) => {
    const b = input(req);
    const e = await find(req, b);
    await runs.logMetrics(ctx, req.tenant, e, runs.toPoints([b]));
    return {};
  });

  app.post('/runs/log-parameter', schema('MLflow LogParam → a feature (flat key); a logged param cannot change'), async (req) => {
    const b = input(req);
    await runs.logParamsAndTags(ctx, req.tenant, await find(req, b), [keyValue(b)], []);
    return {};
  });

  app.post('/runs/set-tag', schema('MLflow SetTag (key/value tags live under the reserved feature key "mlflow")'), async (req) => {
    const b = input(req);
    await runs.logParamsAndTags(ctx, req.tenant, await find(req, b), [], [keyValue(b)]);
    return {};
  });

  app.post('/runs/delete-tag', schema('MLflow DeleteTag'), async (req) => {
    const b = input(req);
    await runs.deleteTag(ctx, req.tenant, await find(req, b), b.key);
    return {};
  });

  app.post('/runs/log-batch', schema('MLflow LogBatch: params and tags, then metrics', `Up to 1,000,000 metrics per call (MLflow: 1,000) and, as in MLflow, up to 100 params and 100 tags; params and tags as log-parameter / set-tag. Params and tags are checked before anything is written.`), async (req) => {
    const b = input(req);
    const e = await find(req, b);
    const params = pairs(array(b.params, 'params'), 'params');
    const tags = pairs(array(b.tags, 'tags'), 'tags');
    for (const [what, n] of [['params', params.length], ['tags', tags.length]] as const) {
      if (n > PARAMS_TAGS_PER_BATCH) throw invalid(`A batch logging request can contain at most ${PARAMS_TAGS_PER_BATCH} ${what}. Got ${n} ${what}. Please split up ${what} across multiple requests and try again.`);
    }
    const metrics = array(b.metrics, 'metrics');
    // LogBatch (unlike LogMetric) requires each metric's timestamp, in MLflow's words
    const noTs = metrics.findIndex((m) => { const ts = (m as { timestamp?: unknown } | null)?.timestamp; return ts === undefined || ts === null || ts === ''; });
    if (noTs >= 0) throw invalid(`Invalid value ${clip(JSON.stringify(metrics))} for parameter 'metrics' supplied: Missing value for required parameter 'metrics[${noTs}].timestamp'.`);
    const points = runs.toPoints(metrics); // checked before the params and tags are written
    if (points.length > LIMITS.batchPointsMax) throw invalid(`A batch holds at most ${LIMITS.batchPointsMax} metrics (MLflow: 1000); got ${points.length}`);
    if (params.length || tags.length) await runs.logParamsAndTags(ctx, req.tenant, e, params, tags);
    await runs.logMetrics(ctx, req.tenant, e, points);
    return {};
  });

  app.post('/runs/log-inputs', schema('MLflow LogInputs: dataset inputs kept as given (features["mlflow"].inputs), shown back by GetRun'), async (req) => {
    const b = input(req);
    const e = await find(req, b);
    const datasets = array(b.datasets, 'datasets');
    // get_run hands these back to the client, which parses each as a DatasetInput: "x" or {} would break every read of the run
    datasets.forEach((d, i) => {
      const ds = (d as { dataset?: { name?: unknown; digest?: unknown } } | null)?.dataset;
      if (!isObject(d) || !isObject(ds) || typeof ds.name !== 'string' || !ds.name || typeof ds.digest !== 'string' || !ds.digest) {
        throw invalid(`Invalid value ${clip(JSON.stringify(d) ?? String(d))} for parameter 'datasets[${i}]' supplied: expected {"dataset": {"name": …, "digest": …, …}, "tags": […]}`);
      }
    });
    runs.requireActiveRun(e);
    requireStorable('datasets', datasets);
    if (datasets.length) {
      await updateRunMeta(ctx, req.tenant, e, (m) => {
        const known = new Set((m.inputs ?? []).map((x) => JSON.stringify(x)));
        return { inputs: [...(m.inputs ?? []), ...datasets.filter((d) => !known.has(JSON.stringify(d)))] };
      });
    }
    return {};
  });

  app.post('/runs/outputs', schema('MLflow LogOutputs: logged models as outputs of the run'), async (req) => {
    const b = input(req);
    const e = await find(req, b);
    const models = list(b.models, 'models').map((x) => {
      const o = (x ?? {}) as { model_id?: unknown; step?: unknown };
      if (typeof o.model_id !== 'string' || !o.model_id) throw invalid("Missing value for required parameter 'model_id'");
      requireStorable('model_id', o.model_id);
      return { model_id: o.model_id, step: runs.int64(o.step, 'step', 0) };
    });
    runs.requireActiveRun(e);
    if (models.length) await updateRunMeta(ctx, req.tenant, e, (m) => ({ outputs: [...(m.outputs ?? []).filter((x) => !models.some((n) => n.model_id === x.model_id)), ...models] }));
    return {};
  });

  for (const method of ['GET', 'POST'] as const) {
    app.route({ method, url: '/runs/search', ...schema('MLflow SearchRuns (filter, order_by, max_results, page_token, run_view_type)', 'Evaluated over the runs of the named experiments; see docs/mlflow.md for the supported filter syntax.'), handler: async (req) => {
      const b = input(req);
      const ids = list(b.experiment_ids, 'experiment_ids');
      const projects = await Promise.all(ids.map((id) => projectByExperimentId(ctx, req.tenant, id)));
      const max = maxResults(b.max_results, 1000, 50_000);
      const offset = decodeToken(b.page_token);
      const r = await searchRuns(ctx, req.tenant, projects, {
        filter: optString(b.filter, 'filter'),
        orderBy: stringList(b.order_by, 'order_by'),
        maxResults: max,
        offset,
        lifecycle: viewType(b.run_view_type),
      });
      return { runs: r.runs.map((e) => runJson(e, r.metrics.get(e.id))), ...(r.more ? { next_page_token: encodeToken(offset + max) } : {}) };
    } });
  }

  app.get('/metrics/get-history', schema('MLflow GetMetricHistory (every point; pages with max_results/page_token)'), async (req) => {
    const b = input(req);
    const e = await find(req, b);
    if (typeof b.metric_key !== 'string' || !b.metric_key) throw invalid("Missing value for required parameter 'metric_key'");
    requireStorable('metric_key', b.metric_key);
    const max = b.max_results === undefined ? undefined : maxResults(b.max_results, 25_000, 1_000_000);
    const token = b.page_token ? decodeToken(b.page_token) : undefined;
    const r = await metricHistory(ctx, req.tenant, e, b.metric_key, { maxResults: max, stepMin: token });
    return { metrics: r.points, ...(r.nextStepMin !== null ? { next_page_token: encodeToken(r.nextStepMin) } : {}) };
  });

  app.get('/metrics/get-history-bulk-interval', schema('MLflow GetMetricHistoryBulkInterval (sampled histories of up to 100 runs; extremes kept)'), async (req) => {
    const b = input(req);
    const ids = list(b.run_ids, 'run_ids');
    if (!ids.length) throw invalid("Missing value for required parameter 'run_ids'.");
    if (ids.length > 100) throw invalid(`GetMetricHistoryBulkInterval request must specify at most 100 run_ids. Received ${ids.length} run_ids.`);
    if (typeof b.metric_key !== 'string' || !b.metric_key) throw invalid("Missing value for required parameter 'metric_key'.");
    requireStorable('metric_key', b.metric_key);
    // MLflow's bounds and default (MAX_RESULTS_PER_RUN = 2500 points per run)
    const max = b.max_results === undefined || b.max_results === '' ? BULK_INTERVAL_MAX : runs.int64(b.max_results, 'max_results');
    if (max < 1 || max > BULK_INTERVAL_MAX) throw invalid(`max_results must be between 1 and ${BULK_INTERVAL_MAX}.`);
    const startStep = b.start_step === undefined ? undefined : runs.int64(b.start_step, 'start_step');
    const endStep = b.end_step === undefined ? undefined : runs.int64(b.end_step, 'end_step');
    if ((startStep === undefined) !== (endStep === undefined)) throw invalid('If either start step or end step are specified, both must be specified.');
    if (startStep !== undefined && endStep !== undefined && startStep > endStep) throw invalid(`end_step must be greater than start_step. Found start_step=${startStep} and end_step=${endStep}.`);
    const out: unknown[] = [];
    for (const id of ids) {
      const e = await runs.findRun(ctx, req.tenant, id);
      // Assay steps are >= 0: a range that ends below 0 holds no point (and ClickHouse's UInt64 step cannot take it)
      if (endStep !== undefined && endStep < 0) continue;
      for (const p of await sampledHistory(ctx, req.tenant, e, b.metric_key, { maxResults: max, startStep: startStep === undefined ? undefined : Math.max(0, startStep), endStep })) out.push({ ...p, run_id: hex(e.id) });
    }
    return { metrics: out };
  });

  app.get('/artifacts/list', schema('MLflow ListArtifacts (runs whose artifact_uri is served by this proxy)'), async (req) => {
    const b = input(req);
    const e = await find(req, b);
    const path = optString(b.path, 'path') ?? '';
    if (!safeArtifactPath(path)) throw invalid('Invalid path');
    return listRunArtifacts(ctx, req.tenant, e, path);
  });
}
