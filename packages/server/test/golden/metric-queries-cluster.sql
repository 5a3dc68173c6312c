-- evidence.ts:SQL_EVIDENCE_ROWS
SELECT evaluation_id, experiment_id, metric_name, candidate_arm,
  baseline_value, experiment_value, delta, relative_delta, toString(direction) AS direction, method, verdict,
  n_baseline, n_candidate, t_statistic, df, p_value, confidence_score, toUnixTimestamp64Milli(timestamp) AS evaluated_at_ms
FROM evidence_metrics FINAL
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND hypothesis_id = {hypothesis_id:UUID}
  AND evaluation_id = {evaluation_id:UUID}
ORDER BY metric_name, candidate_arm, experiment_id;

-- evidence.ts:SQL_INSERT_EVIDENCE
INSERT INTO evidence_metrics (timestamp, team_id, project_id, hypothesis_id, experiment_id, metric_name,
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
WHERE team_id = {team_id:UUID};

-- metrics.ts:SQL_COMPARE
SELECT experiment_id, metric_name,
  min(min_value) AS min_v,
  max(max_value) AS max_v,
  sum(sum_value) AS sum_v,
  sum(value_count) AS value_n,
  sum(point_count) AS point_n,
  argMaxMerge(last_value) AS last_v,
  min(first_step) AS first_step,
  max(last_step) AS last_step,
  toUnixTimestamp64Milli(max(last_timestamp)) AS last_ts
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)}
  AND (empty({metric_names:Array(String)}) OR has({metric_names:Array(String)}, metric_name))
GROUP BY experiment_id, metric_name
ORDER BY experiment_id, metric_name;

-- metrics.ts:SQL_COUNT_VERSIONS
SELECT count()
FROM metrics
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID}
  AND logged_at >= fromUnixTimestamp64Micro({lo:Int64}, 'UTC') AND logged_at < fromUnixTimestamp64Micro({hi:Int64}, 'UTC');

-- metrics.ts:SQL_DELETE_EXPERIMENT_POINTS[0]
DELETE FROM assay.metrics_local ON CLUSTER metrics_cluster WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id IN {experiment_ids:Array(UUID)} SETTINGS lightweight_deletes_sync = 2;

-- metrics.ts:SQL_DELETE_EXPERIMENT_POINTS[1]
DELETE FROM assay.metrics_summary_local ON CLUSTER metrics_cluster WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id IN {experiment_ids:Array(UUID)} SETTINGS lightweight_deletes_sync = 2;

-- metrics.ts:SQL_DELETE_EXPERIMENT_POINTS[2]
DELETE FROM assay.metrics_hourly_local ON CLUSTER metrics_cluster WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id IN {experiment_ids:Array(UUID)} SETTINGS lightweight_deletes_sync = 2;

-- metrics.ts:SQL_DELETE_EXPERIMENT_POINTS[3]
DELETE FROM assay.metrics_aggregated_local ON CLUSTER metrics_cluster WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id IN {experiment_ids:Array(UUID)} SETTINGS lightweight_deletes_sync = 2;

-- metrics.ts:SQL_DELETE_EXPERIMENT_POINTS[4]
DELETE FROM assay.metrics_rollup_local ON CLUSTER metrics_cluster WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id IN {experiment_ids:Array(UUID)} SETTINGS lightweight_deletes_sync = 2;

-- metrics.ts:SQL_DELETE_EXPERIMENT_POINTS[5]
DELETE FROM assay.metrics_rollup_fine_local ON CLUSTER metrics_cluster WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id IN {experiment_ids:Array(UUID)} SETTINGS lightweight_deletes_sync = 2;

-- metrics.ts:SQL_REBUILD_AGGREGATES[0]
DELETE FROM assay.metrics_summary_local ON CLUSTER metrics_cluster WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID} SETTINGS lightweight_deletes_sync = 2;

