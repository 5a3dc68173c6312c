SELECT step, ts, v, '' AS host
FROM (
SELECT experiment_id, step, ts, minus(x0, x1) AS v
FROM (
  SELECT experiment_id, step, max(ts0) AS ts, uniqExact(metric_name) AS present,
    anyIf(mv, metric_name = {m0:String}) AS x0,
    anyIf(mv, metric_name = {m1:String}) AS x1
  FROM (
    SELECT experiment_id, step, metric_name, max(toUnixTimestamp64Milli(timestamp)) AS ts0, avg(metric_value) AS mv
    FROM metrics FINAL
    WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
      AND metric_name IN ({m0:String}, {m1:String})
    GROUP BY experiment_id, step, metric_name
    SETTINGS do_not_merge_across_partitions_select_final = 1
  )
  GROUP BY experiment_id, step
  HAVING present = {n_metrics:UInt64}
)
)
ORDER BY step
LIMIT {limit:UInt32};

SELECT count() AS n, min(step) AS lo, max(step) AS hi
FROM (
SELECT experiment_id, step, ts, minus(x0, x1) AS v
FROM (
  SELECT experiment_id, step, max(ts0) AS ts, uniqExact(metric_name) AS present,
    anyIf(mv, metric_name = {m0:String}) AS x0,
    anyIf(mv, metric_name = {m1:String}) AS x1
  FROM (
    SELECT experiment_id, step, metric_name, max(toUnixTimestamp64Milli(timestamp)) AS ts0, avg(metric_value) AS mv
    FROM metrics FINAL
    WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
      AND metric_name IN ({m0:String}, {m1:String})
    GROUP BY experiment_id, step, metric_name
    SETTINGS do_not_merge_across_partitions_select_final = 1
  )
  GROUP BY experiment_id, step
  HAVING present = {n_metrics:UInt64}
)
);

SELECT
  intDiv(step - {step_lo:UInt64}, {width:UInt64}) AS bucket,
  argMin((step, ts, v, ''), if(isNaN(v), inf, v)) AS lo,
  argMax((step, ts, v, ''), if(isNaN(v), -inf, v)) AS hi,
  argMin((step, ts, v, ''), step) AS first,
  argMax((step, ts, v, ''), step) AS last
FROM (
SELECT experiment_id, step, ts, minus(x0, x1) AS v
FROM (
  SELECT experiment_id, step, max(ts0) AS ts, uniqExact(metric_name) AS present,
    anyIf(mv, metric_name = {m0:String}) AS x0,
    anyIf(mv, metric_name = {m1:String}) AS x1
  FROM (
    SELECT experiment_id, step, metric_name, max(toUnixTimestamp64Milli(timestamp)) AS ts0, avg(metric_value) AS mv
    FROM metrics FINAL
    WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
      AND metric_name IN ({m0:String}, {m1:String})
    GROUP BY experiment_id, step, metric_name
    SETTINGS do_not_merge_across_partitions_select_final = 1
  )
  GROUP BY experiment_id, step
  HAVING present = {n_metrics:UInt64}
)
)
GROUP BY bucket
ORDER BY bucket;

SELECT experiment_id,
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
SELECT experiment_id, step, ts, minus(x0, x1) AS v
FROM (
  SELECT experiment_id, step, max(ts0) AS ts, uniqExact(metric_name) AS present,
    anyIf(mv, metric_name = {m0:String}) AS x0,
    anyIf(mv, metric_name = {m1:String}) AS x1
  FROM (
    SELECT experiment_id, step, metric_name, max(toUnixTimestamp64Milli(timestamp)) AS ts0, avg(metric_value) AS mv
    FROM metrics FINAL
    WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
      AND metric_name IN ({m0:String}, {m1:String})
    GROUP BY experiment_id, step, metric_name
    SETTINGS do_not_merge_across_partitions_select_final = 1
  )
  GROUP BY experiment_id, step
  HAVING present = {n_metrics:UInt64}
)
)
GROUP BY experiment_id
ORDER BY experiment_id;

SELECT experiment_id,
  argMax(v, step) AS last_v,
  minIfOrNull(v, NOT isNaN(v)) AS min_v,
  maxIfOrNull(v, NOT isNaN(v)) AS max_v,
  avgIfOrNull(v, NOT isNaN(v) AND 10 * (hi - step) <= hi - lo) AS tail_avg
FROM (
  SELECT experiment_id, step, v, max(step) OVER w AS hi, min(step) OVER w AS lo
  FROM (
SELECT experiment_id, step, ts, minus(x0, x1) AS v
FROM (
  SELECT experiment_id, step, max(ts0) AS ts, uniqExact(metric_name) AS present,
    anyIf(mv, metric_name = {m0:String}) AS x0,
    anyIf(mv, metric_name = {m1:String}) AS x1
  FROM (
    SELECT experiment_id, step, metric_name, max(toUnixTimestamp64Milli(timestamp)) AS ts0, avg(metric_value) AS mv
    FROM metrics FINAL
    WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND experiment_id IN {experiment_ids:Array(UUID)}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
      AND metric_name IN ({m0:String}, {m1:String})
    GROUP BY experiment_id, step, metric_name
    SETTINGS do_not_merge_across_partitions_select_final = 1
  )
  GROUP BY experiment_id, step
  HAVING present = {n_metrics:UInt64}
)
  )
  WINDOW w AS (PARTITION BY experiment_id)
)
GROUP BY experiment_id;
