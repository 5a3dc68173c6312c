import type { ClickHouseStore, Tenant } from '../query.ts';
import type { RawValue, RollupPoint } from './metrics.ts';

/**
 * Whole-history chart buckets from the fine rollup (metrics_rollup_fine, FINE_ROLLUP_STEPS steps per
 * row): output bucket b of a series merges its fine buckets first + b·per … first + (b+1)·per − 1, so
 * 10 runs × 10 metrics × 10k steps read ~125k pre-aggregated rows instead of 1M points. Per output
 * bucket: min/max (NaN skipped; NaN when all NaN), the last point (several hosts at its step: one of
 * theirs), the point count. Per series: its point count and whether every (host, fine bucket) has as
 * many points as distinct steps — if not, a re-logged step's overwritten value may be among the
 * extremes and the caller scans that series' points instead. The inner GROUP BY merges the parts
 * not yet merged, so the count and the step mask are complete before they are compared.
 */
export const SQL_SERIES_FINE = `WITH req AS (
  SELECT t.1 AS experiment_id, t.2 AS metric_name, t.3 AS first, t.4 AS per
  FROM (SELECT arrayJoin(arrayZip({experiment_ids:Array(UUID)}, {metric_names:Array(String)}, {firsts:Array(UInt64)}, {pers:Array(UInt64)})) AS t)
)
SELECT experiment_id, metric_name, sum(n) AS points, min(exact) AS exact, arraySort(groupArray((b, min_v, max_v, last, n)))
FROM (
  SELECT experiment_id, metric_name, intDiv(bucket - r.first, r.per) AS b,
    min(lo) AS min_v, max(hi) AS max_v, argMax(last, last.1) AS last, sum(cnt) AS n, min(cnt = bitCount(mask)) AS exact
  FROM (
    SELECT experiment_id, metric_name, host, bucket, min(min_value) AS lo, max(max_value) AS hi, max(last_point) AS last,
      sum(point_count) AS cnt, groupBitOr(step_mask) AS mask
    FROM metrics_rollup_fine
    WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
      AND experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
    GROUP BY experiment_id, metric_name, host, bucket
  ) AS f
  INNER JOIN req AS r USING (experiment_id, metric_name)
  GROUP BY experiment_id, metric_name, b
)
GROUP BY experiment_id, metric_name`;

export type SeriesFineRow = [
  experimentId: string,
  metricName: string,
  points: number,
  exact: number,
  buckets: [b: number, min: RawValue, max: RawValue, last: RollupPoint, count: number][],
];

export interface FineRequest {
  experimentId: string;
  metricName: string;
  /** The series' first fine bucket (its first step / FINE_ROLLUP_STEPS). */
  first: number;
  /** Fine buckets per output bucket. */
  per: number;
}

export async function seriesFine(ch: ClickHouseStore, tenant: Tenant, projectId: string, series: FineRequest[]): Promise<SeriesFineRow[]> {
  if (series.length === 0) return [];
  return ch.rows<SeriesFineRow>(tenant, 'ui.series_fine', SQL_SERIES_FINE, {
    project_id: projectId,
    experiment_ids: series.map((x) => x.experimentId),
    metric_names: series.map((x) => x.metricName),
    firsts: series.map((x) => x.first),
    pers: series.map((x) => x.per),
  });
}
