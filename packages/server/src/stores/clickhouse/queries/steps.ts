import type { ClickHouseStore, QueryParams, Tenant } from '../query.ts';
import type { RawValue } from './metrics.ts';

/**
 * Per-step series: one value per (experiment, step), the input of run aggregates and of derived
 * metrics. A step logged by several hosts becomes the mean over its hosts; a re-logged step counts
 * once (FINAL: the later write wins). A source is SQL yielding (experiment_id, step, ts, v): the
 * scalar one below, or a derived metric's (queries/derived.ts). Sources take the scope parameters
 * of `scopeParams`.
 */
export interface StepSource {
  sql: string;
  params: QueryParams;
}

export interface StepScope {
  projectId: string;
  experimentIds: string[];
  stepMin?: number;
  stepMax?: number;
  host?: string;
}

export const STEP_SCOPE = `team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})`;

export function scopeParams(s: StepScope): QueryParams {
  return {
    project_id: s.projectId,
    experiment_ids: s.experimentIds,
    step_min: s.stepMin ?? 0,
    step_max: s.stepMax ?? Number.MAX_SAFE_INTEGER,
    host: s.host ?? null,
  };
}

export const SQL_SCALAR_STEPS = `SELECT experiment_id, step, max(toUnixTimestamp64Milli(timestamp)) AS ts, avg(metric_value) AS v
FROM metrics FINAL
WHERE ${STEP_SCOPE}
  AND metric_name = {metric_name:String}
GROUP BY experiment_id, step
SETTINGS do_not_merge_across_partitions_select_final = 1`;

export function scalarSteps(metricName: string): StepSource {
  return { sql: SQL_SCALAR_STEPS, params: { metric_name: metricName } };
}

/**
 * Per experiment: the value at the highest step; min and max ignoring NaN; the mean (ignoring NaN)
 * over the final 10% of the run's steps, i.e. the steps s with s >= hi - (hi - lo) / 10, written
 * in integers as 10 * (hi - s) <= hi - lo (lo/hi: the experiment's first and last step).
 */
export const runAggregatesSql = (source: string) => `SELECT experiment_id,
  argMax(v, step) AS last_v,
  minIfOrNull(v, NOT isNaN(v)) AS min_v,
  maxIfOrNull(v, NOT isNaN(v)) AS max_v,
  avgIfOrNull(v, NOT isNaN(v) AND 10 * (hi - step) <= hi - lo) AS tail_avg
FROM (
  SELECT experiment_id, step, v, max(step) OVER w AS hi, min(step) OVER w AS lo
  FROM (
${source}
  )
  WINDOW w AS (PARTITION BY experiment_id)
)
GROUP BY experiment_id`;

export const SQL_RUN_AGGREGATES = runAggregatesSql(SQL_SCALAR_STEPS);

export type RunAggregateRow = [experimentId: string, last: RawValue, min: RawValue | null, max: RawValue | null, tailAvg: RawValue | null];

export async function runAggregates(ch: ClickHouseStore, tenant: Tenant, scope: StepScope, source: StepSource): Promise<RunAggregateRow[]> {
  if (scope.experimentIds.length === 0) return [];
  const sql = source.sql === SQL_SCALAR_STEPS ? SQL_RUN_AGGREGATES : runAggregatesSql(source.sql);
  return ch.rows<RunAggregateRow>(tenant, 'metrics.run_aggregates', sql, { ...scopeParams(scope), ...source.params });
}

// Reads of one derived series (timeseries, summary, compare): the same shapes as the point
// queries of metrics.ts, over a per-step source instead of `metrics`. One point per step; host ''.
export const stepPointsSql = (source: string) => `SELECT step, ts, v, '' AS host
FROM (
${source}
)
ORDER BY step
LIMIT {limit:UInt32}`;

export const stepExtentSql = (source: string) => `SELECT count() AS n, min(step) AS lo, max(step) AS hi
FROM (
${source}
)`;

// As SQL_SERIES_BUCKETS: per bucket the points holding the minimum and maximum (NaN never wins),
// and the bucket's first and last point.
export const stepBucketsSql = (source: string) => `SELECT
  intDiv(step - {step_lo:UInt64}, {width:UInt64}) AS bucket,
  argMin((step, ts, v, ''), if(isNaN(v), inf, v)) AS lo,
  argMax((step, ts, v, ''), if(isNaN(v), -inf, v)) AS hi,
  argMin((step, ts, v, ''), step) AS first,
  argMax((step, ts, v, ''), step) AS last
FROM (
${source}
)
GROUP BY bucket
ORDER BY bucket`;

// The columns of SQL_SUMMARY (min/max/sum/count ignore NaN, as the summary table does).
export const stepSummarySql = (source: string) => `SELECT experiment_id,
  minIf(v, NOT isNaN(v)) AS min_v,
  maxIf(v, NOT isNaN(v)) AS max_v,
  sumIf(v, NOT isNaN(v)) AS sum_v,
  countIf(NOT isNaN(v)) AS value_n,
  count() AS point_n,
  argMax(v, step) AS last_v,
  min(step) AS first_step,
  max(step) AS last_step,
  max(ts) AS last_ts
FROM (
${source}
)
GROUP BY experiment_id
ORDER BY experiment_id`;

export type StepRow = [step: number, tsMs: number, value: RawValue, host: string];
export type StepSummaryRow = [experimentId: string, min: RawValue, max: RawValue, sum: RawValue, valueCount: number, pointCount: number, last: RawValue, firstStep: number, lastStep: number, lastTsMs: number];

export async function stepPoints(ch: ClickHouseStore, tenant: Tenant, scope: StepScope, source: StepSource, limit: number): Promise<StepRow[]> {
  const sql = stepPointsSql(source.sql);
  return ch.rows<StepRow>(tenant, 'metrics.derived_series', sql, { ...scopeParams(scope), ...source.params, limit });
}

export async function stepExtent(ch: ClickHouseStore, tenant: Tenant, scope: StepScope, source: StepSource): Promise<{ n: number; lo: number; hi: number }> {
  const sql = stepExtentSql(source.sql);
  const [r] = await ch.rows<[number, number, number]>(tenant, 'metrics.derived_extent', sql, { ...scopeParams(scope), ...source.params });
  return { n: Number(r?.[0] ?? 0), lo: Number(r?.[1] ?? 0), hi: Number(r?.[2] ?? 0) };
}

export async function stepBuckets(ch: ClickHouseStore, tenant: Tenant, scope: StepScope, source: StepSource, stepLo: number, width: number) {
  const sql = stepBucketsSql(source.sql);
  return ch.rows<[number, StepRow, StepRow, StepRow, StepRow]>(tenant, 'metrics.derived_buckets', sql, { ...scopeParams(scope), ...source.params, step_lo: stepLo, width });
}

export async function stepSummary(ch: ClickHouseStore, tenant: Tenant, scope: StepScope, source: StepSource): Promise<StepSummaryRow[]> {
  if (scope.experimentIds.length === 0) return [];
  const sql = stepSummarySql(source.sql);
  return ch.rows<StepSummaryRow>(tenant, 'metrics.derived_summary', sql, { ...scopeParams(scope), ...source.params });
}