-- metrics.ts:SQL_REBUILD_AGGREGATES[1]
INSERT INTO metrics_summary (team_id, project_id, experiment_id, metric_name, min_value, max_value, sum_value, value_count, point_count, last_value, first_step, last_step, last_timestamp, retention_days, last_logged_at)
SELECT team_id, project_id, experiment_id, metric_name,
  min(metric_value) AS min_value,
  max(metric_value) AS max_value,
  sumIf(metric_value, NOT isNaN(metric_value)) AS sum_value,
  countIf(NOT isNaN(metric_value)) AS value_count,
  count() AS point_count,
  argMaxState(metric_value, (step, logged_at)) AS last_value,
  min(step) AS first_step,
  max(step) AS last_step,
  max(timestamp) AS last_timestamp,
  max(retention_days) AS retention_days,
  toDateTime(max(logged_at)) AS last_logged_at
FROM metrics FINAL
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID}
GROUP BY team_id, project_id, experiment_id, metric_name;

-- metrics.ts:SQL_REBUILD_AGGREGATES[2]
DELETE FROM assay.metrics_hourly_local ON CLUSTER metrics_cluster WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID} SETTINGS lightweight_deletes_sync = 2;

-- metrics.ts:SQL_REBUILD_AGGREGATES[3]
INSERT INTO metrics_hourly (team_id, project_id, experiment_id, metric_name, hour, min_value, max_value, sum_value, value_count, point_count, last_value, first_step, last_step, last_timestamp, retention_days, last_logged_at)
SELECT team_id, project_id, experiment_id, metric_name, toStartOfHour(timestamp) AS hour,
  min(metric_value) AS min_value,
  max(metric_value) AS max_value,
  sumIf(metric_value, NOT isNaN(metric_value)) AS sum_value,
  countIf(NOT isNaN(metric_value)) AS value_count,
  count() AS point_count,
  argMaxState(metric_value, (step, logged_at)) AS last_value,
  min(step) AS first_step,
  max(step) AS last_step,
  max(timestamp) AS last_timestamp,
  max(retention_days) AS retention_days,
  toDateTime(max(logged_at)) AS last_logged_at
FROM metrics FINAL
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID}
GROUP BY team_id, project_id, experiment_id, metric_name, hour;

-- metrics.ts:SQL_REBUILD_AGGREGATES[4]
DELETE FROM assay.metrics_aggregated_local ON CLUSTER metrics_cluster WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID} SETTINGS lightweight_deletes_sync = 2;

-- metrics.ts:SQL_REBUILD_AGGREGATES[5]
INSERT INTO metrics_aggregated (team_id, project_id, experiment_id, metric_name, step, min_value, max_value, sum_value, value_count, point_count, last_value, first_step, last_step, last_timestamp, retention_days, last_logged_at)
SELECT team_id, project_id, experiment_id, metric_name, step,
  min(metric_value) AS min_value,
  max(metric_value) AS max_value,
  sumIf(metric_value, NOT isNaN(metric_value)) AS sum_value,
  countIf(NOT isNaN(metric_value)) AS value_count,
  count() AS point_count,
  argMaxState(metric_value, (step, logged_at)) AS last_value,
  min(step) AS first_step,
  max(step) AS last_step,
  max(timestamp) AS last_timestamp,
  max(retention_days) AS retention_days,
  toDateTime(max(logged_at)) AS last_logged_at
FROM metrics FINAL
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID} AND host != ''
GROUP BY team_id, project_id, experiment_id, metric_name, step;

-- metrics.ts:SQL_REBUILD_AGGREGATES[6]
DELETE FROM assay.metrics_rollup_local ON CLUSTER metrics_cluster WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID} SETTINGS lightweight_deletes_sync = 2;

