import type { ClickHouseStore, Tenant } from '../query.ts';
import { SUMMARY_SELECT, type RawValue, type RollupPoint, type SummaryRow } from './metrics.ts';
import { PAIR_FILTER, pairParams } from './series-params.ts';

/**
 * The web UI's two bulk reads (services/runs-table.ts, services/series.ts): one statement each for
 * any number of runs or series. Values travel as typed parameters only; the (experiment, metric)
 * pairs of a series request as distinct ids and names plus index pairs (series-params.ts).
 */

/**
 * Per run and metric of a project: the summary-table columns of SQL_COMPARE (the rule of
 * GET /metrics/summary), and `best`'s extremes from the fine rollup (metrics_rollup_fine, 8 steps per
 * row) instead of a FINAL scan of every point (issue 11: 1,000 runs × 20 metrics × 100 steps read
 * 2M points; this reads ~260k pre-aggregated rows).
 *
 * The summary's own min/max cannot be `best`: they are merged per insert and a minimum cannot be
 * taken back, so a re-logged step's overwritten value stays in them (`best`, like `last`, takes
 * the later write), and nothing in the summary says whether a series was re-logged. The fine rollup
 * says so per (host, bucket): its point count exceeds its distinct steps (`step_mask`) exactly when a
 * step there was logged twice. So the fine extremes (NaN skipped; NaN when all NaN) are the
 * deduplicated points' extremes — `trusted` — when every bucket has as many points as steps, the
 * fine rows count exactly the summary's points (none missing, no backfill racing a write), and one
 * host logged them; otherwise the caller computes that run's best exactly (run-aggregates), as it
 * does for a series several hosts logged (whose per-step value is their mean). FINAL merges the
 * rows of a (host, bucket) not yet merged, so counts and masks are complete before they are
 * compared; it merges in key order as it reads, where a GROUP BY per bucket built a hash table of
 * every bucket and cost as much as the point scan (1,000 runs × 20 metrics × 100 steps, load ~14:
 * point scan 390-590 ms, fine GROUP BY 380 ms, fine FINAL 100-210 ms).
 */
export const SQL_RUNS_TABLE_METRICS = `SELECT s.*, x.lo, x.hi, x.hosts,
  x.hosts = 1 AND x.exact = 1 AND x.points = s.point_n AS trusted
FROM (
  SELECT experiment_id, ${SUMMARY_SELECT}
  FROM metrics_summary
  WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id IN {experiment_ids:Array(UUID)}
  GROUP BY experiment_id, metric_name
) AS s
LEFT JOIN (
  SELECT experiment_id, metric_name, min(min_value) AS lo, max(max_value) AS hi, uniqExact(host) AS hosts,
    sum(point_count) AS points, min(point_count = bitCount(step_mask)) AS exact
  FROM metrics_rollup_fine FINAL
  WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id IN {experiment_ids:Array(UUID)}
  GROUP BY experiment_id, metric_name
) AS x USING (experiment_id, metric_name)
ORDER BY experiment_id, metric_name
SETTINGS join_use_nulls = 1`;

export type RunsTableMetricRow = [experimentId: string, ...summary: SummaryRow, fineMin: RawValue | null, fineMax: RawValue | null, hosts: number | null, trusted: number | boolean | null];

export async function runsTableMetrics(ch: ClickHouseStore, tenant: Tenant, projectId: string, experimentIds: string[]): Promise<RunsTableMetricRow[]> {
  if (experimentIds.length === 0) return [];
  return ch.rows<RunsTableMetricRow>(tenant, 'ui.runs_table_metrics', SQL_RUNS_TABLE_METRICS, { project_id: projectId, experiment_ids: experimentIds });
}

const SERIES_SCOPE = `team_id = {team_id:UUID} AND project_id = {project_id:UUID}
    AND experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
    AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
    AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})`;

/**
 * Many series at full fidelity in one statement, one row per series with parallel arrays (a row
 * per point or bucket cost more in JSON than the scan). `ext` gives each requested series' point
 * count and step extent in the window; a series with at most {buckets} points comes raw (every
 * point, ordered by step then host), a longer one in equal-width step buckets of
 * ceil((hi - lo + 1) / buckets) steps from its first step. Per bucket: min/max ignoring NaN (NULL
 * when all NaN), the value and time at the highest step (several hosts there: one of theirs — a
 * (step, host) key cost 2-3x the whole scan), the count. Each branch reads only its own series
 * (the IN on the sorting-key prefix prunes the rest). FINAL collapses re-logged steps (the later
 * write wins), as the timeseries reads do.
 */
