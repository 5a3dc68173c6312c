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