-- metrics.ts:SQL_REBUILD_AGGREGATES[7]
INSERT INTO metrics_rollup (team_id, project_id, experiment_id, metric_name, host, bucket, low_point, high_point, first_point, last_point, retention_days, last_logged_at)
SELECT team_id, project_id, experiment_id, metric_name, host,
  intDiv(step, 256) AS bucket,
  argMinState((step, toUnixTimestamp64Milli(timestamp), metric_value), if(isNaN(metric_value), inf, metric_value)) AS low_point,
  argMaxState((step, toUnixTimestamp64Milli(timestamp), metric_value), if(isNaN(metric_value), -inf, metric_value)) AS high_point,
  argMinState((step, toUnixTimestamp64Milli(timestamp), metric_value), step) AS first_point,
  argMaxState((step, toUnixTimestamp64Milli(timestamp), metric_value), step) AS last_point,
  max(retention_days) AS retention_days,
  toDateTime(max(logged_at)) AS last_logged_at
FROM metrics FINAL
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID}
GROUP BY team_id, project_id, experiment_id, metric_name, host, bucket;

-- metrics.ts:SQL_REBUILD_AGGREGATES[8]
DELETE FROM assay.metrics_rollup_fine_local ON CLUSTER metrics_cluster WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID} SETTINGS lightweight_deletes_sync = 2;

-- metrics.ts:SQL_REBUILD_AGGREGATES[9]
INSERT INTO metrics_rollup_fine (team_id, project_id, experiment_id, metric_name, host, bucket, min_value, max_value, last_point, point_count, step_mask, retention_days, last_logged_at)
SELECT team_id, project_id, experiment_id, metric_name, host,
  intDiv(step, 8) AS bucket,
  min(metric_value) AS min_value,
  max(metric_value) AS max_value,
  max((step, toUnixTimestamp64Milli(timestamp), metric_value)) AS last_point,
  count() AS point_count,
  groupBitOr(toUInt16(bitShiftLeft(1, step % 8))) AS step_mask,
  max(retention_days) AS retention_days,
  toDateTime(max(logged_at)) AS last_logged_at
FROM metrics FINAL
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID}
GROUP BY team_id, project_id, experiment_id, metric_name, host, bucket;

-- metrics.ts:SQL_ROLLUP_BUCKETS
SELECT
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
ORDER BY b;

-- metrics.ts:SQL_SERIES_BUCKETS
SELECT
  intDiv(step - {step_lo:UInt64}, {width:UInt64}) AS bucket,
  argMin((step, ts, v, host), if(isNaN(v), inf, v)) AS lo,
  argMax((step, ts, v, host), if(isNaN(v), -inf, v)) AS hi,
  argMin((step, ts, v, host), step) AS first,
  argMax((step, ts, v, host), step) AS last
FROM (
  SELECT step, toUnixTimestamp64Milli(timestamp) AS ts, metric_value AS v, host
  FROM metrics FINAL
  WHERE team_id = {team_id:UUID}
  AND project_id = {project_id:UUID}
  AND experiment_id = {experiment_id:UUID}
  AND metric_name = {metric_name:String}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
  SETTINGS do_not_merge_across_partitions_select_final = 1
)
GROUP BY bucket
ORDER BY bucket;

-- metrics.ts:SQL_SERIES_EXTENT
SELECT count() AS n, min(step) AS lo, max(step) AS hi
FROM metrics FINAL
WHERE team_id = {team_id:UUID}
  AND project_id = {project_id:UUID}
  AND experiment_id = {experiment_id:UUID}
  AND metric_name = {metric_name:String}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
SETTINGS do_not_merge_across_partitions_select_final = 1;

-- metrics.ts:SQL_SERIES_EXTENT_SUMMARY
SELECT sum(point_count) AS n, min(first_step) AS lo, max(last_step) AS hi
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID} AND metric_name = {metric_name:String};

-- metrics.ts:SQL_SERIES_POINTS
SELECT step, toUnixTimestamp64Milli(timestamp) AS ts, metric_value, host
FROM metrics FINAL
WHERE team_id = {team_id:UUID}
  AND project_id = {project_id:UUID}
  AND experiment_id = {experiment_id:UUID}
  AND metric_name = {metric_name:String}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
