import { randomUUID } from 'node:crypto';
import type { AppContext } from '../context.ts';
import { conflict, notFound, unprocessable } from '../errors.ts';
import { evidenceRows, insertEvidence, type EvidenceRow } from '../stores/clickhouse/queries/evidence.ts';
import { isUniqueViolation } from '../stores/postgres/errors.ts';
import * as repo from '../stores/postgres/repos/hypotheses.ts';
import type { HypothesisStatus } from '../stores/postgres/schema.ts';
import { isUuid, type Tenant } from '../stores/postgres/tenant.ts';
import { requireRole } from './auth.ts';
import {
  armResult,
  buildArms,
  combineArms,
  evaluationMessage,
  matchesFilter,
  metricEvidence,
  thresholds,
  type MetricEvidence,
  type RunInfo,
} from './evaluation.ts';
import { metricConfigs } from './metric-config.ts';
import { resolveProject } from './resolve.ts';
import { aggregateRuns } from './run-aggregates.ts';

interface HypothesisBody {
  key?: string;
  statement?: string | null;
  baseline_experiment?: string;
  target_metrics?: string[];
  candidate_experiments?: string[] | null;
  candidate_filter?: Record<string, unknown[]> | null;
  confidence_threshold?: number;
  min_effect?: number;
}

/** An evaluation document as stored (jsonb) and served. */
export type EvaluationDoc = Awaited<ReturnType<typeof evaluateHypothesis>>;
const asDoc = (r: Record<string, unknown>) => r as unknown as EvaluationDoc;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const hypothesisDto = (h: repo.HypothesisRow) => ({
  id: h.id,
  project_id: h.projectId,
  key: h.key,
  statement: h.statement,
  baseline_experiment: h.baselineExperiment,
  target_metrics: h.targetMetrics,
  candidate_experiments: h.candidateExperiments,
  candidate_filter: h.candidateFilter,
  confidence_threshold: h.confidenceThreshold,
  min_effect: h.minEffect,
  status: h.status,
  evidence_score: h.evidenceScore,
  confidence: h.confidence,
  last_evaluated_at: iso(h.lastEvaluatedAt),
  created_at: h.createdAt.toISOString(),
  updated_at: h.updatedAt.toISOString(),
});

function values(b: HypothesisBody): Partial<repo.HypothesisValues> {
  const v: Partial<repo.HypothesisValues> = {};
  if (b.key !== undefined) v.key = b.key;
  if (b.statement !== undefined) v.statement = b.statement;
  if (b.baseline_experiment !== undefined) v.baselineExperiment = b.baseline_experiment;
  if (b.target_metrics !== undefined) v.targetMetrics = [...new Set(b.target_metrics)];
  if (b.candidate_experiments !== undefined) v.candidateExperiments = b.candidate_experiments;
  if (b.candidate_filter !== undefined) v.candidateFilter = b.candidate_filter;
  if (b.confidence_threshold !== undefined) v.confidenceThreshold = b.confidence_threshold;
  if (b.min_effect !== undefined) v.minEffect = b.min_effect;
  return v;
}

async function resolveHypothesis(ctx: AppContext, tenant: Tenant, projectIdOrName: string, idOrKey: string) {
  const project = await resolveProject(ctx, tenant, projectIdOrName);
  const h = await repo.findHypothesis(ctx.pg.db, tenant, project.id, idOrKey);
  if (!h) throw notFound('Hypothesis');
  return { project, h };
}

/**
 * `if_exists=return` on an existing key answers 200 with the stored hypothesis, its definition
 * replaced by the one sent: the SDK declares the hypothesis each time a script runs, so an edited
 * script (say, a corrected baseline name) takes effect. Status and evidence stay until re-evaluated.
 */
export async function createHypothesis(ctx: AppContext, tenant: Tenant, projectIdOrName: string, body: HypothesisBody & { key: string }, ifExists: 'error' | 'return') {
  requireRole(tenant, 'researcher');
  const project = await resolveProject(ctx, tenant, projectIdOrName);
  const v = values(body) as repo.HypothesisValues;
  const created = await repo.insertHypothesis(ctx.pg.db, tenant, project.id, v);
  if (created) return { status: 201 as const, hypothesis: hypothesisDto(created) };
  const existing = await repo.findHypothesis(ctx.pg.db, tenant, project.id, body.key);
  if (ifExists === 'return' && existing && existing.key === body.key) {
    const updated = await repo.updateHypothesis(ctx.pg.db, tenant, project.id, existing.id, v);
    return { status: 200 as const, hypothesis: hypothesisDto(updated ?? existing) };
  }
  throw conflict(`A hypothesis with key "${body.key}" already exists in this project`);
}

