import * as svc from '../../services/mlflow/experiments.ts';
import { decodeToken, encodeToken } from '../../services/mlflow/search.ts';
import type { Api, RouteDeps } from '../types.ts';
import { array, input, maxResults, optString, pairs, schema, stringList, stringValue, viewType } from './common.ts';
import { experimentJson } from './dto.ts';

/** MLflow experiments = Assay projects. */
export function mlflowExperimentRoutes(app: Api, { ctx }: RouteDeps): void {
  app.post('/experiments/create', schema('MLflow CreateExperiment → a new Assay project', 'Tags are kept as the project\'s key/value tags (mlflow.note.content as its description). artifact_location is kept as MLflow keeps it (a relative path resolved against the server\'s working directory) and runs created in the experiment get <location>/<run_id>/artifacts; the client reads and writes file:, local and object-store locations itself, a host-less mlflow-artifacts: location goes through Assay\'s proxy. A name held by a deleted experiment is RESOURCE_ALREADY_EXISTS, as in MLflow.'), async (req) => {
    const b = input(req);
    const location = (stringValue(b.artifact_location, 'artifact_location') as string | null | undefined) ?? undefined;
    const p = await svc.createExperimentProject(ctx, req.tenant, b.name, pairs(array(b.tags, 'tags'), 'tags'), location);
    return { experiment_id: experimentJson(p).experiment_id };
  });

  for (const method of ['GET', 'POST'] as const) {
    app.route({ method, url: '/experiments/search', ...schema('MLflow SearchExperiments (filter on name / creation_time / last_update_time, order_by, pages)'), handler: async (req) => {
      const b = input(req);
      const max = maxResults(b.max_results, 1000, 50_000);
      const r = await svc.searchExperiments(ctx, req.tenant, {
        filter: optString(b.filter, 'filter'),
        orderBy: stringList(b.order_by, 'order_by'),
        maxResults: max,
        offset: decodeToken(b.page_token),
        viewType: viewType(b.view_type),
      });
      const offset = decodeToken(b.page_token);
      return { experiments: r.items.map(experimentJson), ...(r.more ? { next_page_token: encodeToken(offset + max) } : {}) };
    } });
  }

  app.get('/experiments/get', schema('MLflow GetExperiment ("0" = the project named Default)'), async (req) => ({
    experiment: experimentJson(await svc.projectByExperimentId(ctx, req.tenant, input(req).experiment_id)),
  }));

  app.get('/experiments/get-by-name', schema('MLflow GetExperimentByName'), async (req) => ({
    experiment: experimentJson(await svc.projectByName(ctx, req.tenant, input(req).experiment_name)),
  }));

  app.post('/experiments/update', schema('MLflow UpdateExperiment (rename the project)'), async (req) => {
    const b = input(req);
    await svc.renameExperimentProject(ctx, req.tenant, await svc.projectByExperimentId(ctx, req.tenant, b.experiment_id), b.new_name);
    return {};
  });

  app.post('/experiments/set-experiment-tag', schema('MLflow SetExperimentTag (a project tag; mlflow.note.content is the description)', 'Sets or overwrites one key (≤ 250 characters, value ≤ 20,000). INVALID_PARAMETER_VALUE on a deleted experiment.'), async (req) => {
    const b = input(req);
    await svc.setExperimentTag(ctx, req.tenant, await svc.projectByExperimentId(ctx, req.tenant, b.experiment_id), b.key, b.value);
    return {};
  });

  app.post('/experiments/delete-experiment-tag', schema('MLflow DeleteExperimentTag', 'RESOURCE_DOES_NOT_EXIST when the experiment has no such tag.'), async (req) => {
    const b = input(req);
    await svc.deleteExperimentTag(ctx, req.tenant, await svc.projectByExperimentId(ctx, req.tenant, b.experiment_id), b.key);
    return {};
  });

  app.post('/experiments/delete', schema('MLflow DeleteExperiment: soft delete of the project', 'The project leaves Assay\'s lists and its /api/v1 routes answer 404 (GET /api/v1/projects/{id} shows it with deleted_at); its runs read as deleted; the name stays taken. Restorable.'), async (req) => {
    await svc.setExperimentDeleted(ctx, req.tenant, await svc.projectByExperimentId(ctx, req.tenant, input(req).experiment_id), true);
    return {};
  });

  app.post('/experiments/restore', schema('MLflow RestoreExperiment: undo the soft delete', 'RESOURCE_DOES_NOT_EXIST unless the experiment is deleted.'), async (req) => {
    await svc.setExperimentDeleted(ctx, req.tenant, await svc.projectByExperimentId(ctx, req.tenant, input(req).experiment_id), false);
    return {};
  });
}
