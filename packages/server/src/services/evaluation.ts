import { flattenFeatures, jsonEqual } from './feature-diff.ts';
import { mean, welchTTest } from './stats.ts';
import { RESERVED_KEY } from './mlflow/model.ts';

/**
 * Hypothesis evaluation, the pure part (DESIGN §8; README "Hypotheses and evidence" spells out
 * the same rules with a worked example): arms from features, per metric × arm evidence, verdicts,
 * statuses and scores. services/hypotheses.ts feeds it runs and per-run aggregates.
 */

export type Status = 'Testing' | 'Supported' | 'Refuted';
export type Direction = 'minimize' | 'maximize';

export interface RunInfo {
  id: string;
  name: string;
  status: string;
  features: Record<string, unknown>;
}

/**
 * Seed-like feature keys: runs differing only in these are replicates of one arm. A flattened key
 * is seed-like when its last dotted segment, lower-cased, is `seed` or ends in `_seed`
 * (`seed`, `random_seed`, `training.seed`, `data.shuffle_seed`, `torch_seed`).
 */
export function isSeedKey(key: string): boolean {
  const last = key.slice(key.lastIndexOf('.') + 1).toLowerCase();
  return last === 'seed' || last.endsWith('_seed');
}

/**
 * Flattened features without the seed-like keys, and without the MLflow metadata key (run name,
 * system tags, logged models: different for every run, so replicates would never share an arm).
 */
export function armFeatures(features: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const mlflow = `${RESERVED_KEY}.`;
  for (const [k, v] of flattenFeatures(features)) if (!isSeedKey(k) && k !== RESERVED_KEY && !k.startsWith(mlflow)) out.set(k, v);
  return out;
}

/** A canonical text of a JSON value (object keys sorted), so equal features give equal arm keys. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function armKey(features: unknown): string {
  return canonical(Object.fromEntries([...armFeatures(features)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/** Does a run match a candidate filter (every flattened key holds one of its listed values)? */
export function matchesFilter(features: unknown, filter: Record<string, unknown[]>): boolean {
  const flat = flattenFeatures(features);
  return Object.entries(filter).every(([key, values]) => flat.has(key) && values.some((v) => jsonEqual(flat.get(key), v)));
}

export interface Arm {
  label: string;
  runs: RunInfo[];
  /** Flattened non-seed features that differ from the baseline arm's; null = absent in this arm. */
  features: Record<string, unknown>;
}

const LABEL_MAX = 200;

/**
 * The baseline arm is the baseline run plus every run of the project with the same arm key
 * (its replicates). Candidate runs outside the baseline arm group by arm key; an arm is labelled by
 * its features that differ from the baseline's (`learning_rate=0.0001`).
 */
