import type { ClickHouseStore, Tenant } from '../query.ts';

/**
 * Evidence rows of hypothesis evaluations (`evidence_metrics`): one per target metric × candidate
 * run, appended by every evaluation. Values travel as typed parallel arrays; the team id is bound
 * by the wrapper, and the WHERE repeats it so the statement carries the tenant predicate.
 */

export const SQL_INSERT_EVIDENCE = `INSERT INTO evidence_metrics (timestamp, team_id, project_id, hypothesis_id, experiment_id, metric_name,
  baseline_value, experiment_value, delta, direction, confidence_score, logged_at,
  evaluation_id, candidate_arm, method, verdict, n_baseline, n_candidate, relative_delta, t_statistic, df, p_value)
SELECT {evaluated_at:DateTime64(3, 'UTC')}, team_id, {project_id:UUID}, {hypothesis_id:UUID}, r.1, r.2,
  ifNull(r.3, nan), ifNull(r.4, nan), ifNull(r.5, nan), r.6, ifNull(r.7, nan), now64(6),
  {evaluation_id:UUID}, r.8, r.9, r.10, r.11, r.12, r.13, r.14, r.15, r.16
FROM (
  SELECT {team_id:UUID} AS team_id, arrayJoin(arrayZip(
    {experiment_ids:Array(UUID)}, {metric_names:Array(String)},
    {baseline_values:Array(Nullable(Float64))}, {experiment_values:Array(Nullable(Float64))}, {deltas:Array(Nullable(Float64))},
    {directions:Array(Enum8('minimize' = 0, 'maximize' = 1))}, {confidences:Array(Nullable(Float64))},
    {arms:Array(String)}, {methods:Array(String)}, {verdicts:Array(String)},
    {n_baselines:Array(UInt32)}, {n_candidates:Array(UInt32)},
    {relative_deltas:Array(Nullable(Float64))}, {ts:Array(Nullable(Float64))}, {dfs:Array(Nullable(Float64))}, {p_values:Array(Nullable(Float64))}
  )) AS r
)
WHERE team_id = {team_id:UUID}`;

export const SQL_EVIDENCE_ROWS = `SELECT evaluation_id, experiment_id, metric_name, candidate_arm,
  baseline_value, experiment_value, delta, relative_delta, toString(direction) AS direction, method, verdict,
  n_baseline, n_candidate, t_statistic, df, p_value, confidence_score, toUnixTimestamp64Milli(timestamp) AS evaluated_at_ms
FROM evidence_metrics FINAL
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND hypothesis_id = {hypothesis_id:UUID}
  AND evaluation_id = {evaluation_id:UUID}
ORDER BY metric_name, candidate_arm, experiment_id`;

export interface EvidenceRow {
  experimentId: string;
  metricName: string;
  baselineValue: number | null;
  experimentValue: number | null;
  delta: number | null;
  direction: 'minimize' | 'maximize';
  confidence: number | null;
  arm: string;
  method: string;
  verdict: string;
  nBaseline: number;
  nCandidate: number;
  relativeDelta: number | null;
  t: number | null;
  df: number | null;
  pValue: number | null;
}

export async function insertEvidence(
  ch: ClickHouseStore,
  tenant: Tenant,
  e: { projectId: string; hypothesisId: string; evaluationId: string; evaluatedAt: Date },
  rows: EvidenceRow[],
): Promise<void> {
  if (!rows.length) return;
  const col = <K extends keyof EvidenceRow>(k: K) => rows.map((r) => r[k]);
  await ch.tenantCommand(tenant, 'evidence.insert', SQL_INSERT_EVIDENCE, {
    evaluated_at: e.evaluatedAt.toISOString().replace('T', ' ').replace('Z', ''),
    project_id: e.projectId,
    hypothesis_id: e.hypothesisId,
    evaluation_id: e.evaluationId,
    experiment_ids: col('experimentId'),
    metric_names: col('metricName'),
    baseline_values: col('baselineValue'),
    experiment_values: col('experimentValue'),
    deltas: col('delta'),
    directions: col('direction'),
    confidences: col('confidence'),
    arms: col('arm'),
    methods: col('method'),
    verdicts: col('verdict'),
    n_baselines: col('nBaseline'),
    n_candidates: col('nCandidate'),
    relative_deltas: col('relativeDelta'),
    ts: col('t'),
    dfs: col('df'),
    p_values: col('pValue'),
  });
}

export type StoredEvidenceRow = Record<string, unknown>;

export async function evidenceRows(ch: ClickHouseStore, tenant: Tenant, projectId: string, hypothesisId: string, evaluationId: string): Promise<StoredEvidenceRow[]> {
  return ch.objects(tenant, 'evidence.rows', SQL_EVIDENCE_ROWS, { project_id: projectId, hypothesis_id: hypothesisId, evaluation_id: evaluationId });
}