ORDER BY step, host
LIMIT {limit:UInt32}
SETTINGS do_not_merge_across_partitions_select_final = 1;

-- metrics.ts:SQL_SUMMARY
SELECT metric_name,
  min(min_value) AS min_v,
  max(max_value) AS max_v,
  sum(sum_value) AS sum_v,
  sum(value_count) AS value_n,
  sum(point_count) AS point_n,
  argMaxMerge(last_value) AS last_v,
  min(first_step) AS first_step,
  max(last_step) AS last_step,
  toUnixTimestamp64Milli(max(last_timestamp)) AS last_ts
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID}
GROUP BY metric_name
ORDER BY metric_name;

-- metrics.ts:SQL_VERSION_METRICS
SELECT metric_name, count() AS n, toUnixTimestamp64Milli(max(timestamp)) AS last_ms
FROM metrics
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID}
  AND logged_at >= fromUnixTimestamp64Micro({lo:Int64}, 'UTC') AND logged_at < fromUnixTimestamp64Micro({hi:Int64}, 'UTC')
GROUP BY metric_name;

-- mlflow.ts:SQL_LATEST_IN_PROJECT
SELECT experiment_id, metric_name,
  argMaxMerge(last_value) AS last_v,
  max(last_step) AS last_step,
  toUnixTimestamp64Milli(max(last_timestamp)) AS last_ts
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND (empty({metric_names:Array(String)}) OR has({metric_names:Array(String)}, metric_name))
GROUP BY experiment_id, metric_name;

-- mlflow.ts:SQL_LATEST_OF_RUNS
SELECT experiment_id, metric_name,
  argMaxMerge(last_value) AS last_v,
  max(last_step) AS last_step,
  toUnixTimestamp64Milli(max(last_timestamp)) AS last_ts
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)}
GROUP BY experiment_id, metric_name;

-- project-metrics.ts:SQL_PROJECT_METRIC_NAMES
SELECT DISTINCT metric_name
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
ORDER BY metric_name;

-- retention.ts:SQL_PROJECT_POINT_COUNTS
SELECT toString(experiment_id), count()
FROM metrics
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
GROUP BY experiment_id;

-- retention.ts:SQL_SET_RETENTION[0]
ALTER TABLE assay.metrics_local ON CLUSTER metrics_cluster UPDATE retention_days = {retention_days:UInt16} WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND retention_days != {retention_days:UInt16} SETTINGS mutations_sync = 2;

-- retention.ts:SQL_SET_RETENTION[1]
ALTER TABLE assay.metrics_summary_local ON CLUSTER metrics_cluster UPDATE retention_days = {retention_days:UInt16} WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND retention_days != {retention_days:UInt16} SETTINGS mutations_sync = 2;

-- retention.ts:SQL_SET_RETENTION[2]
ALTER TABLE assay.metrics_hourly_local ON CLUSTER metrics_cluster UPDATE retention_days = {retention_days:UInt16} WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND retention_days != {retention_days:UInt16} SETTINGS mutations_sync = 2;

-- retention.ts:SQL_SET_RETENTION[3]
ALTER TABLE assay.metrics_aggregated_local ON CLUSTER metrics_cluster UPDATE retention_days = {retention_days:UInt16} WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND retention_days != {retention_days:UInt16} SETTINGS mutations_sync = 2;

-- retention.ts:SQL_SET_RETENTION[4]
ALTER TABLE assay.metrics_rollup_local ON CLUSTER metrics_cluster UPDATE retention_days = {retention_days:UInt16} WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND retention_days != {retention_days:UInt16} SETTINGS mutations_sync = 2;

