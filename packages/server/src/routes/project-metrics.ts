import { z } from 'zod';
import { ProjectMetric, ProjectMetricList, ProjectMetricParams, ProjectMetricPut } from '@assay/contracts/project-metrics';
import * as svc from '../services/project-metrics.ts';
import { errors, ProjectParams, type Api, type RouteDeps } from './types.ts';

export function projectMetricRoutes(app: Api, { ctx }: RouteDeps): void {
  const tags = ['project metrics'];
  app.get('/projects/:project_id/metrics', {
    schema: {
      tags,
      summary: 'List the metrics of a project with their configuration',
      description:
        'Every metric logged in the project and every configured one (derived metrics included). Unconfigured metrics show the defaults ' +
        '(direction by name: loss, error, perplexity, mse, mae, wer, cer → minimize, else maximize; aggregation last) with `configured: false`.',
      params: ProjectParams,
      response: { 200: ProjectMetricList, ...errors() },
    },
  }, (req) => svc.listProjectMetrics(ctx, req.tenant, req.params.project_id));

  app.put('/projects/:project_id/metrics/:metric_name', {
    schema: {
      tags,
      summary: 'Configure a metric (upsert)',
      description:
        'Fields left out keep their value. `source_type: derived` needs an `expression` over logged metrics of the same experiment and step ' +
        '(+ - * /, parentheses, numbers, abs/log/exp/sqrt/min/max, backticks for names like `val/loss`); a syntax error is a 422 naming the position. ' +
        'A derived metric cannot read itself or another derived metric (422), and a metric read by a derived one cannot become derived (409).',
      params: ProjectMetricParams,
      body: ProjectMetricPut,
      response: { 200: ProjectMetric.omit({ logged: true }), ...errors(403, 409) },
    },
  }, (req) => svc.putProjectMetric(ctx, req.tenant, req.params.project_id, req.params.metric_name, req.body));

  app.delete('/projects/:project_id/metrics/:metric_name', {
    schema: { tags, summary: "Remove a metric's configuration (its points stay)", params: ProjectMetricParams, response: { 204: z.null(), ...errors(403) } },
  }, async (req, reply) => {
    await svc.deleteProjectMetric(ctx, req.tenant, req.params.project_id, req.params.metric_name);
    return reply.code(204).send(null);
  });
}