export async function listHypotheses(ctx: AppContext, tenant: Tenant, projectIdOrName: string, status?: HypothesisStatus) {
  const project = await resolveProject(ctx, tenant, projectIdOrName);
  return { items: (await repo.listHypotheses(ctx.pg.db, tenant, project.id, status)).map(hypothesisDto) };
}

/** The hypothesis with its newest evaluation document (null before the first). */
export async function getHypothesis(ctx: AppContext, tenant: Tenant, projectIdOrName: string, idOrKey: string) {
  const { h } = await resolveHypothesis(ctx, tenant, projectIdOrName, idOrKey);
  const [latest] = await repo.listEvaluations(ctx.pg.db, tenant, h.id, 1);
  return { ...hypothesisDto(h), latest_evaluation: latest ? asDoc(latest.result) : null };
}

export async function updateHypothesis(ctx: AppContext, tenant: Tenant, projectIdOrName: string, idOrKey: string, body: HypothesisBody) {
  requireRole(tenant, 'researcher');
  const { project, h } = await resolveHypothesis(ctx, tenant, projectIdOrName, idOrKey);
  try {
    const u = await repo.updateHypothesis(ctx.pg.db, tenant, project.id, h.id, values(body));
    if (!u) throw notFound('Hypothesis');
    return hypothesisDto(u);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`A hypothesis with key "${body.key}" already exists in this project`);
    throw e;
  }
}

export async function deleteHypothesis(ctx: AppContext, tenant: Tenant, projectIdOrName: string, idOrKey: string) {
  requireRole(tenant, 'researcher');
  const { project, h } = await resolveHypothesis(ctx, tenant, projectIdOrName, idOrKey);
  await repo.deleteHypothesis(ctx.pg.db, tenant, project.id, h.id);
}

export async function listEvaluations(ctx: AppContext, tenant: Tenant, projectIdOrName: string, idOrKey: string, limit: number) {
  const { h } = await resolveHypothesis(ctx, tenant, projectIdOrName, idOrKey);
  return { items: (await repo.listEvaluations(ctx.pg.db, tenant, h.id, limit)).map((e) => asDoc(e.result)) };
}

/** The evidence rows (ClickHouse) of one evaluation — the newest unless `evaluation_id` is given. */
export async function getEvidence(ctx: AppContext, tenant: Tenant, projectIdOrName: string, idOrKey: string, evaluationId?: string) {
  const { project, h } = await resolveHypothesis(ctx, tenant, projectIdOrName, idOrKey);
  const id = evaluationId ?? (await repo.listEvaluations(ctx.pg.db, tenant, h.id, 1))[0]?.id;
  if (!id) return { evaluation_id: null, items: [] };
  return { evaluation_id: id, items: await evidenceRows(ctx.ch, tenant, project.id, h.id, id) };
}

/** Levenshtein distance, for "did you mean" on a baseline name that matches nothing. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

function missing(field: string, refs: string[], runs: RunInfo[], projectName: string) {
  const hints = refs.length === 1 && refs[0].length <= 255
    ? runs.map((r) => ({ name: r.name, d: distance(refs[0], r.name) })).filter((x) => x.d <= Math.max(2, Math.floor(refs[0].length / 4))).sort((a, b) => a.d - b.d).slice(0, 3)
    : [];
  const what = field === 'baseline_experiment' ? 'baseline experiment' : refs.length > 1 ? 'candidate experiments' : 'candidate experiment';
  const list = refs.map((r) => `"${r}"`).join(', ');
  const hint = hints.length ? `; did you mean ${hints.map((x) => `"${x.name}"`).join(' or ')}?` : '';
  return unprocessable([field], `${what} ${list} matches no experiment in project "${projectName}"${hint}`);
}

const findRun = (runs: RunInfo[], ref: string) => (isUuid(ref) && runs.find((r) => r.id === ref)) || runs.find((r) => r.name === ref);

/**
 * Evaluates now: arms from the project's runs, per-run aggregates by each metric's configuration,
 * the statistics (evaluation.ts), then the evidence rows (ClickHouse) and the hypothesis' status
 * and evaluation history (PostgreSQL). A baseline or listed candidate that matches no run → 422
 * naming it.
 */
