import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { AppContext } from '../../context.ts';
import * as artifacts from '../../services/artifacts.ts';
import { proxied, runArtifactUri } from '../../services/mlflow/artifact-location.ts';
import { invalid, missing } from '../../services/mlflow/errors.ts';
import { hex } from '../../services/mlflow/model.ts';
import { findRun } from '../../services/mlflow/runs.ts';
import { BULK_HISTORY_MAX, checkBulkHistoryRequest, DATASET_EXPERIMENTS_MAX, metricHistoryBulk, searchDatasets } from '../../services/mlflow/ui.ts';
import type { Tenant } from '../../stores/postgres/tenant.ts';
import { contentDisposition } from '../artifacts.ts';
import type { Api, RouteDeps } from '../types.ts';
import { safeArtifactPath } from './artifacts.ts';
import { input, list, maxResults, schema } from './common.ts';

/*
 * The routes MLflow's own web UI calls that its Python client does not (mlflow/server/__init__.py of
 * 3.17.2 registers them only under /ajax-api, and /get-artifact at the root): bulk metric histories,
 * dataset summaries, the UI's small file upload and its file download. Same auth as every MLflow route.
 */

/** upload_artifact_handler's cap: the UI uploads small files (larger ones go through log_artifact). */
export const UI_UPLOAD_MAX = 10 * 1024 * 1024;

const query = (req: { query: unknown }) => (req.query && typeof req.query === 'object' ? (req.query as Record<string, unknown>) : {});
const first = (v: unknown) => (Array.isArray(v) ? v[0] : v);

/** The run's artifact at `path`, for a run whose files Assay holds (the default proxy location). */
async function runFile(ctx: AppContext, tenant: Tenant, runId: unknown, path: string) {
  const run = await findRun(ctx, tenant, runId);
  const uri = runArtifactUri(run);
  // a file:/s3:/… location is written and read by the client itself; Assay never opens it
  if (!proxied(uri)) throw missing(`The artifacts of run ${hex(run.id)} live at ${uri}, which this server does not serve`);
  const found = (await artifacts.listArtifacts(ctx, tenant, run.projectId, run.id, { includeDeleted: true })).items.find((a) => a.path === path);
  if (!found) throw missing(`Artifact '${path}' not found in run ${hex(run.id)}`);
  return artifacts.getArtifactContent(ctx, tenant, run.projectId, run.id, found.id, { includeDeleted: true });
}

/** Under /ajax-api/2.0/mlflow only, as in MLflow. */
export function mlflowUiRoutes(app: Api, { ctx }: RouteDeps): void {
  app.get('/metrics/get-history-bulk', schema('MLflow web UI: full histories of one metric over up to 100 runs (`run_id` repeated, `metric_key`, `max_results` ≤ 25000 overall)'), async (req) => {
    const q = query(req);
    const key = checkBulkHistoryRequest(list(q.run_id, 'run_id'), first(q.metric_key));
    const max = Math.min(maxResults(first(q.max_results), BULK_HISTORY_MAX, Number.MAX_SAFE_INTEGER), BULK_HISTORY_MAX);
    return { metrics: await metricHistoryBulk(ctx, req.tenant, list(q.run_id, 'run_id').map(String), key, max) };
  });

  app.post('/experiments/search-datasets', schema('MLflow web UI: the datasets logged (log_inputs) in up to 20 experiments', 'Distinct experiment_id, name, digest and context (the mlflow.data.context input tag). Ids that are not experiments of your team are left out, as MLflow leaves out unknown ids.'), async (req) => {
    const ids = list(input(req).experiment_ids, 'experiment_ids');
    if (!ids.length) throw invalid('SearchDatasets request must specify at least one experiment_id.');
    if (ids.length > DATASET_EXPERIMENTS_MAX) throw invalid(`SearchDatasets request cannot specify more than ${DATASET_EXPERIMENTS_MAX} experiment_ids. Received ${ids.length} experiment_ids.`);
    return { dataset_summaries: await searchDatasets(ctx, req.tenant, ids) };
  });

  app.register(async (scoped: Api) => {
    // the UI posts the file's bytes as the raw body, whatever their type
    scoped.removeAllContentTypeParsers();
    scoped.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: UI_UPLOAD_MAX }, (_req, body, done) => done(null, body));
    scoped.post('/upload-artifact', schema('MLflow web UI: upload one small file (≤ 10 MB, raw body) to a run (`?run_uuid=&path=`)'), async (req) => {
      const q = query(req);
      const runId = first(q.run_uuid);
      if (!runId) throw invalid('Request must specify run_uuid.');
      const path = first(q.path);
      if (typeof path !== 'string' || !path) throw invalid('Request must specify path.');
      if (!safeArtifactPath(path)) throw invalid('Invalid path');
      const data = req.body as Buffer | undefined;
      if (!data || !data.length) throw invalid('Request must specify data.');
      const run = await findRun(ctx, req.tenant, runId);
      const uri = runArtifactUri(run);
      if (!proxied(uri)) throw invalid(`The artifacts of run ${hex(run.id)} live at ${uri}, which this server does not write; log them with the MLflow client`);
      await artifacts.uploadArtifact(ctx, req.tenant, run.projectId, run.id, { path, body: Readable.from([data]), contentLength: data.length, contentType: req.headers['content-type'] });
      return {};
    });
  });
}

/** `/get-artifact` at the server root (the web UI's file viewer), as in MLflow. */
export function mlflowGetArtifactRoute(app: Api, { ctx }: RouteDeps): void {
  app.get('', schema('MLflow web UI: download one artifact of a run (`?run_id=` or `?run_uuid=`, `&path=`), as an attachment'), async (req, typedReply) => {
    const reply = typedReply as unknown as FastifyReply;
    const q = query(req);
    const path = first(q.path);
    if (typeof path !== 'string') throw invalid("Missing value for required parameter 'path'");
    if (!safeArtifactPath(path)) throw invalid('Invalid path');
    const { artifact: a, open } = await runFile(ctx, req.tenant, first(q.run_id) || first(q.run_uuid), path);
    // an attachment, never rendered on this origin (MLflow's reason: a stored HTML file would run as this site)
    reply.headers({ 'content-type': a.contentType, 'content-disposition': contentDisposition(a.path), 'x-content-type-options': 'nosniff', 'content-length': String(a.size) });
    return reply.send(a.size === 0 ? '' : await open());
  });
}
