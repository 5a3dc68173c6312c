import { MlflowError } from '../../services/mlflow/errors.ts';
import * as svc from '../../services/mlflow/experiments.ts';
import { decodeToken, encodeToken } from '../../services/mlflow/search.ts';
import type { Api, RouteDeps } from '../types.ts';
import { input, list, maxResults, optString, pairs, schema, viewType } from './common.ts';
import { experimentJson } from './dto.ts';

/** MLflow experiments = Assay projects. */
export function mlflowExperimentRoutes(app: Api, { ctx }: RouteDeps): void {
  app.post('/experiments/create', schema('MLflow CreateExperiment → a new Assay project', 'Tags other than mlflow.note.content (→ the description) are refused: projects have no key/value tags.'), async (req) => {
    const b = input(req);
    const tags = pairs(b.tags, 'tags');
    const note = tags.find(([k]) => k === 'mlflow.note.content');
    const other = tags.filter(([k]) => k !== 'mlflow.note.content');
    if (other.length) throw new MlflowError('INVALID_PARAMETER_VALUE', `Assay experiments (projects) keep no tags other than mlflow.note.content; got '${String(other[0][0])}'`);
    const p = await svc.createExperimentProject(ctx, req.tenant, b.name, note ? String(note[1]) : undefined);
    return { experiment_id: experimentJson(p).experiment_id };
  });

  for (const method of ['GET', 'POST'] as const) {
    app.route({ method, url: '/experiments/search', ...schema('MLflow SearchExperiments (filter on name / creation_time / last_update_time, order_by, pages)'), handler: async (req) => {
      const b = input(req);
      const max = maxResults(b.max_results, 1000, 50_000);
      const r = await svc.searchExperiments(ctx, req.tenant, {
        filter: optString(b.filter, 'filter'),
        orderBy: list(b.order_by, 'order_by').map(String),
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

  app.post('/experiments/set-experiment-tag', schema('MLflow SetExperimentTag (only mlflow.note.content → the project description)'), async (req) => {
    const b = input(req);
    const p = await svc.projectByExperimentId(ctx, req.tenant, b.experiment_id);
    if (b.key !== 'mlflow.note.content') throw new MlflowError('INVALID_PARAMETER_VALUE', `Assay experiments (projects) keep no tags other than mlflow.note.content; got '${String(b.key)}'`);
    await svc.setExperimentNote(ctx, req.tenant, p, b.value === undefined || b.value === null ? null : String(b.value));
    return {};
  });

  for (const [url, what] of [['/experiments/delete', 'DeleteExperiment'], ['/experiments/restore', 'RestoreExperiment']] as const) {
    app.post(url, schema(`MLflow ${what}: not supported (projects are not soft-deleted)`), async (req) => {
      await svc.projectByExperimentId(ctx, req.tenant, input(req).experiment_id);
      throw new MlflowError('NOT_IMPLEMENTED', 'Assay projects are not soft-deleted; delete one with DELETE /api/v1/projects/{id} (admin role; deletes its runs and metrics)');
    });
  }
}
