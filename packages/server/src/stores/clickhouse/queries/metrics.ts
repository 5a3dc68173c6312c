import { AGGREGATES, aggregateColumns } from '../ddl.ts';
import type { ClickHouseStore, Tenant } from '../query.ts';

/**
 * Every metric read the API serves. SQL is static text; values are typed server-side parameters.
 * The team predicate comes first in every WHERE and is enforced by the wrapper.
 */

export type RawValue = number | string; // ClickHouse JSON quotes nan/inf/-inf

export interface SeriesScope {
  projectId: string;
  experimentId: string;
  metricName: string;
  stepMin?: number;
  stepMax?: number;
  host?: string;
}

const SERIES_WHERE = `team_id = {team_id:UUID}
  AND project_id = {project_id:UUID}
  AND experiment_id = {experiment_id:UUID}
  AND metric_name = {metric_name:String}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})`;

function seriesParams(s: SeriesScope) {
  return {
    project_id: s.projectId,
    experiment_id: s.experimentId,
    metric_name: s.metricName,
    step_min: s.stepMin ?? 0,
    step_max: s.stepMax ?? Number.MAX_SAFE_INTEGER,
    host: s.host ?? null,
  };
}

// FINAL collapses re-logged steps (the later write wins); partitions never share a key, so the
// merge-on-read can stay inside each partition.
export const SQL_SERIES_POINTS = `SELECT step, toUnixTimestamp64Milli(timestamp) AS ts, metric_value, host
FROM metrics FINAL
WHERE ${SERIES_WHERE}
ORDER BY step, host
LIMIT {limit:UInt32}
SETTINGS do_not_merge_across_partitions_select_final = 1`;

export const SQL_SERIES_EXTENT = `SELECT count() AS n, min(step) AS lo, max(step) AS hi
FROM metrics FINAL
WHERE ${SERIES_WHERE}
SETTINGS do_not_merge_across_partitions_select_final = 1`;

// Per step bucket: the points holding the bucket's minimum and maximum value, plus the bucket's
// first and last point (so the series' first and last step survive). NaN never wins a min/max.
export const SQL_SERIES_BUCKETS = `SELECT
  intDiv(step - {step_lo:UInt64}, {width:UInt64}) AS bucket,
  argMin((step, ts, v, host), if(isNaN(v), inf, v)) AS lo,
  argMax((step, ts, v, host), if(isNaN(v), -inf, v)) AS hi,
  argMin((step, ts, v, host), step) AS first,
  argMax((step, ts, v, host), step) AS last
FROM (
  SELECT step, toUnixTimestamp64Milli(timestamp) AS ts, metric_value AS v, host
  FROM metrics FINAL
  WHERE ${SERIES_WHERE}
  SETTINGS do_not_merge_across_partitions_select_final = 1
)
GROUP BY bucket
ORDER BY bucket`;

export type SeriesRow = [step: number, tsMs: number, value: RawValue, host: string];

/** The largest `limit` the points query takes (its parameter is a UInt32). */
export const SERIES_LIMIT_MAX = 0xffff_ffff;

export async function seriesPoints(ch: ClickHouseStore, tenant: Tenant, s: SeriesScope, limit: number): Promise<SeriesRow[]> {
  return ch.rows<SeriesRow>(tenant, 'metrics.series', SQL_SERIES_POINTS, { ...seriesParams(s), limit });
}

export async function seriesExtent(ch: ClickHouseStore, tenant: Tenant, s: SeriesScope): Promise<{ n: number; lo: number; hi: number }> {
  const [r] = await ch.rows<[number, number, number]>(tenant, 'metrics.series_extent', SQL_SERIES_EXTENT, seriesParams(s));
  return { n: Number(r?.[0] ?? 0), lo: Number(r?.[1] ?? 0), hi: Number(r?.[2] ?? 0) };
}

