import { projectByExperimentId, requireActiveExperiment } from '../../services/mlflow/experiments.ts';
import type { LoggedModelMeta } from '../../services/mlflow/model.ts';
import { hex, metaOf } from '../../services/mlflow/model.ts';
import { changeModel, createModel, getModel, modelKv, modelStatus } from '../../services/mlflow/models.ts';
import { compareValues, parseFilter, parseOrderBy, test } from '../../services/mlflow/filter.ts';
import { decodeToken, encodeToken } from '../../services/mlflow/search.ts';
import { listProjectsExperiments, removeModelTag } from '../../services/mlflow/runs.ts';
import type { ExperimentRow } from '../../stores/postgres/repos/experiments.ts';
import type { Api, RouteDeps } from '../types.ts';
import { modelArtifactUri } from '../../services/mlflow/artifact-location.ts';
import { invalid, missing } from '../../services/mlflow/errors.ts';
import { input, list, maxResults, optString, pairs, schema } from './common.ts';

const modelJson = (run: ExperimentRow, id: string, m: LoggedModelMeta) => ({
  info: {
    model_id: id,
    experiment_id: hex(run.projectId),
    name: m.name,
    creation_timestamp_ms: m.created_ms,
    last_updated_timestamp_ms: m.updated_ms,
    artifact_uri: modelArtifactUri(run, id),
    status: m.status,
    model_type: m.model_type ?? '',
    source_run_id: hex(run.id),
    tags: Object.entries(m.tags ?? {}).map(([key, value]) => ({ key, value })),
  },
  data: { params: Object.entries(m.params ?? {}).map(([key, value]) => ({ key, value })), metrics: [] },
});

/** MLflow 3 logged models (what `log_model` calls): create, get, finalize, params, tags, search. */
export function mlflowModelRoutes(app: Api, { ctx }: RouteDeps): void {
  const modelId = (req: { params: unknown }) => (req.params as { model_id: string }).model_id;

  app.post('/logged-models', schema('MLflow CreateLoggedModel (kept with its source run)'), async (req) => {
    const b = input(req);
    const p = await projectByExperimentId(ctx, req.tenant, b.experiment_id);
    // MLflow's create_logged_model: the experiment must be active
    requireActiveExperiment(p);
    const r = await createModel(ctx, req.tenant, p.id, { sourceRunId: optString(b.source_run_id, 'source_run_id'), name: optString(b.name, 'name'), modelType: optString(b.model_type, 'model_type'), params: pairs(b.params, 'params'), tags: pairs(b.tags, 'tags') });
    return { model: modelJson(r.run, r.id, r.model) };
  });

  app.get('/logged-models/:model_id', schema('MLflow GetLoggedModel'), async (req) => {
    const r = await getModel(ctx, req.tenant, modelId(req));
    return { model: modelJson(r.run, r.id, r.model) };
  });

  app.patch('/logged-models/:model_id', schema('MLflow FinalizeLoggedModel (status READY / UPLOAD_FAILED)'), async (req) => {
    const r = await changeModel(ctx, req.tenant, modelId(req), () => ({ status: modelStatus(input(req).status) }));
    return { model: modelJson(r.run, r.id, r.model) };
  });

  app.post('/logged-models/:model_id/params', schema('MLflow LogLoggedModelParams'), async (req) => {
    await changeModel(ctx, req.tenant, modelId(req), () => ({ params: modelKv(pairs(input(req).params, 'params'), 'Param') }));
    return {};
  });

  app.patch('/logged-models/:model_id/tags', schema('MLflow SetLoggedModelTags'), async (req) => {
    await changeModel(ctx, req.tenant, modelId(req), () => ({ tags: modelKv(pairs(input(req).tags, 'tags'), 'Tag') }));
    return {};
  });

  app.delete('/logged-models/:model_id/tags/:tag_key', schema('MLflow DeleteLoggedModelTag'), async (req) => {
    const { run, model } = await getModel(ctx, req.tenant, modelId(req));
    const key = (req.params as { tag_key: string }).tag_key;
    // MLflow's SQL store: deleting a tag the model does not have is RESOURCE_DOES_NOT_EXIST, not a silent success
    if (!Object.hasOwn(model.tags ?? {}, key)) throw missing(`No tag with key '${key}' found for model with ID '${modelId(req)}'.`);
    await removeModelTag(ctx, req.tenant, run, modelId(req), key);
    return {};
  });

  app.post('/logged-models/search', schema('MLflow SearchLoggedModels (by experiment; filter on attributes, params and tags, order_by, pages)'), async (req) => {
    const b = input(req);
    const clauses = parseFilter(optString(b.filter, 'filter'));
    const order = parseOrderBy(list(b.order_by, 'order_by').map((o) => {
      if (typeof o === 'string') return o;
      // MLflow's OrderBy message: {field_name, ascending}
      const f = o as { field_name?: unknown; ascending?: unknown } | null;
      if (typeof f !== 'object' || f === null || typeof f.field_name !== 'string' || !f.field_name || (f.ascending !== undefined && typeof f.ascending !== 'boolean')) {
        throw invalid(`Invalid value ${JSON.stringify(o)?.slice(0, 200)} for parameter 'order_by' supplied: expected "<field> [ASC|DESC]" or {"field_name": …, "ascending": …}`);
      }
      return `${f.field_name} ${f.ascending === false ? 'DESC' : 'ASC'}`;
    }));
    const ids = list(b.experiment_ids, 'experiment_ids');
    const projects = await Promise.all(ids.map((id) => projectByExperimentId(ctx, req.tenant, id)));
    const runs = await listProjectsExperiments(ctx, req.tenant, projects.map((p) => p.id));
    const models = runs.flatMap((run) => Object.entries(metaOf(run).models ?? {}).map(([id, m]) => modelJson(run, id, m)));
    type M = (typeof models)[number];
    const lookup = (m: M, entity: string, key: string): string | number | undefined => {
      if (entity === 'param') return m.data.params.find((p) => p.key === key)?.value;
      if (entity === 'tag') return m.info.tags.find((t) => t.key === key)?.value;
      if (entity === 'metric') return undefined;
      const v = (m.info as Record<string, unknown>)[key === 'creation_time' ? 'creation_timestamp_ms' : key === 'last_updated_timestamp' ? 'last_updated_timestamp_ms' : key === 'creation_timestamp' ? 'creation_timestamp_ms' : key];
      return typeof v === 'string' || typeof v === 'number' ? v : undefined;
    };
    const matched = models.filter((m) => clauses.every((c) => test(c, lookup(m, c.entity, c.key))));
    const keys = [...order, { entity: 'attribute', key: 'creation_timestamp_ms', asc: false }, { entity: 'attribute', key: 'model_id', asc: true }];
    matched.sort((x, y) => {
      for (const k of keys) {
        const r = compareValues(lookup(x, k.entity, k.key), lookup(y, k.entity, k.key), k.asc);
        if (r) return r;
      }
      return 0;
    });
    const max = maxResults(b.max_results, 100, 50_000);
    const offset = decodeToken(b.page_token);
    return { models: matched.slice(offset, offset + max), ...(matched.length > offset + max ? { next_page_token: encodeToken(offset + max) } : {}) };
  });
}