const seriesMultiSql = (ext: string) => `WITH ext AS (
${ext}
)
SELECT * FROM (
  SELECT experiment_id, metric_name, 1 AS raw, min(step) AS lo, max(step) AS hi, toUInt64(1) AS width,
    arraySort(groupArray((step, host, metric_value, toUnixTimestamp64Milli(timestamp)))) AS points,
    CAST([], 'Array(Tuple(UInt64, Nullable(Float64), Nullable(Float64), Tuple(Float64, Int64), UInt64, UInt64))') AS buckets
  FROM metrics FINAL
  WHERE ${SERIES_SCOPE}
    AND (experiment_id, metric_name) IN (SELECT experiment_id, metric_name FROM ext WHERE raw)
  GROUP BY experiment_id, metric_name
  SETTINGS do_not_merge_across_partitions_select_final = 1
)
UNION ALL
SELECT experiment_id, metric_name, 0 AS raw, any(series_lo) AS lo, any(series_hi) AS hi, any(series_width) AS width,
  CAST([], 'Array(Tuple(UInt64, String, Float64, Int64))') AS points,
  arraySort(groupArray((bucket, min_v, max_v, last_point, last_step, n)))
FROM (
  SELECT experiment_id, metric_name, any(lo) AS series_lo, any(hi) AS series_hi, any(width) AS series_width,
    intDiv(step - lo, width) AS bucket,
    minIfOrNull(metric_value, NOT isNaN(metric_value)) AS min_v,
    maxIfOrNull(metric_value, NOT isNaN(metric_value)) AS max_v,
    argMax((metric_value, toUnixTimestamp64Milli(timestamp)), step) AS last_point,
    max(step) AS last_step,
    count() AS n
  FROM metrics FINAL
  INNER JOIN (SELECT experiment_id, metric_name, lo, hi, width FROM ext WHERE NOT raw) AS b USING (experiment_id, metric_name)
  WHERE ${SERIES_SCOPE}
    AND (experiment_id, metric_name) IN (SELECT experiment_id, metric_name FROM ext WHERE NOT raw)
  GROUP BY experiment_id, metric_name, bucket
  SETTINGS do_not_merge_across_partitions_select_final = 1
)
GROUP BY experiment_id, metric_name`;

const EXT_COLUMNS = `n <= {buckets:UInt32} AS raw,
    if(raw, 1, intDiv(hi - lo + {buckets:UInt32}, {buckets:UInt32})) AS width`;
const REQUESTED = `HAVING empty({pair_runs:Array(UInt16)}) OR (experiment_id, metric_name) IN (
    SELECT {experiment_ids:Array(UUID)}[p.1], {metric_names:Array(String)}[p.2]
    FROM (SELECT arrayJoin(arrayZip({pair_runs:Array(UInt16)}, {pair_metrics:Array(UInt16)})) AS p))`;

/** A step window or a host: the extent from the deduplicated points in it. */
export const SQL_SERIES_MULTI = seriesMultiSql(`  SELECT experiment_id, metric_name, count() AS n, min(step) AS lo, max(step) AS hi,
    ${EXT_COLUMNS}
  FROM metrics FINAL
  WHERE ${SERIES_SCOPE}
  GROUP BY experiment_id, metric_name
  ${REQUESTED}
  SETTINGS do_not_merge_across_partitions_select_final = 1`);

/**
 * The whole history: the extent from the summary table (no second point scan). Its count includes
 * re-logged steps, so such a series may come as buckets although its points would fit raw; the
 * answer's counts are from the points either way.
 */
export const SQL_SERIES_MULTI_FULL = seriesMultiSql(`  SELECT experiment_id, metric_name, sum(point_count) AS n, min(first_step) AS lo, max(last_step) AS hi,
    ${EXT_COLUMNS}
  FROM metrics_summary
  WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
    AND experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
  GROUP BY experiment_id, metric_name
  ${REQUESTED}`);

export type SeriesMultiRow = [
  experimentId: string,
  metricName: string,
  raw: number,
  lo: number,
  hi: number,
  width: number,
  points: [step: number, host: string, value: RawValue, tsMs: number][],
  buckets: [bucket: number, min: RawValue | null, max: RawValue | null, last: [value: RawValue, tsMs: number], lastStep: number, count: number][],
];

export interface SeriesMultiScope {
  projectId: string;
  pairs: { experimentId: string; metricName: string }[];
  buckets: number;
  stepMin?: number;
  stepMax?: number;
  host?: string;
}