export function buildArms(baseline: RunInfo, projectRuns: RunInfo[], candidates: RunInfo[]): { baseline: RunInfo[]; arms: Arm[] } {
  const baseKey = armKey(baseline.features);
  const baselineRuns = [baseline, ...projectRuns.filter((r) => r.id !== baseline.id && armKey(r.features) === baseKey)];
  const inBaseline = new Set(baselineRuns.map((r) => r.id));
  const groups = new Map<string, RunInfo[]>();
  const seen = new Set<string>();
  for (const r of candidates) {
    if (inBaseline.has(r.id) || seen.has(r.id)) continue;
    seen.add(r.id);
    const k = armKey(r.features);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const base = armFeatures(baseline.features);
  const arms = [...groups.values()].map((runs) => {
    runs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const mine = armFeatures(runs[0].features);
    const features: Record<string, unknown> = {};
    for (const k of [...new Set([...base.keys(), ...mine.keys()])].sort()) {
      if (!(mine.has(k) && base.has(k) && jsonEqual(mine.get(k), base.get(k)))) features[k] = mine.has(k) ? mine.get(k) : null;
    }
    let label = Object.entries(features).map(([k, v]) => `${k}=${mine.has(k) ? canonical(v) : '<absent>'}`).join(', ');
    if (label.length > LABEL_MAX) label = `${label.slice(0, LABEL_MAX)}…`;
    return { label, runs, features };
  });
  arms.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  const used = new Map<string, number>();
  for (const a of arms) {
    const n = (used.get(a.label) ?? 0) + 1;
    used.set(a.label, n);
    if (n > 1) a.label = `${a.label} (#${n})`; // only after truncation can two arms share a label
  }
  return { baseline: baselineRuns, arms };
}

export interface MetricConfigLike {
  name: string;
  direction: Direction;
  aggregation: 'last' | 'best' | 'average';
}

export interface Thresholds {
  confidence: number;
  /** An improvement needs confidence ≥ this: 1 − α/K (α = 1 − threshold, K candidate arms). */
  support: number;
  /** A worsening needs confidence ≥ this: 1 − α/(K·M) for M target metrics. */
  refute: number;
  minEffect: number;
}

/** Bonferroni over the arms (the platform picks the best one) and, for Refuted (any metric), over the metrics too. */
export function thresholds(confidence: number, minEffect: number, arms: number, metrics: number): Thresholds {
  const alpha = 1 - confidence;
  const k = Math.max(arms, 1);
  return { confidence, support: 1 - alpha / k, refute: 1 - alpha / (k * Math.max(metrics, 1)), minEffect };
}

export interface MetricEvidence {
  metric_name: string;
  direction: Direction;
  aggregation: 'last' | 'best' | 'average';
  candidate_arm: string;
  candidate_experiments: string[];
  baseline_experiments: string[];
  n_baseline: number;
  n_candidate: number;
  baseline_value: number | null;
  candidate_value: number | null;
  delta: number | null;
  relative_delta: number | null;
  method: 'welch-t' | 'single-run' | 'no-data';
  t: number | null;
  df: number | null;
  p_value: number | null;
  confidence: number | null;
  score: number;
  verdict: Status;
}

/**
 * The effect's weight in the score: |r| / (|r| + r0) with r0 = max(min_effect, 0.01) — 0 for no
 * effect, ½ at the minimum effect (or at 1% when min_effect is 0), approaching 1 for large effects.
 * With a zero baseline (relative delta undefined) any nonzero delta weighs 1.
 */
export function effectWeight(relativeDelta: number | null, delta: number | null, minEffect: number): number {
  if (delta === null || delta === 0) return 0;
  if (relativeDelta === null) return 1;
  const r = Math.abs(relativeDelta);
  return r / (r + Math.max(minEffect, 0.01));
}

const finite = (xs: (number | null | undefined)[]) => xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));

/**
 * One target metric, one candidate arm. Per-run aggregates that are missing or not finite (a run
 * that never logged the metric, or whose aggregate is NaN/±Inf) are left out of n.
 */
export function metricEvidence(
  config: MetricConfigLike,
  arm: { label: string; names: string[]; values: (number | null)[] },
  base: { names: string[]; values: (number | null)[] },
  th: Thresholds,
): MetricEvidence {
  const b = finite(base.values);
  const c = finite(arm.values);
  const baseline_value = b.length ? mean(b) : null;
  const candidate_value = c.length ? mean(c) : null;
  const delta = baseline_value !== null && candidate_value !== null ? candidate_value - baseline_value : null;
  const relative_delta = delta !== null && baseline_value !== 0 ? delta / Math.abs(baseline_value!) : null;
  const out: MetricEvidence = {
    metric_name: config.name,
    direction: config.direction,
    aggregation: config.aggregation,
    candidate_arm: arm.label,
    candidate_experiments: arm.names,
    baseline_experiments: base.names,
    n_baseline: b.length,
    n_candidate: c.length,
    baseline_value,
    candidate_value,
    delta,
    relative_delta,
    method: delta === null ? 'no-data' : b.length >= 2 && c.length >= 2 ? 'welch-t' : 'single-run',
    t: null,
    df: null,
    p_value: null,
    confidence: null,
    score: 0,
    verdict: 'Testing',
  };
  if (out.method !== 'welch-t') return out;
  // In the direction of improvement: candidate > baseline when maximizing, < when minimizing.
  const w = welchTTest(c, b, config.direction === 'maximize' ? 'greater' : 'less');
  const confidence = 1 - w.p_value;
  Object.assign(out, { t: w.t, df: w.df, p_value: w.p_value, confidence });
  out.score = (2 * confidence - 1) * effectWeight(relative_delta, delta, th.minEffect);
  const bigEnough = relative_delta === null ? delta !== 0 || th.minEffect === 0 : Math.abs(relative_delta) >= th.minEffect;
  // The opposite one-sided test's confidence is 1 − (1 − p) = p.
  if (confidence >= th.support && bigEnough) out.verdict = 'Supported';
  else if (w.p_value >= th.refute) out.verdict = 'Refuted';
  return out;
}