-- retention.ts:SQL_SET_RETENTION[5]
ALTER TABLE assay.metrics_rollup_fine_local ON CLUSTER metrics_cluster UPDATE retention_days = {retention_days:UInt16} WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND retention_days != {retention_days:UInt16} SETTINGS mutations_sync = 2;

-- series-fine.ts:SQL_SERIES_FINE
SELECT toUInt16(indexOf({experiment_ids:Array(UUID)}, experiment_id)) AS run,
  toUInt16(indexOf({metric_names:Array(String)}, metric_name)) AS metric,
  groupArray(xxHash32(host)), groupArray(toFloat64(bucket)), groupArray(min_value), groupArray(max_value),
  groupArray(toUInt8(last_point.1 - bucket * 8)), groupArray(toFloat64(last_point.2)), groupArray(last_point.3),
  groupArray(toUInt32(point_count)), groupArray(step_mask)
FROM metrics_rollup_fine
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
    AND (empty({pair_runs:Array(UInt16)}) OR (experiment_id, metric_name) IN (
      SELECT {experiment_ids:Array(UUID)}[p.1], {metric_names:Array(String)}[p.2]
      FROM (SELECT arrayJoin(arrayZip({pair_runs:Array(UInt16)}, {pair_metrics:Array(UInt16)})) AS p)))
GROUP BY experiment_id, metric_name;

-- steps.ts:SQL_RUN_AGGREGATES
SELECT experiment_id,
  argMax(v, step) AS last_v,
  minIfOrNull(v, NOT isNaN(v)) AS min_v,
  maxIfOrNull(v, NOT isNaN(v)) AS max_v,
  avgIfOrNull(v, NOT isNaN(v) AND 10 * (hi - step) <= hi - lo) AS tail_avg
FROM (
  SELECT experiment_id, step, v, max(step) OVER w AS hi, min(step) OVER w AS lo
  FROM (
SELECT experiment_id, step, max(toUnixTimestamp64Milli(timestamp)) AS ts, avg(metric_value) AS v
FROM metrics FINAL
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
  AND metric_name = {metric_name:String}
GROUP BY experiment_id, step
SETTINGS do_not_merge_across_partitions_select_final = 1
  )
  WINDOW w AS (PARTITION BY experiment_id)
)
GROUP BY experiment_id;

-- steps.ts:SQL_SCALAR_STEPS
SELECT experiment_id, step, max(toUnixTimestamp64Milli(timestamp)) AS ts, avg(metric_value) AS v
FROM metrics FINAL
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
  AND metric_name = {metric_name:String}
GROUP BY experiment_id, step
SETTINGS do_not_merge_across_partitions_select_final = 1;

-- ui-data.ts:SQL_RUN_EXTENTS
SELECT experiment_id, metric_name, sum(point_count) AS n, min(first_step) AS lo, max(last_step) AS hi
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id IN {experiment_ids:Array(UUID)}
GROUP BY experiment_id, metric_name;

-- ui-data.ts:SQL_RUNS_TABLE_METRICS
SELECT s.*, x.lo, x.hi, x.hosts,
  x.hosts = 1 AND x.exact = 1 AND x.points = s.point_n AS trusted