// Without a step window the extent comes from the aggregate (no point scan). Its count can include
// re-logged steps; it only decides whether and how coarsely to bucket.
export const SQL_SERIES_EXTENT_SUMMARY = `SELECT sum(point_count) AS n, min(first_step) AS lo, max(last_step) AS hi
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID} AND metric_name = {metric_name:String}`;

export async function seriesExtentFromSummary(ch: ClickHouseStore, tenant: Tenant, s: SeriesScope): Promise<{ n: number; lo: number; hi: number }> {
  const [r] = await ch.rows<[number, number, number]>(tenant, 'metrics.series_extent_summary', SQL_SERIES_EXTENT_SUMMARY, {
    project_id: s.projectId,
    experiment_id: s.experimentId,
    metric_name: s.metricName,
  });
  return { n: Number(r?.[0] ?? 0), lo: Number(r?.[1] ?? 0), hi: Number(r?.[2] ?? 0) };
}

export async function seriesBuckets(ch: ClickHouseStore, tenant: Tenant, s: SeriesScope, stepLo: number, width: number) {
  return ch.rows<[number, SeriesRow, SeriesRow, SeriesRow, SeriesRow]>(tenant, 'metrics.series_buckets', SQL_SERIES_BUCKETS, {
    ...seriesParams(s),
    step_lo: stepLo,
    width,
  });
}

// Long full-history reads merge the rollup: each output bucket spans {per:UInt64} rollup buckets.
export const SQL_ROLLUP_BUCKETS = `SELECT
  intDiv(bucket, {per:UInt64}) AS b,
  argMinMerge(low_point) AS lo,
  argMaxMerge(high_point) AS hi,
  argMinMerge(first_point) AS first,
  argMaxMerge(last_point) AS last
FROM metrics_rollup
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID}
  AND metric_name = {metric_name:String}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
GROUP BY b
ORDER BY b`;

export type RollupPoint = [step: number, tsMs: number, value: RawValue];

export async function rollupBuckets(ch: ClickHouseStore, tenant: Tenant, s: SeriesScope, per: number) {
  return ch.rows<[number, RollupPoint, RollupPoint, RollupPoint, RollupPoint]>(tenant, 'metrics.rollup_buckets', SQL_ROLLUP_BUCKETS, {
    project_id: s.projectId,
    experiment_id: s.experimentId,
    metric_name: s.metricName,
    host: s.host ?? null,
    per,
  });
}

export const SUMMARY_SELECT = `metric_name,
  min(min_value) AS min_v,
  max(max_value) AS max_v,
  sum(sum_value) AS sum_v,
  sum(value_count) AS value_n,
  sum(point_count) AS point_n,
  argMaxMerge(last_value) AS last_v,
  min(first_step) AS first_step,
  max(last_step) AS last_step,
  toUnixTimestamp64Milli(max(last_timestamp)) AS last_ts`;

export const SQL_SUMMARY = `SELECT ${SUMMARY_SELECT}
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID}
GROUP BY metric_name
ORDER BY metric_name`;

export const SQL_COMPARE = `SELECT experiment_id, ${SUMMARY_SELECT}
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)}
  AND (empty({metric_names:Array(String)}) OR has({metric_names:Array(String)}, metric_name))
GROUP BY experiment_id, metric_name
ORDER BY experiment_id, metric_name`;

export type SummaryRow = [
  metric: string,
  min: RawValue,
  max: RawValue,
  sum: RawValue,
  valueCount: number,
  pointCount: number,
  last: RawValue,
  firstStep: number,
  lastStep: number,
  lastTsMs: number,
];

export async function summary(ch: ClickHouseStore, tenant: Tenant, projectId: string, experimentId: string): Promise<SummaryRow[]> {
  return ch.rows<SummaryRow>(tenant, 'metrics.summary', SQL_SUMMARY, { project_id: projectId, experiment_id: experimentId });
}

export async function compare(ch: ClickHouseStore, tenant: Tenant, projectId: string, experimentIds: string[], metricNames: string[]) {
  return ch.rows<[string, ...SummaryRow]>(tenant, 'metrics.compare', SQL_COMPARE, {
    project_id: projectId,
    experiment_ids: experimentIds,
    metric_names: metricNames,
  });
}

