import { z } from 'zod';
import { LIMITS } from './limits.ts';
import { MetricName, Name, StoredJson } from './index.ts';

/** Hypotheses judged by evidence (issue 9, DESIGN §8): schemas shared by the server, the SDKs and the UI. */

export const HypothesisStatus = z.enum(['Testing', 'Supported', 'Refuted']);

const ExperimentRef = Name('experiment').describe('Experiment UUID or name');

// Stored as jsonb: StoredJson refuses NUL and unpaired surrogates anywhere inside the values
// (PostgreSQL cannot store them; schemathesis found the 500).
export const CandidateFilter = StoredJson(z
  .record(Name('feature key'), z.array(z.unknown()).min(1).max(1000))
  .refine((f) => Object.keys(f).length <= 100, { message: 'at most 100 feature keys' }))
  .describe('Flattened dotted feature key → accepted values; a run is a candidate when every key holds one of its values (JSON equality)');

const ConfidenceThreshold = z.number().min(0.5).max(0.999999);
const MinEffect = z.number().min(0).max(1e6).describe('Smallest |relative delta| that counts as an improvement (0.02 = 2%)');

const HypothesisFields = {
  key: Name('key').describe('Unique per project, e.g. h-lr-comparison'),
  statement: Name('statement', LIMITS.descriptionMax, 0).nullish(),
  baseline_experiment: ExperimentRef.describe('The baseline run (UUID or name); it need not exist until the hypothesis is evaluated'),
  target_metrics: z.array(MetricName).min(1).max(50),
  candidate_experiments: z.array(ExperimentRef).min(1).max(1000).nullish().describe('Explicit candidates (UUIDs or names); null = use the filter or every other run'),
  candidate_filter: CandidateFilter.nullish(),
};

export const HypothesisCreate = z.object({
  ...HypothesisFields,
  confidence_threshold: ConfidenceThreshold.default(0.95),
  min_effect: MinEffect.default(0),
});
/** Every field optional and without defaults: what is not sent stays as stored. */
export const HypothesisPatch = z.object({
  key: HypothesisFields.key.optional(),
  statement: HypothesisFields.statement,
  baseline_experiment: HypothesisFields.baseline_experiment.optional(),
  target_metrics: HypothesisFields.target_metrics.optional(),
  candidate_experiments: HypothesisFields.candidate_experiments,
  candidate_filter: HypothesisFields.candidate_filter,
  confidence_threshold: ConfidenceThreshold.optional(),
  min_effect: MinEffect.optional(),
});

export const Hypothesis = z.object({
  id: z.string().uuid(),
  project_id: z.string().uuid(),
  key: z.string(),
  statement: z.string().nullable(),
  baseline_experiment: z.string(),
  target_metrics: z.array(z.string()),
  candidate_experiments: z.array(z.string()).nullable(),
  candidate_filter: z.record(z.string(), z.array(z.unknown())).nullable(),
  confidence_threshold: z.number(),
  min_effect: z.number(),
  status: HypothesisStatus,
  evidence_score: z.number().nullable(),
  confidence: z.number().nullable(),
  last_evaluated_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type Hypothesis = z.infer<typeof Hypothesis>;

export const HypothesisListQuery = z.object({ status: HypothesisStatus.optional() });

export const HypothesisParams = z.object({
  project_id: Name('project_id').describe('Project UUID or name'),
  hypothesis_id: Name('hypothesis_id').describe('Hypothesis UUID or key'),
});

const nullableNumber = z.number().nullable();

export const MetricEvidence = z.object({
  metric_name: z.string(),
  direction: z.enum(['minimize', 'maximize']),
  aggregation: z.enum(['last', 'best', 'average']),
  candidate_arm: z.string(),
  candidate_experiments: z.array(z.string()),
  baseline_experiments: z.array(z.string()),
  n_baseline: z.number().int().describe('Runs of the baseline arm with a finite aggregate'),
  n_candidate: z.number().int(),
  baseline_value: nullableNumber.describe('Mean of the baseline arm’s per-run aggregates'),
  candidate_value: nullableNumber,
  delta: nullableNumber.describe('candidate_value − baseline_value'),
  relative_delta: nullableNumber.describe('delta / |baseline_value|; null when the baseline is 0'),
  method: z.enum(['welch-t', 'single-run', 'no-data']),
  t: nullableNumber,
  df: nullableNumber,
  p_value: nullableNumber.describe('One-sided, in the direction of improvement'),
  confidence: nullableNumber.describe('1 − p_value'),
  score: z.number().describe('This metric’s evidence in [−1, 1]'),
  verdict: HypothesisStatus,
});

export const ArmEvidence = z.object({
  arm: z.string().describe('The arm’s label: its features that differ from the baseline arm’s (seed-like keys left out)'),
  experiments: z.array(z.string()),
  experiment_ids: z.array(z.string().uuid()),
  features: z.record(z.string(), z.unknown()).describe('Flattened features that differ from the baseline arm (null = absent)'),
  n: z.number().int(),
  running: z.number().int().describe('Runs of this arm still running'),
  status: HypothesisStatus,
  evidence_score: z.number(),
  confidence: z.number(),
  reasons: z.array(z.string()).describe('Why the arm is still Testing (empty otherwise)'),
});

export const Evaluation = z.object({
  id: z.string().uuid(),
  hypothesis_id: z.string().uuid(),
  status: HypothesisStatus,
  evidence_score: z.number(),
  confidence: z.number(),
  message: z.string(),
  evaluated_at: z.string(),
  leading_arm: z.string().nullable().describe('The arm the top-level status, score and confidence come from'),
  confidence_threshold: z.number(),
  support_threshold: z.number().describe('Confidence an improvement needs: 1 − (1 − threshold)/K for K candidate arms (Bonferroni)'),
  refute_threshold: z.number().describe('Confidence a worsening needs: 1 − (1 − threshold)/(K·M) for M target metrics'),
  min_effect: z.number(),
  baseline: z.object({ experiments: z.array(z.string()), experiment_ids: z.array(z.string().uuid()), n: z.number().int(), running: z.number().int() }),
  arms: z.array(ArmEvidence),
  metrics: z.array(MetricEvidence),
});
export type Evaluation = z.infer<typeof Evaluation>;

export const HypothesisDetail = Hypothesis.extend({
  latest_evaluation: Evaluation.nullable().describe('The newest evaluation document, or null before the first'),
});
export type HypothesisDetail = z.infer<typeof HypothesisDetail>;

export const EvaluationListQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(20) });
export const EvaluationList = z.object({ items: z.array(Evaluation) });
