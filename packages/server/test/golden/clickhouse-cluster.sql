CREATE DATABASE IF NOT EXISTS assay ON CLUSTER metrics_cluster;

CREATE TABLE IF NOT EXISTS assay.assay_schema_migrations ON CLUSTER metrics_cluster
(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
ENGINE = ReplicatedMergeTree('/clickhouse/tables/assay/assay_schema_migrations', '{shard}-{replica}')
ORDER BY version;

-- migration 1: metrics and aggregates;

CREATE TABLE IF NOT EXISTS assay.metrics_local ON CLUSTER metrics_cluster
(
  team_id       UUID,
  project_id    UUID,
  experiment_id UUID,
  metric_name   LowCardinality(String),
  step          UInt64                 CODEC(Delta, ZSTD(1)),
  host          LowCardinality(String) DEFAULT '',
  timestamp     DateTime64(3, 'UTC')   CODEC(DoubleDelta, ZSTD(1)),
  metric_value  Float64                CODEC(Gorilla, ZSTD(1)),
  logged_at     DateTime64(6, 'UTC')   CODEC(DoubleDelta, ZSTD(1))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/assay/metrics_local', '{replica}', logged_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (team_id, project_id, experiment_id, metric_name, step, host)
TTL toDateTime(logged_at) + INTERVAL 2 YEAR DELETE;

CREATE TABLE IF NOT EXISTS assay.metrics ON CLUSTER metrics_cluster AS assay.metrics_local
ENGINE = Distributed(metrics_cluster, assay, metrics_local, cityHash64(team_id));

CREATE TABLE IF NOT EXISTS assay.metrics_summary_local ON CLUSTER metrics_cluster
(
  team_id       UUID,
  project_id    UUID,
  experiment_id UUID,
  metric_name   LowCardinality(String),
  min_value      SimpleAggregateFunction(min, Float64),
  max_value      SimpleAggregateFunction(max, Float64),
  sum_value      SimpleAggregateFunction(sum, Float64),
  value_count    SimpleAggregateFunction(sum, UInt64),
  point_count    SimpleAggregateFunction(sum, UInt64),
  last_value     AggregateFunction(argMax, Float64, Tuple(UInt64, DateTime64(6, 'UTC'))),
  first_step     SimpleAggregateFunction(min, UInt64),
  last_step      SimpleAggregateFunction(max, UInt64),
  last_timestamp SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/assay/metrics_summary_local', '{replica}')
ORDER BY (team_id, project_id, experiment_id, metric_name);

CREATE TABLE IF NOT EXISTS assay.metrics_summary ON CLUSTER metrics_cluster AS assay.metrics_summary_local
ENGINE = Distributed(metrics_cluster, assay, metrics_summary_local, cityHash64(team_id));

CREATE TABLE IF NOT EXISTS assay.metrics_hourly_local ON CLUSTER metrics_cluster
(
  team_id       UUID,
  project_id    UUID,
  experiment_id UUID,
  metric_name   LowCardinality(String),
  hour           DateTime('UTC'),
  min_value      SimpleAggregateFunction(min, Float64),
  max_value      SimpleAggregateFunction(max, Float64),
  sum_value      SimpleAggregateFunction(sum, Float64),
  value_count    SimpleAggregateFunction(sum, UInt64),
  point_count    SimpleAggregateFunction(sum, UInt64),
  last_value     AggregateFunction(argMax, Float64, Tuple(UInt64, DateTime64(6, 'UTC'))),
  first_step     SimpleAggregateFunction(min, UInt64),
  last_step      SimpleAggregateFunction(max, UInt64),
  last_timestamp SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/assay/metrics_hourly_local', '{replica}')
PARTITION BY toYYYYMM(hour)
ORDER BY (team_id, project_id, experiment_id, metric_name, hour);

CREATE TABLE IF NOT EXISTS assay.metrics_hourly ON CLUSTER metrics_cluster AS assay.metrics_hourly_local
ENGINE = Distributed(metrics_cluster, assay, metrics_hourly_local, cityHash64(team_id));

CREATE TABLE IF NOT EXISTS assay.metrics_aggregated_local ON CLUSTER metrics_cluster
(
  team_id       UUID,
  project_id    UUID,
  experiment_id UUID,
  metric_name   LowCardinality(String),
  step           UInt64,
  min_value      SimpleAggregateFunction(min, Float64),
  max_value      SimpleAggregateFunction(max, Float64),
  sum_value      SimpleAggregateFunction(sum, Float64),
  value_count    SimpleAggregateFunction(sum, UInt64),
  point_count    SimpleAggregateFunction(sum, UInt64),
  last_value     AggregateFunction(argMax, Float64, Tuple(UInt64, DateTime64(6, 'UTC'))),
  first_step     SimpleAggregateFunction(min, UInt64),
  last_step      SimpleAggregateFunction(max, UInt64),
  last_timestamp SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/assay/metrics_aggregated_local', '{replica}')
ORDER BY (team_id, project_id, experiment_id, metric_name, step);

CREATE TABLE IF NOT EXISTS assay.metrics_aggregated ON CLUSTER metrics_cluster AS assay.metrics_aggregated_local
ENGINE = Distributed(metrics_cluster, assay, metrics_aggregated_local, cityHash64(team_id));

CREATE TABLE IF NOT EXISTS assay.evidence_metrics_local ON CLUSTER metrics_cluster
(
  timestamp        DateTime64(3, 'UTC'),
  team_id          UUID,
  project_id       UUID,
  hypothesis_id    UUID,
  experiment_id    UUID,
  metric_name      LowCardinality(String),
  baseline_value   Float64,
  experiment_value Float64,
  delta            Float64,
  direction        Enum8('minimize' = 0, 'maximize' = 1),
  confidence_score Float32,
  logged_at        DateTime64(6, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/assay/evidence_metrics_local', '{replica}', logged_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (team_id, project_id, hypothesis_id, experiment_id, metric_name);

CREATE TABLE IF NOT EXISTS assay.evidence_metrics ON CLUSTER metrics_cluster AS assay.evidence_metrics_local
ENGINE = Distributed(metrics_cluster, assay, evidence_metrics_local, cityHash64(team_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_summary_mv ON CLUSTER metrics_cluster TO assay.metrics_summary_local AS
SELECT team_id, project_id, experiment_id, metric_name,
  min(metric_value) AS min_value,
  max(metric_value) AS max_value,
  sumIf(metric_value, NOT isNaN(metric_value)) AS sum_value,
  countIf(NOT isNaN(metric_value)) AS value_count,
  count() AS point_count,
  argMaxState(metric_value, (step, logged_at)) AS last_value,
  min(step) AS first_step,
  max(step) AS last_step,
  max(timestamp) AS last_timestamp
FROM assay.metrics_local
GROUP BY team_id, project_id, experiment_id, metric_name;

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_hourly_mv ON CLUSTER metrics_cluster TO assay.metrics_hourly_local AS
SELECT team_id, project_id, experiment_id, metric_name, toStartOfHour(timestamp) AS hour,
  min(metric_value) AS min_value,
  max(metric_value) AS max_value,
  sumIf(metric_value, NOT isNaN(metric_value)) AS sum_value,
  countIf(NOT isNaN(metric_value)) AS value_count,
  count() AS point_count,
  argMaxState(metric_value, (step, logged_at)) AS last_value,
  min(step) AS first_step,
  max(step) AS last_step,
  max(timestamp) AS last_timestamp
FROM assay.metrics_local
GROUP BY team_id, project_id, experiment_id, metric_name, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_aggregated_mv ON CLUSTER metrics_cluster TO assay.metrics_aggregated_local AS
SELECT team_id, project_id, experiment_id, metric_name, step,
  min(metric_value) AS min_value,
  max(metric_value) AS max_value,
  sumIf(metric_value, NOT isNaN(metric_value)) AS sum_value,
  countIf(NOT isNaN(metric_value)) AS value_count,
  count() AS point_count,
  argMaxState(metric_value, (step, logged_at)) AS last_value,
  min(step) AS first_step,
  max(step) AS last_step,
  max(timestamp) AS last_timestamp
FROM assay.metrics_local
WHERE host != ''
GROUP BY team_id, project_id, experiment_id, metric_name, step;

-- migration 2: narrow ingest path;

CREATE TABLE IF NOT EXISTS assay.ingest_keys_local ON CLUSTER metrics_cluster
(
  ingest_key    UInt64,
  team_id       UUID,
  project_id    UUID,
  experiment_id UUID
)
ENGINE = Join(ANY, LEFT, ingest_key);

CREATE TABLE IF NOT EXISTS assay.metrics_ingest_local ON CLUSTER metrics_cluster
(
  ingest_key    UInt64,
  metric_name   String,
  step          UInt64,
  host          String,
  ts_ms         Int64,
  value_bits    FixedString(16),
  logged_us     Int64
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS assay.ingest_keys ON CLUSTER metrics_cluster AS assay.ingest_keys_local
ENGINE = Distributed(metrics_cluster, assay, ingest_keys_local, ingest_key);

CREATE TABLE IF NOT EXISTS assay.metrics_ingest ON CLUSTER metrics_cluster AS assay.metrics_ingest_local
ENGINE = Distributed(metrics_cluster, assay, metrics_ingest_local, ingest_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_ingest_mv ON CLUSTER metrics_cluster TO assay.metrics_local AS
SELECT
  joinGet('assay.ingest_keys_local', 'team_id', ingest_key) AS team_id,
  joinGet('assay.ingest_keys_local', 'project_id', ingest_key) AS project_id,
  joinGet('assay.ingest_keys_local', 'experiment_id', ingest_key) AS experiment_id,
  metric_name, step, host,
  fromUnixTimestamp64Milli(ts_ms, 'UTC') AS timestamp,
  reinterpretAsFloat64(unhex(value_bits)) AS metric_value,
  fromUnixTimestamp64Micro(logged_us, 'UTC') AS logged_at
FROM assay.metrics_ingest_local;

-- migration 3: downsampling rollup;

CREATE TABLE IF NOT EXISTS assay.metrics_rollup_local ON CLUSTER metrics_cluster
(
  team_id       UUID,
  project_id    UUID,
  experiment_id UUID,
  metric_name   LowCardinality(String),
  host           LowCardinality(String),
  bucket         UInt64,
  low_point      AggregateFunction(argMin, Tuple(UInt64, Int64, Float64), Float64),
  high_point     AggregateFunction(argMax, Tuple(UInt64, Int64, Float64), Float64),
  first_point    AggregateFunction(argMin, Tuple(UInt64, Int64, Float64), UInt64),
  last_point     AggregateFunction(argMax, Tuple(UInt64, Int64, Float64), UInt64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/assay/metrics_rollup_local', '{replica}')
ORDER BY (team_id, project_id, experiment_id, metric_name, host, bucket);

CREATE TABLE IF NOT EXISTS assay.metrics_rollup ON CLUSTER metrics_cluster AS assay.metrics_rollup_local
ENGINE = Distributed(metrics_cluster, assay, metrics_rollup_local, cityHash64(team_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_rollup_mv ON CLUSTER metrics_cluster TO assay.metrics_rollup_local AS
SELECT team_id, project_id, experiment_id, metric_name, host,
  intDiv(step, 256) AS bucket,
  argMinState((step, toUnixTimestamp64Milli(timestamp), metric_value), if(isNaN(metric_value), inf, metric_value)) AS low_point,
  argMaxState((step, toUnixTimestamp64Milli(timestamp), metric_value), if(isNaN(metric_value), -inf, metric_value)) AS high_point,
  argMinState((step, toUnixTimestamp64Milli(timestamp), metric_value), step) AS first_point,
  argMaxState((step, toUnixTimestamp64Milli(timestamp), metric_value), step) AS last_point
FROM assay.metrics_local
GROUP BY team_id, project_id, experiment_id, metric_name, host, bucket;

-- migration 4: native ingest with pre-aggregated partials;

DROP VIEW IF EXISTS assay.metrics_ingest_mv ON CLUSTER metrics_cluster;

DROP VIEW IF EXISTS assay.metrics_summary_mv ON CLUSTER metrics_cluster;

DROP VIEW IF EXISTS assay.metrics_hourly_mv ON CLUSTER metrics_cluster;

DROP VIEW IF EXISTS assay.metrics_aggregated_mv ON CLUSTER metrics_cluster;

DROP VIEW IF EXISTS assay.metrics_rollup_mv ON CLUSTER metrics_cluster;

DROP TABLE IF EXISTS assay.metrics_ingest ON CLUSTER metrics_cluster;

DROP TABLE IF EXISTS assay.ingest_keys ON CLUSTER metrics_cluster;

DROP TABLE IF EXISTS assay.metrics_ingest_local ON CLUSTER metrics_cluster;

DROP TABLE IF EXISTS assay.ingest_keys_local ON CLUSTER metrics_cluster;

CREATE TABLE IF NOT EXISTS assay.metrics_summary_input_local ON CLUSTER metrics_cluster
(
  team_id UUID,
  project_id UUID,
  experiment_id UUID,
  metric_name String,
  hour DateTime('UTC'),
  p_min Float64,
  p_max Float64,
  p_sum Float64,
  p_value_count UInt64,
  p_point_count UInt64,
  p_last_value Float64,
  p_last_step UInt64,
  p_last_logged DateTime64(6, 'UTC'),
  p_first_step UInt64,
  p_last_ts DateTime64(3, 'UTC')
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS assay.metrics_summary_input ON CLUSTER metrics_cluster AS assay.metrics_summary_input_local
ENGINE = Distributed(metrics_cluster, assay, metrics_summary_input_local, cityHash64(team_id));

CREATE TABLE IF NOT EXISTS assay.metrics_aggregated_input_local ON CLUSTER metrics_cluster
(
  team_id UUID,
  project_id UUID,
  experiment_id UUID,
  metric_name String,
  step UInt64,
  p_min Float64,
  p_max Float64,
  p_sum Float64,
  p_value_count UInt64,
  p_point_count UInt64,
  p_last_value Float64,
  p_last_step UInt64,
  p_last_logged DateTime64(6, 'UTC'),
  p_first_step UInt64,
  p_last_ts DateTime64(3, 'UTC')
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS assay.metrics_aggregated_input ON CLUSTER metrics_cluster AS assay.metrics_aggregated_input_local
ENGINE = Distributed(metrics_cluster, assay, metrics_aggregated_input_local, cityHash64(team_id));

CREATE TABLE IF NOT EXISTS assay.metrics_rollup_input_local ON CLUSTER metrics_cluster
(
  team_id UUID,
  project_id UUID,
  experiment_id UUID,
  metric_name String,
  host String,
  bucket UInt64,
  low_step UInt64,
  low_ts Int64,
  low_value Float64,
  low_key Float64,
  high_step UInt64,
  high_ts Int64,
  high_value Float64,
  high_key Float64,
  first_step UInt64,
  first_ts Int64,
  first_value Float64,
  last_step UInt64,
  last_ts Int64,
  last_value Float64
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS assay.metrics_rollup_input ON CLUSTER metrics_cluster AS assay.metrics_rollup_input_local
ENGINE = Distributed(metrics_cluster, assay, metrics_rollup_input_local, cityHash64(team_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_summary_input_mv ON CLUSTER metrics_cluster TO assay.metrics_summary_local AS
SELECT team_id, project_id, experiment_id, metric_name,
  min(p_min) AS min_value,
  max(p_max) AS max_value,
  sum(p_sum) AS sum_value,
  sum(p_value_count) AS value_count,
  sum(p_point_count) AS point_count,
  argMaxState(p_last_value, (p_last_step, p_last_logged)) AS last_value,
  min(p_first_step) AS first_step,
  max(p_last_step) AS last_step,
  max(p_last_ts) AS last_timestamp
FROM assay.metrics_summary_input_local
GROUP BY team_id, project_id, experiment_id, metric_name;

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_hourly_input_mv ON CLUSTER metrics_cluster TO assay.metrics_hourly_local AS
SELECT team_id, project_id, experiment_id, metric_name, hour,
  min(p_min) AS min_value,
  max(p_max) AS max_value,
  sum(p_sum) AS sum_value,
  sum(p_value_count) AS value_count,
  sum(p_point_count) AS point_count,
  argMaxState(p_last_value, (p_last_step, p_last_logged)) AS last_value,
  min(p_first_step) AS first_step,
  max(p_last_step) AS last_step,
  max(p_last_ts) AS last_timestamp
FROM assay.metrics_summary_input_local
GROUP BY team_id, project_id, experiment_id, metric_name, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_aggregated_input_mv ON CLUSTER metrics_cluster TO assay.metrics_aggregated_local AS
SELECT team_id, project_id, experiment_id, metric_name, step,
  min(p_min) AS min_value,
  max(p_max) AS max_value,
  sum(p_sum) AS sum_value,
  sum(p_value_count) AS value_count,
  sum(p_point_count) AS point_count,
  argMaxState(p_last_value, (p_last_step, p_last_logged)) AS last_value,
  min(p_first_step) AS first_step,
  max(p_last_step) AS last_step,
  max(p_last_ts) AS last_timestamp
FROM assay.metrics_aggregated_input_local
GROUP BY team_id, project_id, experiment_id, metric_name, step;

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_rollup_input_mv ON CLUSTER metrics_cluster TO assay.metrics_rollup_local AS
SELECT team_id, project_id, experiment_id, metric_name, host, bucket,
  argMinState((low_step, low_ts, low_value), low_key) AS low_point,
  argMaxState((high_step, high_ts, high_value), high_key) AS high_point,
  argMinState((first_step, first_ts, first_value), first_step) AS first_point,
  argMaxState((last_step, last_ts, last_value), last_step) AS last_point
FROM assay.metrics_rollup_input_local
GROUP BY team_id, project_id, experiment_id, metric_name, host, bucket;

-- migration 5: evidence rows per evaluation;

ALTER TABLE assay.evidence_metrics_local ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS evaluation_id UUID,
  ADD COLUMN IF NOT EXISTS candidate_arm String,
  ADD COLUMN IF NOT EXISTS method LowCardinality(String),
  ADD COLUMN IF NOT EXISTS verdict LowCardinality(String),
  ADD COLUMN IF NOT EXISTS n_baseline UInt32,
  ADD COLUMN IF NOT EXISTS n_candidate UInt32,
  ADD COLUMN IF NOT EXISTS relative_delta Nullable(Float64),
  ADD COLUMN IF NOT EXISTS t_statistic Nullable(Float64),
  ADD COLUMN IF NOT EXISTS df Nullable(Float64),
  ADD COLUMN IF NOT EXISTS p_value Nullable(Float64),
  MODIFY ORDER BY (team_id, project_id, hypothesis_id, experiment_id, metric_name, evaluation_id);

ALTER TABLE assay.evidence_metrics ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS evaluation_id UUID,
  ADD COLUMN IF NOT EXISTS candidate_arm String,
  ADD COLUMN IF NOT EXISTS method LowCardinality(String),
  ADD COLUMN IF NOT EXISTS verdict LowCardinality(String),
  ADD COLUMN IF NOT EXISTS n_baseline UInt32,
  ADD COLUMN IF NOT EXISTS n_candidate UInt32,
  ADD COLUMN IF NOT EXISTS relative_delta Nullable(Float64),
  ADD COLUMN IF NOT EXISTS t_statistic Nullable(Float64),
  ADD COLUMN IF NOT EXISTS df Nullable(Float64),
  ADD COLUMN IF NOT EXISTS p_value Nullable(Float64);

-- migration 6: per-project retention;

ALTER TABLE assay.metrics_local ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 730;

ALTER TABLE assay.metrics ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 730;

ALTER TABLE assay.metrics_local ON CLUSTER metrics_cluster
  MODIFY TTL toDateTime(logged_at) + toIntervalDay(retention_days) DELETE
SETTINGS materialize_ttl_after_modify = 0;

ALTER TABLE assay.metrics_summary_local ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days SimpleAggregateFunction(max, UInt16) DEFAULT 730,
  ADD COLUMN IF NOT EXISTS last_logged_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now();

ALTER TABLE assay.metrics_summary ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days SimpleAggregateFunction(max, UInt16) DEFAULT 730,
  ADD COLUMN IF NOT EXISTS last_logged_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now();

ALTER TABLE assay.metrics_summary_local ON CLUSTER metrics_cluster
  MODIFY TTL last_logged_at + toIntervalDay(retention_days) DELETE
SETTINGS materialize_ttl_after_modify = 0;

ALTER TABLE assay.metrics_hourly_local ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days SimpleAggregateFunction(max, UInt16) DEFAULT 730,
  ADD COLUMN IF NOT EXISTS last_logged_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now();

ALTER TABLE assay.metrics_hourly ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days SimpleAggregateFunction(max, UInt16) DEFAULT 730,
  ADD COLUMN IF NOT EXISTS last_logged_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now();

ALTER TABLE assay.metrics_hourly_local ON CLUSTER metrics_cluster
  MODIFY TTL last_logged_at + toIntervalDay(retention_days) DELETE
SETTINGS materialize_ttl_after_modify = 0;

ALTER TABLE assay.metrics_aggregated_local ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days SimpleAggregateFunction(max, UInt16) DEFAULT 730,
  ADD COLUMN IF NOT EXISTS last_logged_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now();

ALTER TABLE assay.metrics_aggregated ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days SimpleAggregateFunction(max, UInt16) DEFAULT 730,
  ADD COLUMN IF NOT EXISTS last_logged_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now();

ALTER TABLE assay.metrics_aggregated_local ON CLUSTER metrics_cluster
  MODIFY TTL last_logged_at + toIntervalDay(retention_days) DELETE
SETTINGS materialize_ttl_after_modify = 0;

ALTER TABLE assay.metrics_rollup_local ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days SimpleAggregateFunction(max, UInt16) DEFAULT 730,
  ADD COLUMN IF NOT EXISTS last_logged_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now();

ALTER TABLE assay.metrics_rollup ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days SimpleAggregateFunction(max, UInt16) DEFAULT 730,
  ADD COLUMN IF NOT EXISTS last_logged_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now();

ALTER TABLE assay.metrics_rollup_local ON CLUSTER metrics_cluster
  MODIFY TTL last_logged_at + toIntervalDay(retention_days) DELETE
SETTINGS materialize_ttl_after_modify = 0;

ALTER TABLE assay.metrics_summary_input_local ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 730;

ALTER TABLE assay.metrics_summary_input ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 730;

ALTER TABLE assay.metrics_aggregated_input_local ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 730;

ALTER TABLE assay.metrics_aggregated_input ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 730;

ALTER TABLE assay.metrics_rollup_input_local ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 730;

ALTER TABLE assay.metrics_rollup_input ON CLUSTER metrics_cluster
  ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 730;

DROP VIEW IF EXISTS assay.metrics_summary_input_mv ON CLUSTER metrics_cluster;

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_summary_input_mv ON CLUSTER metrics_cluster TO assay.metrics_summary_local AS
SELECT team_id, project_id, experiment_id, metric_name,
  min(p_min) AS min_value,
  max(p_max) AS max_value,
  sum(p_sum) AS sum_value,
  sum(p_value_count) AS value_count,
  sum(p_point_count) AS point_count,
  argMaxState(p_last_value, (p_last_step, p_last_logged)) AS last_value,
  min(p_first_step) AS first_step,
  max(p_last_step) AS last_step,
  max(p_last_ts) AS last_timestamp,
  max(retention_days) AS retention_days
FROM assay.metrics_summary_input_local
GROUP BY team_id, project_id, experiment_id, metric_name;

DROP VIEW IF EXISTS assay.metrics_hourly_input_mv ON CLUSTER metrics_cluster;

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_hourly_input_mv ON CLUSTER metrics_cluster TO assay.metrics_hourly_local AS
SELECT team_id, project_id, experiment_id, metric_name, hour,
  min(p_min) AS min_value,
  max(p_max) AS max_value,
  sum(p_sum) AS sum_value,
  sum(p_value_count) AS value_count,
  sum(p_point_count) AS point_count,
  argMaxState(p_last_value, (p_last_step, p_last_logged)) AS last_value,
  min(p_first_step) AS first_step,
  max(p_last_step) AS last_step,
  max(p_last_ts) AS last_timestamp,
  max(retention_days) AS retention_days
FROM assay.metrics_summary_input_local
GROUP BY team_id, project_id, experiment_id, metric_name, hour;

DROP VIEW IF EXISTS assay.metrics_aggregated_input_mv ON CLUSTER metrics_cluster;

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_aggregated_input_mv ON CLUSTER metrics_cluster TO assay.metrics_aggregated_local AS
SELECT team_id, project_id, experiment_id, metric_name, step,
  min(p_min) AS min_value,
  max(p_max) AS max_value,
  sum(p_sum) AS sum_value,
  sum(p_value_count) AS value_count,
  sum(p_point_count) AS point_count,
  argMaxState(p_last_value, (p_last_step, p_last_logged)) AS last_value,
  min(p_first_step) AS first_step,
  max(p_last_step) AS last_step,
  max(p_last_ts) AS last_timestamp,
  max(retention_days) AS retention_days
FROM assay.metrics_aggregated_input_local
GROUP BY team_id, project_id, experiment_id, metric_name, step;

DROP VIEW IF EXISTS assay.metrics_rollup_input_mv ON CLUSTER metrics_cluster;

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_rollup_input_mv ON CLUSTER metrics_cluster TO assay.metrics_rollup_local AS
SELECT team_id, project_id, experiment_id, metric_name, host, bucket,
  argMinState((low_step, low_ts, low_value), low_key) AS low_point,
  argMaxState((high_step, high_ts, high_value), high_key) AS high_point,
  argMinState((first_step, first_ts, first_value), first_step) AS first_point,
  argMaxState((last_step, last_ts, last_value), last_step) AS last_point,
  max(retention_days) AS retention_days
FROM assay.metrics_rollup_input_local
GROUP BY team_id, project_id, experiment_id, metric_name, host, bucket;

-- migration 7: fine downsampling rollup;

CREATE TABLE IF NOT EXISTS assay.metrics_rollup_fine_local ON CLUSTER metrics_cluster
(
  team_id       UUID,
  project_id    UUID,
  experiment_id UUID,
  metric_name   LowCardinality(String),
  host           LowCardinality(String),
  bucket         UInt64,
  min_value      SimpleAggregateFunction(min, Float64),
  max_value      SimpleAggregateFunction(max, Float64),
  last_point     SimpleAggregateFunction(max, Tuple(UInt64, Int64, Float64)),
  point_count    SimpleAggregateFunction(sum, UInt64),
  step_mask      SimpleAggregateFunction(groupBitOr, UInt16),
  retention_days SimpleAggregateFunction(max, UInt16) DEFAULT 730,
  last_logged_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now()
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/assay/metrics_rollup_fine_local', '{replica}')
ORDER BY (team_id, project_id, experiment_id, metric_name, host, bucket)
TTL last_logged_at + toIntervalDay(retention_days) DELETE;

CREATE TABLE IF NOT EXISTS assay.metrics_rollup_fine ON CLUSTER metrics_cluster AS assay.metrics_rollup_fine_local
ENGINE = Distributed(metrics_cluster, assay, metrics_rollup_fine_local, cityHash64(team_id));

CREATE TABLE IF NOT EXISTS assay.metrics_rollup_fine_input_local ON CLUSTER metrics_cluster
(
  team_id UUID,
  project_id UUID,
  experiment_id UUID,
  metric_name String,
  host String,
  bucket UInt64,
  p_min Float64,
  p_max Float64,
  last_step UInt64,
  last_ts Int64,
  last_value Float64,
  p_point_count UInt64,
  step_mask UInt16,
  retention_days UInt16
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS assay.metrics_rollup_fine_input ON CLUSTER metrics_cluster AS assay.metrics_rollup_fine_input_local
ENGINE = Distributed(metrics_cluster, assay, metrics_rollup_fine_input_local, cityHash64(team_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS assay.metrics_rollup_fine_input_mv ON CLUSTER metrics_cluster TO assay.metrics_rollup_fine_local AS
SELECT team_id, project_id, experiment_id, metric_name, host, bucket,
  p_min AS min_value,
  p_max AS max_value,
  (last_step, last_ts, last_value) AS last_point,
  p_point_count AS point_count,
  step_mask,
  retention_days
FROM assay.metrics_rollup_fine_input_local;

INSERT INTO assay.metrics_rollup_fine (team_id, project_id, experiment_id, metric_name, host, bucket, min_value, max_value, last_point, point_count, step_mask, retention_days, last_logged_at)
SELECT team_id, project_id, experiment_id, metric_name, host,
  intDiv(step, 8) AS bucket,
  min(metric_value) AS min_value,
  max(metric_value) AS max_value,
  max((step, toUnixTimestamp64Milli(timestamp), metric_value)) AS last_point,
  count() AS point_count,
  groupBitOr(toUInt16(bitShiftLeft(1, step % 8))) AS step_mask,
  max(retention_days) AS retention_days,
  toDateTime(max(logged_at)) AS last_logged_at
FROM assay.metrics
GROUP BY team_id, project_id, experiment_id, metric_name, host, bucket;