/** How many rows carry logged_at versions in [lo, hi): did a batch's insert land (before a crash)? */
export const SQL_COUNT_VERSIONS = `SELECT count()
FROM metrics
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID}
  AND logged_at >= fromUnixTimestamp64Micro({lo:Int64}, 'UTC') AND logged_at < fromUnixTimestamp64Micro({hi:Int64}, 'UTC')`;

/** Per metric: points and latest timestamp among the rows with logged_at versions in [lo, hi). */
export const SQL_VERSION_METRICS = `SELECT metric_name, count() AS n, toUnixTimestamp64Milli(max(timestamp)) AS last_ms
FROM metrics
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID}
  AND logged_at >= fromUnixTimestamp64Micro({lo:Int64}, 'UTC') AND logged_at < fromUnixTimestamp64Micro({hi:Int64}, 'UTC')
GROUP BY metric_name`;

export async function versionMetrics(ch: ClickHouseStore, tenant: Tenant, projectId: string, experimentId: string, lo: number, hi: number) {
  return ch.rows<[string, number, number]>(tenant, 'metrics.version_metrics', SQL_VERSION_METRICS, { project_id: projectId, experiment_id: experimentId, lo, hi });
}

export async function countVersions(ch: ClickHouseStore, tenant: Tenant, projectId: string, experimentId: string, lo: number, hi: number): Promise<number> {
  const [r] = await ch.rows<[number]>(tenant, 'metrics.count_versions', SQL_COUNT_VERSIONS, { project_id: projectId, experiment_id: experimentId, lo, hi });
  return Number(r?.[0] ?? 0);
}

const EXPERIMENT_SCOPE = 'team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID}';

/**
 * Per aggregate table: clear the experiment's rows, then refill them from its points (FINAL: a
 * re-logged step counts once), with the retention and newest ingest time of the points they cover.
 */
export const SQL_REBUILD_AGGREGATES: readonly string[] = AGGREGATES.flatMap((a) => [
  `DELETE FROM ${a.target} WHERE ${EXPERIMENT_SCOPE} SETTINGS lightweight_deletes_sync = 2`,
  `INSERT INTO ${a.target} (${aggregateColumns(a.target).join(', ')}, retention_days, last_logged_at)\n` +
    `SELECT ${a.select},\n  max(retention_days) AS retention_days,\n  toDateTime(max(logged_at)) AS last_logged_at\n` +
    `FROM metrics FINAL\nWHERE ${EXPERIMENT_SCOPE}${a.where ? ` AND ${a.where}` : ''}\nGROUP BY ${a.groupBy}`,
]);

/**
 * Recomputes an experiment's aggregates from its points. For repair after a crash cut an insert
 * between `metrics` and its views; callers must hold the writer (no insert of this experiment may
 * run meanwhile, or its rows would count twice).
 */
export async function rebuildAggregates(ch: ClickHouseStore, tenant: Tenant, projectId: string, experimentId: string): Promise<void> {
  for (const sql of SQL_REBUILD_AGGREGATES) await ch.tenantCommand(tenant, 'metrics.rebuild', sql, { project_id: projectId, experiment_id: experimentId });
}

/** Lightweight deletes from `metrics` and every aggregate, synchronous so a read right after sees no points. */
export const SQL_DELETE_EXPERIMENT_POINTS: readonly string[] = ['metrics', ...AGGREGATES.map((a) => a.target)].map(
  (table) =>
    `DELETE FROM ${table} WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id IN {experiment_ids:Array(UUID)} SETTINGS lightweight_deletes_sync = 2`,
);

export async function deleteExperimentPoints(ch: ClickHouseStore, tenant: Tenant, projectId: string, experimentIds: string[]): Promise<void> {
  for (const sql of SQL_DELETE_EXPERIMENT_POINTS) await ch.tenantCommand(tenant, 'metrics.delete', sql, { project_id: projectId, experiment_ids: experimentIds });
}