FROM (
  SELECT experiment_id, metric_name,
  min(min_value) AS min_v,
  max(max_value) AS max_v,
  sum(sum_value) AS sum_v,
  sum(value_count) AS value_n,
  sum(point_count) AS point_n,
  argMaxMerge(last_value) AS last_v,
  min(first_step) AS first_step,
  max(last_step) AS last_step,
  toUnixTimestamp64Milli(max(last_timestamp)) AS last_ts
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
SETTINGS join_use_nulls = 1;

-- ui-data.ts:SQL_SERIES_EXTENT
SELECT experiment_id, metric_name, sum(point_count) AS n, min(first_step) AS lo, max(last_step) AS hi
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
    AND (empty({pair_runs:Array(UInt16)}) OR (experiment_id, metric_name) IN (
      SELECT {experiment_ids:Array(UUID)}[p.1], {metric_names:Array(String)}[p.2]
      FROM (SELECT arrayJoin(arrayZip({pair_runs:Array(UInt16)}, {pair_metrics:Array(UInt16)})) AS p)))
GROUP BY experiment_id, metric_name;

-- ui-data.ts:SQL_SERIES_MULTI
WITH ext AS (
  SELECT experiment_id, metric_name, count() AS n, min(step) AS lo, max(step) AS hi,
    n <= {buckets:UInt32} AS raw,
    if(raw, 1, intDiv(hi - lo + {buckets:UInt32}, {buckets:UInt32})) AS width
  FROM metrics FINAL
  WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
    AND experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
    AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
    AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
  GROUP BY experiment_id, metric_name
  HAVING empty({pair_runs:Array(UInt16)}) OR (experiment_id, metric_name) IN (
    SELECT {experiment_ids:Array(UUID)}[p.1], {metric_names:Array(String)}[p.2]
    FROM (SELECT arrayJoin(arrayZip({pair_runs:Array(UInt16)}, {pair_metrics:Array(UInt16)})) AS p))
  SETTINGS do_not_merge_across_partitions_select_final = 1
)
SELECT * FROM (
  SELECT experiment_id, metric_name, 1 AS raw, min(step) AS lo, max(step) AS hi, toUInt64(1) AS width,
    arraySort(groupArray((step, host, metric_value, toUnixTimestamp64Milli(timestamp)))) AS points,
    CAST([], 'Array(Tuple(UInt64, Nullable(Float64), Nullable(Float64), Tuple(Float64, Int64), UInt64, UInt64))') AS buckets
  FROM metrics FINAL
  WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
    AND experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
    AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
    AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
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
  WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
    AND experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
    AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
    AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
    AND (experiment_id, metric_name) IN (SELECT experiment_id, metric_name FROM ext WHERE NOT raw)
  GROUP BY experiment_id, metric_name, bucket
  SETTINGS do_not_merge_across_partitions_select_final = 1
)
GROUP BY experiment_id, metric_name;

-- ui-data.ts:SQL_SERIES_MULTI_FULL
WITH ext AS (
  SELECT experiment_id, metric_name, sum(point_count) AS n, min(first_step) AS lo, max(last_step) AS hi,
    n <= {buckets:UInt32} AS raw,
    if(raw, 1, intDiv(hi - lo + {buckets:UInt32}, {buckets:UInt32})) AS width
  FROM metrics_summary
  WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
    AND experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
  GROUP BY experiment_id, metric_name
  HAVING empty({pair_runs:Array(UInt16)}) OR (experiment_id, metric_name) IN (
    SELECT {experiment_ids:Array(UUID)}[p.1], {metric_names:Array(String)}[p.2]
    FROM (SELECT arrayJoin(arrayZip({pair_runs:Array(UInt16)}, {pair_metrics:Array(UInt16)})) AS p))
)
SELECT * FROM (
  SELECT experiment_id, metric_name, 1 AS raw, min(step) AS lo, max(step) AS hi, toUInt64(1) AS width,
    arraySort(groupArray((step, host, metric_value, toUnixTimestamp64Milli(timestamp)))) AS points,
    CAST([], 'Array(Tuple(UInt64, Nullable(Float64), Nullable(Float64), Tuple(Float64, Int64), UInt64, UInt64))') AS buckets
  FROM metrics FINAL
  WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
    AND experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
    AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
    AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
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
  WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
    AND experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
    AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
    AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
    AND (experiment_id, metric_name) IN (SELECT experiment_id, metric_name FROM ext WHERE NOT raw)
  GROUP BY experiment_id, metric_name, bucket
  SETTINGS do_not_merge_across_partitions_select_final = 1
)
GROUP BY experiment_id, metric_name;

-- ui-data.ts:SQL_SERIES_ROLLUP
WITH req AS (
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
GROUP BY experiment_id, metric_name;