export async function evaluateHypothesis(ctx: AppContext, tenant: Tenant, projectIdOrName: string, idOrKey: string) {
  requireRole(tenant, 'researcher');
  const { project, h } = await resolveHypothesis(ctx, tenant, projectIdOrName, idOrKey);
  const runs: RunInfo[] = await repo.projectRuns(ctx.pg.db, tenant, project.id);
  const baseline = findRun(runs, h.baselineExperiment);
  if (!baseline) throw missing('baseline_experiment', [h.baselineExperiment], runs, project.name);
  let candidates: RunInfo[];
  if (h.candidateExperiments?.length) {
    const absent = h.candidateExperiments.filter((ref) => !findRun(runs, ref));
    if (absent.length) throw missing('candidate_experiments', absent, runs, project.name);
    candidates = h.candidateExperiments.map((ref) => findRun(runs, ref)!);
  } else if (h.candidateFilter && Object.keys(h.candidateFilter).length) {
    candidates = runs.filter((r) => matchesFilter(r.features, h.candidateFilter!));
  } else {
    candidates = runs;
  }
  const { baseline: baseRuns, arms } = buildArms(baseline, runs, candidates);
  const configs = await metricConfigs(ctx, tenant, project.id, h.targetMetrics);
  const ids = [...new Set([...baseRuns, ...arms.flatMap((a) => a.runs)].map((r) => r.id))];
  // One query per metric; concurrent, so a ClickHouse server can spread them over its cores.
  const aggregates = await Promise.all(h.targetMetrics.map((name) => aggregateRuns(ctx, tenant, project.id, ids, configs.get(name)!)));
  const perMetric = new Map(h.targetMetrics.map((name, i) => [name, aggregates[i]]));

  const th = thresholds(h.confidenceThreshold, h.minEffect, arms.length, h.targetMetrics.length);
  const baseNames = baseRuns.map((r) => r.name);
  const baselineRunning = baseRuns.filter((r) => r.status === 'running').length;
  const metrics: MetricEvidence[] = [];
  const armResults = arms.map((arm) => {
    const evidence = h.targetMetrics.map((name) => {
      const vals = perMetric.get(name)!;
      return metricEvidence(
        configs.get(name)!,
        { label: arm.label, names: arm.runs.map((r) => r.name), values: arm.runs.map((r) => vals.get(r.id) ?? null) },
        { names: baseNames, values: baseRuns.map((r) => vals.get(r.id) ?? null) },
        th,
      );
    });
    metrics.push(...evidence);
    return armResult(arm, baselineRunning, evidence, th);
  });
  // Reported metric by metric (target order), each with its arms.
  metrics.sort((a, b) => h.targetMetrics.indexOf(a.metric_name) - h.targetMetrics.indexOf(b.metric_name));
  const { status, leading } = combineArms(armResults);
  const evaluatedAt = new Date();
  const id = randomUUID();
  const doc = {
    id,
    hypothesis_id: h.id,
    status,
    evidence_score: leading?.evidence_score ?? 0,
    confidence: leading?.confidence ?? 0,
    message: evaluationMessage(status, leading, metrics, baseline.name),
    evaluated_at: evaluatedAt.toISOString(),
    leading_arm: leading?.arm ?? null,
    confidence_threshold: th.confidence,
    support_threshold: th.support,
    refute_threshold: th.refute,
    min_effect: th.minEffect,
    baseline: { experiments: baseNames, experiment_ids: baseRuns.map((r) => r.id), n: baseRuns.length, running: baselineRunning },
    arms: armResults,
    metrics,
  };

  const rows: EvidenceRow[] = metrics.flatMap((m) => {
    const arm = arms.find((a) => a.label === m.candidate_arm)!;
    const vals = perMetric.get(m.metric_name)!;
    return arm.runs.map((r) => {
      const v = vals.get(r.id);
      const value = typeof v === 'number' && Number.isFinite(v) ? v : null;
      return {
        experimentId: r.id,
        metricName: m.metric_name,
        baselineValue: m.baseline_value,
        experimentValue: value,
        delta: value !== null && m.baseline_value !== null ? value - m.baseline_value : null,
        direction: m.direction,
        confidence: m.confidence,
        arm: m.candidate_arm,
        method: m.method,
        verdict: m.verdict,
        nBaseline: m.n_baseline,
        nCandidate: m.n_candidate,
        relativeDelta: m.relative_delta,
        t: m.t,
        df: m.df,
        pValue: m.p_value,
      };
    });
  });
  await insertEvidence(ctx.ch, tenant, { projectId: project.id, hypothesisId: h.id, evaluationId: id, evaluatedAt }, rows);
  const stored = await repo.recordEvaluation(ctx.pg.db, tenant, project.id, h.id, {
    id,
    status,
    evidenceScore: doc.evidence_score,
    confidence: doc.confidence,
    result: doc,
    evaluatedAt,
  });
  if (!stored) throw notFound('Hypothesis');
  return doc;
}
