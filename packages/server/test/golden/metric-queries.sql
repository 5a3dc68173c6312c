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

SELECT count() AS n, min(step) AS lo, max(step) AS hi
FROM metrics FINAL
WHERE team_id = {team_id:UUID}
  AND project_id = {project_id:UUID}
  AND experiment_id = {experiment_id:UUID}
  AND metric_name = {metric_name:String}
  AND step >= {step_min:UInt64} AND step <= {step_max:UInt64}
  AND ({host:Nullable(String)} IS NULL OR host = {host:Nullable(String)})
SETTINGS do_not_merge_across_partitions_select_final = 1;

SELECT sum(point_count) AS n, min(first_step) AS lo, max(last_step) AS hi
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND experiment_id = {experiment_id:UUID} AND metric_name = {metric_name:String};

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
