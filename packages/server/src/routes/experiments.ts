import { z } from 'zod';
import { CodeSnapshot, Experiment, ExperimentCreate, ExperimentListQuery, ExperimentPatch, HeartbeatResponse, IfExistsQuery, LIMITS, page } from '@assay/contracts';
import * as svc from '../services/experiments.ts';
import { errors, ExperimentParams, ProjectParams, type Api, type RouteDeps } from './types.ts';

/**
 * Bodies of create and patch: features at their limit (≤ 4 UTF-8 bytes per code point) plus the rest
 * (1,000 tags, a description) fit. Under the server-wide 64 MiB a body of a million feature keys
 * took seconds just to parse.
 */
const EXPERIMENT_BODY_LIMIT = 4 * LIMITS.featuresJsonMax + (2 << 20);

export function experimentRoutes(app: Api, { ctx }: RouteDeps): void {
  const tags = ['experiments'];
  const base = '/projects/:project_id/experiments';
  app.get(base, {
    schema: {
      tags,
      summary: 'List experiments of a project',
      description: 'Newest first; filter by name substring, status, tag and `ids` (UUIDs or names: the runs a compare view shows, in one request); paginate with `cursor`.',
      params: ProjectParams,
      querystring: ExperimentListQuery,
      response: { 200: page(Experiment), ...errors() },
    },
  }, (req) => svc.listExperiments(ctx, req.tenant, req.params.project_id, req.query));

  app.post(base, {
    bodyLimit: EXPERIMENT_BODY_LIMIT,
    schema: {
      tags,
      summary: 'Create an experiment (run)',
      description:
        'Names are unique per project: 409 on a duplicate unless `if_exists=return`, which returns the existing run (200) and marks it running — the SDK\'s ' +
        'get-or-create and resume. On resume, `tags` are added to the stored ones (stored first, no duplicates; 422 past 1000), `features` are deep-merged ' +
        'as PATCH does, `description` replaces the stored one when given; name, host and parent stay as stored.',
      params: ProjectParams,
      querystring: IfExistsQuery,
      body: ExperimentCreate,
      response: { 201: Experiment, 200: Experiment, ...errors(403, 409) },
    },
  }, async (req, reply) => {
    const r = await svc.createExperiment(ctx, req.tenant, req.params.project_id, req.body, req.query.if_exists);
    return reply.code(r.status).send(r.experiment);
  });

  app.get(`${base}/:experiment_id`, {
    schema: { tags, summary: 'Get an experiment (by UUID or name)', params: ExperimentParams, response: { 200: Experiment, ...errors() } },
  }, (req) => svc.getExperiment(ctx, req.tenant, req.params.project_id, req.params.experiment_id));

  app.patch(`${base}/:experiment_id`, {
    bodyLimit: EXPERIMENT_BODY_LIMIT,
    schema: {
      tags,
      summary: 'Update status, description, features (deep-merged), tags (replaced) or name',
      description: 'A terminal status (complete, failed, crashed) sets `finished_at` to now unless `finished_at` is given; `started_at`/`finished_at` set the times as given (what `assay import` uses to keep a source run\'s times).',
      params: ExperimentParams,
      body: ExperimentPatch,
      response: { 200: Experiment, ...errors(403, 409) },
    },
  }, (req) => svc.updateExperiment(ctx, req.tenant, req.params.project_id, req.params.experiment_id, req.body));

  app.delete(`${base}/:experiment_id`, {
    schema: { tags, summary: 'Delete an experiment and its metrics', params: ExperimentParams, response: { 204: z.null(), ...errors(403) } },
  }, async (req, reply) => {
    await svc.deleteExperiment(ctx, req.tenant, req.params.project_id, req.params.experiment_id);
    return reply.code(204).send(null);
  });

  app.put(`${base}/:experiment_id/code`, {
    schema: {
      tags,
      summary: 'Record the code snapshot (git commit, branch, remote, dirty flag, diff, untracked files)',
      params: ExperimentParams,
      body: CodeSnapshot,
      response: { 200: Experiment, ...errors(403) },
    },
  }, (req) => svc.updateExperiment(ctx, req.tenant, req.params.project_id, req.params.experiment_id, { git: { ...req.body, recorded_at: new Date().toISOString() } }));

  app.post(`${base}/:experiment_id/heartbeat`, {
    schema: {
      tags,
      summary: 'Heartbeat: the run is alive',
      description:
        'Records the time. A `crashed` run (no heartbeat for ASSAY_HEARTBEAT_TIMEOUT_SECONDS) that heartbeats again is `running` again; ' +
        'complete and failed runs keep their status. Any request body is ignored.',
      params: ExperimentParams,
      response: { 200: HeartbeatResponse, ...errors(403) },
    },
  }, (req) => svc.heartbeat(ctx, req.tenant, req.params.project_id, req.params.experiment_id));
}
