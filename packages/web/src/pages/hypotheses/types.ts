/** `docs/api.md` "Hypotheses": the list item, the detail and an evaluation document. */
export type HStatus = 'Testing' | 'Supported' | 'Refuted';
export interface Hypothesis {
  id: string;
  project_id: string;
  key: string;
  statement: string | null;
  baseline_experiment: string;
  target_metrics: string[];
  candidate_experiments: string[] | null;
  candidate_filter: Record<string, unknown[]> | null;
  confidence_threshold: number;
  min_effect: number;
  status: HStatus;
  evidence_score: number | null;
  confidence: number | null;
  last_evaluated_at: string | null;
  created_at: string;
  updated_at: string;
}
export interface MetricEvidence {
  metric_name: string;
  direction: 'minimize' | 'maximize';
  aggregation: string;
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
  verdict: HStatus;
}
export interface Arm {
  arm: string;
  experiments: string[];
  experiment_ids: string[];
  features: Record<string, unknown>;
  n: number;
  running: number;
  status: HStatus;
  evidence_score: number;
  confidence: number;
  reasons: string[];
}
export interface Evaluation {
  id: string;
  hypothesis_id: string;
  status: HStatus;
  evidence_score: number;
  confidence: number;
  message: string;
  evaluated_at: string;
  leading_arm: string | null;
  confidence_threshold: number;
  support_threshold: number;
  refute_threshold: number;
  min_effect: number;
  baseline: { experiments: string[]; experiment_ids: string[]; n: number; running: number };
  arms: Arm[];
  metrics: MetricEvidence[];
}
export interface HypothesisDetail extends Hypothesis {
  latest_evaluation: Evaluation | null;
}
