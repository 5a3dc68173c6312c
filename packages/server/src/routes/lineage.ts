import { z } from 'zod';
import { FeatureDiffQuery, FeatureDiffResponse, LineageEdge, LineageQuery, LineageResponse, ReferenceCreate, ReferenceDeleteQuery } from '@assay/contracts/lineage';
import { featureDiff } from '../services/feature-diff.ts';
import * as svc from '../services/lineage.ts';
import { errors, ExperimentParams, ProjectParams, type Api, type RouteDeps } from './types.ts';
import { Name } from '@assay/contracts';

/** The experiment DAG (typed references, lineage walks) and feature diffs between runs. */
export function lineageRoutes(app: Api, { ctx }: RouteDeps): void {
  const tags = ['lineage'];
  const base = '/projects/:project_id/experiments/:experiment_id';

  app.post(`${base}/references`, {
    schema: {
      tags,
      summary: 'Add a typed reference from this run to another run of the project',
      description:
        'Kinds: `derived_from` (the default; the first one also sets the run\'s `parent_id`), `resumes`, `uses_checkpoint_of`, `compares_to`. ' +
        '201 when added, 200 when it already existed. A reference that would close a cycle (over every kind), or to the run itself: 409. ' +
        'The target must be in the same project: any other run is 404.',
      params: ExperimentParams,
      body: ReferenceCreate,
      response: { 201: LineageEdge, 200: LineageEdge, ...errors(403, 409) },
    },
  }, async (req, reply) => {
    const r = await svc.addReference(ctx, req.tenant, req.params.project_id, req.params.experiment_id, req.body);
    return reply.code(r.status).send(r.edge);
  });

  app.delete(`${base}/references/:to_experiment`, {
    schema: {
      tags,
      summary: 'Remove the references from this run to another (one kind, or every kind)',
      description: 'Removing the `derived_from` reference that `parent_id` mirrors clears `parent_id`. 404 when there was none.',
      params: ExperimentParams.extend({ to_experiment: Name('to_experiment') }),
      querystring: ReferenceDeleteQuery,
      response: { 204: z.null(), ...errors(403) },
    },
  }, async (req, reply) => {
    await svc.removeReference(ctx, req.tenant, req.params.project_id, req.params.experiment_id, req.params.to_experiment, req.query.kind);
    return reply.code(204).send(null);
  });

  app.get(`${base}/lineage`, {
    schema: {
      tags,
      summary: "The run's lineage: what it derives from (up), what derives from it (down), or both",
      description:
        'Nodes (with their distance from the root) and edges reached within `depth` references; `truncated` says more lie beyond. ' +
        'An edge `{from, to, kind}` reads "from was derived from / resumes / … to".',
      params: ExperimentParams,
      querystring: LineageQuery,
      response: { 200: LineageResponse, ...errors() },
    },
  }, (req) => svc.lineage(ctx, req.tenant, req.params.project_id, req.params.experiment_id, req.query));

  app.get('/projects/:project_id/feature-diff', {
    schema: {
      tags: ['experiments'],
      summary: 'Feature (config) diff between runs',
      description:
        'Features are flattened to dotted keys (`model.depth`; arrays compare whole). Only keys that differ, relative to the first run, unless `all=true`. ' +
        'Runs by UUID or name, in the order given; each answer is keyed by the identifier as sent.',
      params: ProjectParams,
      querystring: FeatureDiffQuery,
      response: { 200: FeatureDiffResponse, ...errors() },
    },
  }, (req) => featureDiff(ctx, req.tenant, req.params.project_id, req.query.experiment_ids, req.query.all));
}