export interface ArmResult {
  arm: string;
  experiments: string[];
  experiment_ids: string[];
  features: Record<string, unknown>;
  n: number;
  running: number;
  status: Status;
  evidence_score: number;
  confidence: number;
  reasons: string[];
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;

/**
 * An arm's status: Testing while any run of it or of the baseline arm is running, when a target
 * metric has a single run or no data in either arm; otherwise Refuted if any metric is confidently
 * worse, Supported if every metric is confidently better by at least min_effect, else Testing.
 * Score: the minimum of the metrics' scores (the claim needs every metric). Confidence: for a
 * Refuted arm the largest confidence of a worsening; otherwise the smallest confidence of an
 * improvement (0 for a metric without a test).
 */
export function armResult(arm: Arm, baselineRunning: number, evidence: MetricEvidence[], th: Thresholds): ArmResult {
  const running = arm.runs.filter((r) => r.status === 'running').length;
  const reasons: string[] = [];
  if (running) reasons.push(`${running} run(s) of this arm still running`);
  if (baselineRunning) reasons.push(`${baselineRunning} run(s) of the baseline arm still running`);
  for (const m of evidence) {
    if (m.method === 'no-data') reasons.push(`${m.metric_name}: no data in the ${m.n_baseline ? 'candidate' : 'baseline'} arm`);
    else if (m.method === 'single-run') reasons.push(`${m.metric_name}: a single run in an arm (${m.n_baseline} baseline vs ${m.n_candidate}), no test`);
  }
  let status: Status = 'Testing';
  if (!reasons.length) {
    if (evidence.some((m) => m.verdict === 'Refuted')) status = 'Refuted';
    else if (evidence.every((m) => m.verdict === 'Supported')) status = 'Supported';
    else {
      for (const m of evidence.filter((x) => x.verdict === 'Testing')) {
        reasons.push(
          m.confidence! < th.support
            ? `${m.metric_name}: confidence ${m.confidence!.toFixed(4)} below ${th.support.toFixed(4)}`
            : `${m.metric_name}: effect ${pct(m.relative_delta ?? 0)} below min_effect ${th.minEffect}`,
        );
      }
    }
  }
  const score = evidence.length ? Math.min(...evidence.map((m) => m.score)) : 0;
  const confidence =
    status === 'Refuted'
      ? Math.max(...evidence.filter((m) => m.p_value !== null).map((m) => m.p_value!))
      : evidence.length
        ? Math.min(...evidence.map((m) => m.confidence ?? 0))
        : 0;
  return {
    arm: arm.label,
    experiments: arm.runs.map((r) => r.name),
    experiment_ids: arm.runs.map((r) => r.id),
    features: arm.features,
    n: arm.runs.length,
    running,
    status,
    evidence_score: score,
    confidence,
    reasons,
  };
}

/**
 * The hypothesis from its arms ("some candidate beats the baseline"): Supported when an arm is
 * Supported (the leading arm: the Supported one with the highest score); Refuted when every arm is
 * Refuted (leading: the highest, i.e. weakest, score); otherwise Testing (leading: highest score).
 * The top-level score and confidence are the leading arm's; without arms, 0 and 0.
 */
export function combineArms(arms: ArmResult[]): { status: Status; leading: ArmResult | null } {
  const best = (xs: ArmResult[]) => xs.reduce<ArmResult | null>((a, x) => (!a || x.evidence_score > a.evidence_score ? x : a), null);
  const supported = arms.filter((a) => a.status === 'Supported');
  if (supported.length) return { status: 'Supported', leading: best(supported) };
  if (arms.length && arms.every((a) => a.status === 'Refuted')) return { status: 'Refuted', leading: best(arms) };
  return { status: 'Testing', leading: best(arms) };
}

export function evaluationMessage(status: Status, leading: ArmResult | null, evidence: MetricEvidence[], baselineName: string): string {
  if (!leading) return `Testing: no candidate runs besides the baseline arm of ${baselineName}`;
  const parts = evidence
    .filter((m) => m.candidate_arm === leading.arm)
    .map((m) => {
      if (m.method === 'no-data') return `${m.metric_name} no data`;
      const rel = m.relative_delta === null ? `Δ ${m.delta}` : pct(m.relative_delta);
      return m.method === 'single-run' ? `${m.metric_name} ${rel} (single run, indicative)` : `${m.metric_name} ${rel} (confidence ${m.confidence!.toFixed(4)})`;
    });
  const head = `${status}: arm "${leading.arm}" (${leading.n} run(s)) vs baseline ${baselineName}: ${parts.join(', ')}`;
  return leading.reasons.length && status === 'Testing' ? `${head}; ${leading.reasons.join('; ')}` : head;
}
