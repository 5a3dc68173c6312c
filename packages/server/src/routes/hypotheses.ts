import { z } from 'zod';
import { IfExistsQuery } from '@assay/contracts';
import {
  Evaluation,
  EvaluationList,
  EvaluationListQuery,
  Hypothesis,
  HypothesisCreate,
  HypothesisDetail,
  HypothesisListQuery,
  HypothesisParams,
  HypothesisPatch,
} from '@assay/contracts/hypotheses';
import * as svc from '../services/hypotheses.ts';
import { errors, ProjectParams, type Api, type RouteDeps } from './types.ts';

const EVALUATION_RULES =
  'Per target metric, one aggregate per run by the project metric configuration (last / best / average of the final 10% of steps) from ' +
  'deduplicated points. Runs whose features are equal except seed-like keys (last segment `seed` or ending in `_seed`) form an arm; the ' +
  'baseline arm is the baseline run and its replicates. Per metric × candidate arm with ≥ 2 runs in both arms: one-sided Welch t-test in ' +
  'the direction of improvement, confidence = 1 − p; with one run: `single-run`, an indicative delta without p-value. An arm is Supported ' +
  'when every metric improves with confidence ≥ 1 − (1 − threshold)/K (K candidate arms) and |relative delta| ≥ min_effect; Refuted when ' +
  'any metric is worse with confidence ≥ 1 − (1 − threshold)/(K·M); Testing otherwise, and always while a run of the arm or the baseline ' +
  'is running, with a single run, or without data. The hypothesis is Supported when an arm is, Refuted when every arm is; see the README.';

export function hypothesisRoutes(app: Api, { ctx }: RouteDeps): void {
  const tags = ['hypotheses'];
  const base = '/projects/:project_id/hypotheses';
  const one = `${base}/:hypothesis_id`;

  app.get(base, {
    schema: { tags, summary: 'List the hypotheses of a project with their status', params: ProjectParams, querystring: HypothesisListQuery, response: { 200: z.object({ items: z.array(Hypothesis) }), ...errors() } },
  }, (req) => svc.listHypotheses(ctx, req.tenant, req.params.project_id, req.query.status));

  app.post(base, {
    schema: {
      tags,
      summary: 'Create a hypothesis',
      description:
        'Keys are unique per project: 409 on a duplicate unless `if_exists=return`, which answers 200 with the existing hypothesis, its definition ' +
        'replaced by the one sent (status and evidence stay until the next evaluation). No experiment needs to exist yet: names are resolved at evaluation. ' +
        'Candidates: `candidate_experiments`, else `candidate_filter`, else every other run of the project.',
      params: ProjectParams,
      querystring: IfExistsQuery,
      body: HypothesisCreate,
      response: { 201: Hypothesis, 200: Hypothesis, ...errors(403, 409) },
    },
  }, async (req, reply) => {
    const r = await svc.createHypothesis(ctx, req.tenant, req.params.project_id, req.body, req.query.if_exists);
    return reply.code(r.status).send(r.hypothesis);
  });

  app.get(one, {
    schema: { tags, summary: 'Get a hypothesis (by UUID or key) with its latest evaluation', params: HypothesisParams, response: { 200: HypothesisDetail, ...errors() } },
  }, (req) => svc.getHypothesis(ctx, req.tenant, req.params.project_id, req.params.hypothesis_id));

  app.patch(one, {
    schema: { tags, summary: 'Change a hypothesis definition (fields not sent stay)', params: HypothesisParams, body: HypothesisPatch, response: { 200: Hypothesis, ...errors(403, 409) } },
  }, (req) => svc.updateHypothesis(ctx, req.tenant, req.params.project_id, req.params.hypothesis_id, req.body));

  app.delete(one, {
    schema: { tags, summary: 'Delete a hypothesis and its evaluation history', params: HypothesisParams, response: { 204: z.null(), ...errors(403) } },
  }, async (req, reply) => {
    await svc.deleteHypothesis(ctx, req.tenant, req.params.project_id, req.params.hypothesis_id);
    return reply.code(204).send(null);
  });

  app.post(`${one}/evaluate`, {
    schema: {
      tags,
      summary: 'Evaluate the hypothesis against the evidence now',
      description: `${EVALUATION_RULES} Each evaluation appends evidence rows (ClickHouse) and an evaluation record, and sets the hypothesis status. 422 when the baseline or a listed candidate matches no experiment (the detail names it).`,
      params: HypothesisParams,
      response: { 200: Evaluation, ...errors(403) },
    },
  }, (req) => svc.evaluateHypothesis(ctx, req.tenant, req.params.project_id, req.params.hypothesis_id));

  app.get(`${one}/evaluations`, {
    schema: { tags, summary: 'Past evaluations, newest first', params: HypothesisParams, querystring: EvaluationListQuery, response: { 200: EvaluationList, ...errors() } },
  }, (req) => svc.listEvaluations(ctx, req.tenant, req.params.project_id, req.params.hypothesis_id, req.query.limit));

  app.get(`${one}/evidence`, {
    schema: {
      tags,
      summary: 'The evidence rows of an evaluation (one per target metric × candidate run), from ClickHouse',
      description: 'The newest evaluation unless `evaluation_id` is given.',
      params: HypothesisParams,
      querystring: z.object({ evaluation_id: z.string().uuid().optional() }),
      response: { 200: z.object({ evaluation_id: z.string().uuid().nullable(), items: z.array(z.record(z.string(), z.unknown())) }), ...errors() },
    },
  }, (req) => svc.getEvidence(ctx, req.tenant, req.params.project_id, req.params.hypothesis_id, req.query.evaluation_id));
}