export async function seriesMulti(ch: ClickHouseStore, tenant: Tenant, s: SeriesMultiScope): Promise<SeriesMultiRow[]> {
  if (s.pairs.length === 0) return [];
  const full = s.stepMin === undefined && s.stepMax === undefined && s.host === undefined;
  const sql = full ? SQL_SERIES_MULTI_FULL : SQL_SERIES_MULTI;
  return ch.rows<SeriesMultiRow>(tenant, full ? 'ui.series_multi_full' : 'ui.series_multi', sql, {
    project_id: s.projectId,
    ...pairParams(s.pairs).params,
    buckets: s.buckets,
    step_min: s.stepMin ?? 0,
    step_max: s.stepMax ?? Number.MAX_SAFE_INTEGER,
    host: s.host ?? null,
  });
}

/** Point count and step extent of whole series, from the summary table (no point scan). */
export const SQL_SERIES_EXTENT = `SELECT experiment_id, metric_name, sum(point_count) AS n, min(first_step) AS lo, max(last_step) AS hi
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND ${PAIR_FILTER}
GROUP BY experiment_id, metric_name`;

export type SeriesExtentRow = [experimentId: string, metricName: string, n: number, lo: number, hi: number];

/**
 * The same for every metric of some runs (a compare page's request names runs, not metrics): only
 * the three columns plan() needs — SQL_COMPARE's summary (last value, sums) cost ~1.7x the CPU.
 */
export const SQL_RUN_EXTENTS = `SELECT experiment_id, metric_name, sum(point_count) AS n, min(first_step) AS lo, max(last_step) AS hi
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id IN {experiment_ids:Array(UUID)}
GROUP BY experiment_id, metric_name`;

export async function runExtents(ch: ClickHouseStore, tenant: Tenant, projectId: string, experimentIds: string[]): Promise<SeriesExtentRow[]> {
  return ch.rows<SeriesExtentRow>(tenant, 'ui.run_extents', SQL_RUN_EXTENTS, { project_id: projectId, experiment_ids: experimentIds });
}

export async function seriesExtents(ch: ClickHouseStore, tenant: Tenant, projectId: string, pairs: SeriesMultiScope['pairs']): Promise<SeriesExtentRow[]> {
  return ch.rows<SeriesExtentRow>(tenant, 'ui.series_extent', SQL_SERIES_EXTENT, { project_id: projectId, ...pairParams(pairs).params });
}

/**
 * Whole-history overviews of long series from the per-256-step rollup (metrics_rollup): output
 * bucket b of a series merges its rollup buckets first + b·per … first + (b+1)·per − 1, so a 1M-step
 * series costs ~4,000 pre-aggregated rows instead of 1M points. Each series brings its own first
 * rollup bucket and `per` (parallel arrays, zipped in the query). Hosts merge: min/max across them,
 * the last point one of theirs at the highest step.
 */
export const SQL_SERIES_ROLLUP = `WITH req AS (
  SELECT {experiment_ids:Array(UUID)}[t.1] AS experiment_id, {metric_names:Array(String)}[t.2] AS metric_name, t.3 AS first, t.4 AS per
  FROM (SELECT arrayJoin(arrayZip({pair_runs:Array(UInt16)}, {pair_metrics:Array(UInt16)}, {firsts:Array(UInt64)}, {pers:Array(UInt64)})) AS t)
)
SELECT experiment_id, metric_name, arraySort(groupArray((b, low, high, last)))
FROM (
  SELECT experiment_id, metric_name, intDiv(bucket - r.first, r.per) AS b,
    argMinMerge(low_point) AS low, argMaxMerge(high_point) AS high, argMaxMerge(last_point) AS last
  FROM metrics_rollup
  INNER JOIN req AS r USING (experiment_id, metric_name)
  WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
    AND experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
  GROUP BY experiment_id, metric_name, b
)
GROUP BY experiment_id, metric_name`;

export type SeriesRollupRow = [experimentId: string, metricName: string, buckets: [b: number, low: RollupPoint, high: RollupPoint, last: RollupPoint][]];

export async function seriesRollup(
  ch: ClickHouseStore,
  tenant: Tenant,
  projectId: string,
  series: { experimentId: string; metricName: string; first: number; per: number }[],
): Promise<SeriesRollupRow[]> {
  if (series.length === 0) return [];
  return ch.rows<SeriesRollupRow>(tenant, 'ui.series_rollup', SQL_SERIES_ROLLUP, {
    project_id: projectId,
    ...pairParams(series, { explicit: true }).params,
    firsts: series.map((x) => x.first),
    pers: series.map((x) => x.per),
  });
}
