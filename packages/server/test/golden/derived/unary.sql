-- --a - -(b)
-- params: {"m0":"a","m1":"b","n_metrics":2}
SELECT experiment_id, step, ts, minus(negate(negate(x0)), negate(x1)) AS v
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
