/**
 * ClickHouse schema, rendered from one source for a single node or a cluster (Replicated engines,
 * ON CLUSTER, and a Distributed table per tenant table sharded by cityHash64(team_id)).
 * Identifiers come from the validated config (plain identifiers only); values never appear here.
 */
import { AGGREGATED_INPUT_COLUMNS, FINE_INPUT_COLUMNS, FINE_ROLLUP_STEPS, ROLLUP_INPUT_COLUMNS, ROLLUP_STEPS, SUMMARY_INPUT_COLUMNS } from './partials.ts';

export { FINE_ROLLUP_STEPS, ROLLUP_STEPS };
import { distributedOver, localTable, onCluster, qualified as q, schemaTargets, target as targetOf } from './targets.ts';

export interface DdlOptions {
  database: string;
  cluster?: string;
}

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

interface TableSpec {
  name: string;
  columns: string;
  engine: 'MergeTree' | 'ReplacingMergeTree' | 'AggregatingMergeTree';
  engineArgs?: string;
  tail: string;
}

const METRICS: TableSpec = {
  name: 'metrics',
  columns: `
  team_id       UUID,
  project_id    UUID,
  experiment_id UUID,
  metric_name   LowCardinality(String),
  step          UInt64                 CODEC(Delta, ZSTD(1)),
  host          LowCardinality(String) DEFAULT '',
  timestamp     DateTime64(3, 'UTC')   CODEC(DoubleDelta, ZSTD(1)),
  metric_value  Float64                CODEC(Gorilla, ZSTD(1)),
  logged_at     DateTime64(6, 'UTC')   CODEC(DoubleDelta, ZSTD(1))`,
  engine: 'ReplacingMergeTree',
  engineArgs: 'logged_at',
  tail: `PARTITION BY toYYYYMM(timestamp)
ORDER BY (team_id, project_id, experiment_id, metric_name, step, host)
TTL toDateTime(logged_at) + INTERVAL 2 YEAR DELETE`, // retention counts from ingest: an imported 2023 run is not dropped on arrival
};

// min/max skip NaN in ClickHouse; sum/count are kept over non-NaN values so avg stays a number
// when a run logs the odd NaN, while `count` still counts every point.
const SUMMARY_COLUMNS = `
  min_value      SimpleAggregateFunction(min, Float64),
  max_value      SimpleAggregateFunction(max, Float64),
  sum_value      SimpleAggregateFunction(sum, Float64),
  value_count    SimpleAggregateFunction(sum, UInt64),
  point_count    SimpleAggregateFunction(sum, UInt64),
  last_value     AggregateFunction(argMax, Float64, Tuple(UInt64, DateTime64(6, 'UTC'))),
  first_step     SimpleAggregateFunction(min, UInt64),
  last_step      SimpleAggregateFunction(max, UInt64),
  last_timestamp SimpleAggregateFunction(max, DateTime64(3, 'UTC'))`;

const SUMMARY_SELECT = `
  min(metric_value) AS min_value,
  max(metric_value) AS max_value,
  sumIf(metric_value, NOT isNaN(metric_value)) AS sum_value,
  countIf(NOT isNaN(metric_value)) AS value_count,
  count() AS point_count,
  argMaxState(metric_value, (step, logged_at)) AS last_value,
  min(step) AS first_step,
  max(step) AS last_step,
  max(timestamp) AS last_timestamp`;

const KEY = `
  team_id       UUID,
  project_id    UUID,
  experiment_id UUID,
  metric_name   LowCardinality(String),`;

const METRICS_SUMMARY: TableSpec = {
  name: 'metrics_summary',
  columns: KEY + SUMMARY_COLUMNS,
  engine: 'AggregatingMergeTree',
  tail: 'ORDER BY (team_id, project_id, experiment_id, metric_name)',
};

const METRICS_HOURLY: TableSpec = {
  name: 'metrics_hourly',
  columns: KEY + `\n  hour           DateTime('UTC'),` + SUMMARY_COLUMNS,
  engine: 'AggregatingMergeTree',
  tail: `PARTITION BY toYYYYMM(hour)
ORDER BY (team_id, project_id, experiment_id, metric_name, hour)`,
};

const METRICS_AGGREGATED: TableSpec = {
  name: 'metrics_aggregated',
  columns: KEY + `\n  step           UInt64,` + SUMMARY_COLUMNS,
  engine: 'AggregatingMergeTree',
  tail: `ORDER BY (team_id, project_id, experiment_id, metric_name, step)`,
};

/**
 * Fixed-width step buckets (ROLLUP_STEPS steps each) keeping each bucket's lowest, highest, first
 * and last point. A downsampled read of a long series merges these instead of scanning every
 * point: a 1M-step series is ~3.9k rollup rows. Fed per insert, so a re-logged step's old value
 * can still surface as a bucket extreme (raw reads are exact).
 */
const POINT = 'Tuple(UInt64, Int64, Float64)'; // (step, timestamp ms, value)
const METRICS_ROLLUP: TableSpec = {
  name: 'metrics_rollup',
  columns:
    KEY +
    `
  host           LowCardinality(String),
  bucket         UInt64,
  low_point      AggregateFunction(argMin, ${POINT}, Float64),
  high_point     AggregateFunction(argMax, ${POINT}, Float64),
  first_point    AggregateFunction(argMin, ${POINT}, UInt64),
  last_point     AggregateFunction(argMax, ${POINT}, UInt64)`,
  engine: 'AggregatingMergeTree',
  tail: `ORDER BY (team_id, project_id, experiment_id, metric_name, host, bucket)`,
};
const ROLLUP_SELECT = `
  intDiv(step, ${ROLLUP_STEPS}) AS bucket,
  argMinState((step, toUnixTimestamp64Milli(timestamp), metric_value), if(isNaN(metric_value), inf, metric_value)) AS low_point,
  argMaxState((step, toUnixTimestamp64Milli(timestamp), metric_value), if(isNaN(metric_value), -inf, metric_value)) AS high_point,
  argMinState((step, toUnixTimestamp64Milli(timestamp), metric_value), step) AS first_point,
  argMaxState((step, toUnixTimestamp64Milli(timestamp), metric_value), step) AS last_point`;

/**
 * The fine level (migration 7): FINE_ROLLUP_STEPS steps per bucket, for compare-sized reads (10k
 * steps into a few hundred pixels). Only what a chart bucket shows — min/max (NaN skipped), the last
 * point, the count — plus `step_mask`, the steps logged (bit step % FINE_ROLLUP_STEPS): a bucket
 * whose count exceeds its distinct steps holds a re-logged step, and readers scan its points instead.
 */
const METRICS_ROLLUP_FINE: TableSpec = {
  name: 'metrics_rollup_fine',
  columns:
    KEY +
    `
  host           LowCardinality(String),
  bucket         UInt64,
  min_value      SimpleAggregateFunction(min, Float64),
  max_value      SimpleAggregateFunction(max, Float64),
  last_point     SimpleAggregateFunction(max, ${POINT}),
  point_count    SimpleAggregateFunction(sum, UInt64),
  step_mask      SimpleAggregateFunction(groupBitOr, UInt16)`,
  engine: 'AggregatingMergeTree',
  tail: `ORDER BY (team_id, project_id, experiment_id, metric_name, host, bucket)`,
};
const ROLLUP_FINE_SELECT = `
  intDiv(step, ${FINE_ROLLUP_STEPS}) AS bucket,
  min(metric_value) AS min_value,
  max(metric_value) AS max_value,
  max((step, toUnixTimestamp64Milli(timestamp), metric_value)) AS last_point,
  count() AS point_count,
  groupBitOr(toUInt16(bitShiftLeft(1, step % ${FINE_ROLLUP_STEPS}))) AS step_mask`;

const EVIDENCE_METRICS: TableSpec = {
  name: 'evidence_metrics',
  columns: `
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
  logged_at        DateTime64(6, 'UTC')`,
  engine: 'ReplacingMergeTree',
  engineArgs: 'logged_at',
  tail: `PARTITION BY toYYYYMM(timestamp)
ORDER BY (team_id, project_id, hypothesis_id, experiment_id, metric_name)`,
};

/**
 * The ingest path (migration 2). Rows arrive narrow — an 8-byte ingest key instead of three UUIDs
 * as text — into a Null table; a materialized view resolves the key through a Join-engine map
 * (filled by the server from the authenticated tenant before the rows) and writes `metrics`, whose
 * own views then feed the aggregates. Measured on chDB: ~2.0 CPU µs/row vs ~4.5 for full-width rows.
 */
const INGEST_KEYS_COLUMNS = `
  ingest_key    UInt64,
  team_id       UUID,
  project_id    UUID,
  experiment_id UUID`;

const METRICS_INGEST_COLUMNS = `
  ingest_key    UInt64,
  metric_name   String,
  step          UInt64,
  host          String,
  ts_ms         Int64,
  value_bits    FixedString(16),
  logged_us     Int64`;

// value_bits was the Float64's 8 bytes in hex: exact for NaN/±Inf without decimal parsing.
// Superseded by migration 4 (Native blocks carry the Float64 as is).

function ingestStatements(o: DdlOptions): string[] {
  const keys = localTable(o, 'ingest_keys');
  const ingest = localTable(o, 'metrics_ingest');
  const target = localTable(o, 'metrics');
  const out = [
    `CREATE TABLE IF NOT EXISTS ${q(o, keys)}${onCluster(o)}\n(${INGEST_KEYS_COLUMNS}\n)\nENGINE = Join(ANY, LEFT, ingest_key)`,
    `CREATE TABLE IF NOT EXISTS ${q(o, ingest)}${onCluster(o)}\n(${METRICS_INGEST_COLUMNS}\n)\nENGINE = Null`,
  ];
  // Rows and their key land on the same shard (both sharded by the key), so the view resolves locally.
  out.push(...distributedOver(o, 'ingest_keys', 'ingest_key'), ...distributedOver(o, 'metrics_ingest', 'ingest_key'));
  const lookup = (col: string) => `joinGet('${o.database}.${keys}', '${col}', ingest_key) AS ${col}`;
  out.push(
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${q(o, 'metrics_ingest_mv')}${onCluster(o)} TO ${q(o, target)} AS\nSELECT\n  ${lookup('team_id')},\n  ${lookup('project_id')},\n  ${lookup('experiment_id')},\n  metric_name, step, host,\n  fromUnixTimestamp64Milli(ts_ms, 'UTC') AS timestamp,\n  reinterpretAsFloat64(unhex(value_bits)) AS metric_value,\n  fromUnixTimestamp64Micro(logged_us, 'UTC') AS logged_at\nFROM ${q(o, ingest)}`,
  );
  return out;
}

export const TENANT_TABLES = ['metrics', 'metrics_summary', 'metrics_hourly', 'metrics_aggregated', 'metrics_rollup', 'metrics_rollup_fine', 'evidence_metrics'] as const;


/**
 * On a cluster: a Replicated engine per shard at `/clickhouse/tables/{shard}/<db>/<table>_local`,
 * replica `{replica}` (macros from each host's config), and a Distributed table of the plain name
 * over it. The Keeper path names the table instead of `{uuid}`: it stays the same when a replica is
 * rebuilt from scratch or a table is re-created from a backup (new UUID), so the replica re-joins its
 * shard's data and an operator can find it in Keeper. `{uuid}` would protect a DROP and re-CREATE of
 * the same name, which no migration does (migration 4 drops only Null tables and views); a future
 * one that must re-create a replicated table drops it with SYNC first.
 */
function createTable(o: DdlOptions, t: TableSpec): string[] {
  const local = localTable(o, t.name);
  const engine = o.cluster
    ? `Replicated${t.engine}('/clickhouse/tables/{shard}/${o.database}/${local}', '{replica}'${t.engineArgs ? ', ' + t.engineArgs : ''})`
    : `${t.engine}(${t.engineArgs ?? ''})`;
  return [`CREATE TABLE IF NOT EXISTS ${targetOf(o, 'ddl', t.name)}\n(${t.columns}\n)\nENGINE = ${engine}\n${t.tail}`, ...distributedOver(o, t.name, 'cityHash64(team_id)')];
}

/** A materialized view fires on inserts into the (local) metrics table and feeds the (local) target. */
function createView(o: DdlOptions, name: string, target: string, select: string, groupBy: string, where?: string): string {
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS ${q(o, name)}${onCluster(o)} TO ${targetOf(o, 'view', target)} AS\nSELECT ${select}\nFROM ${targetOf(o, 'view', 'metrics')}${where ? `\nWHERE ${where}` : ''}\nGROUP BY ${groupBy}`;
}

const KEY_COLS = 'team_id, project_id, experiment_id, metric_name';

/** The aggregate tables fed from `metrics`: one definition for their views and for rebuilds. */
export interface Aggregate {
  view: string;
  target: string;
  select: string;
  groupBy: string;
  where?: string;
}
export const AGGREGATES: Aggregate[] = [
  { view: 'metrics_summary_mv', target: 'metrics_summary', select: `${KEY_COLS},${SUMMARY_SELECT}`, groupBy: KEY_COLS },
  { view: 'metrics_hourly_mv', target: 'metrics_hourly', select: `${KEY_COLS}, toStartOfHour(timestamp) AS hour,${SUMMARY_SELECT}`, groupBy: `${KEY_COLS}, hour` },
  // Across-host aggregates only mean something for multi-host (host-tagged) points; feeding
  // every single-host point through a per-step GROUP BY cost 3.6 of 5.6 CPU µs per ingested row.
  { view: 'metrics_aggregated_mv', target: 'metrics_aggregated', select: `${KEY_COLS}, step,${SUMMARY_SELECT}`, groupBy: `${KEY_COLS}, step`, where: "host != ''" },
  { view: 'metrics_rollup_mv', target: 'metrics_rollup', select: `${KEY_COLS}, host,${ROLLUP_SELECT}`, groupBy: `${KEY_COLS}, host, bucket` },
  // no view on `metrics` (partials feed it from the start): this entry is its rebuild, backfill and deletes
  { view: 'metrics_rollup_fine_mv', target: 'metrics_rollup_fine', select: `${KEY_COLS}, host,${ROLLUP_FINE_SELECT}`, groupBy: `${KEY_COLS}, host, bucket` },
];
const aggregate = (view: string) => AGGREGATES.find((a) => a.view === view)!;
const viewFor = (o: DdlOptions, a: Aggregate) => createView(o, a.view, a.target, a.select, a.groupBy, a.where);

export function renderMigrations(o: DdlOptions): Migration[] {
  return [
    {
      version: 1,
      name: 'metrics and aggregates',
      statements: [
        ...createTable(o, METRICS),
        ...createTable(o, METRICS_SUMMARY),
        ...createTable(o, METRICS_HOURLY),
        ...createTable(o, METRICS_AGGREGATED),
        ...createTable(o, EVIDENCE_METRICS),
        viewFor(o, aggregate('metrics_summary_mv')),
        viewFor(o, aggregate('metrics_hourly_mv')),
        viewFor(o, aggregate('metrics_aggregated_mv')),
      ],
    },
    { version: 2, name: 'narrow ingest path', statements: ingestStatements(o) },
    {
      version: 3,
      name: 'downsampling rollup',
      statements: [
        ...createTable(o, METRICS_ROLLUP),
        viewFor(o, aggregate('metrics_rollup_mv')),
      ],
    },
    { version: 4, name: 'native ingest with pre-aggregated partials', statements: partialIngestStatements(o) },
    { version: 5, name: 'evidence rows per evaluation', statements: evidenceStatements(o) },
    { version: 6, name: 'per-project retention', statements: retentionStatements(o) },
    { version: 7, name: 'fine downsampling rollup', statements: fineRollupStatements(o) },
  ];
}

/** What a row carries when nothing says otherwise: PostgreSQL's `projects.retention_days` default. */
export const RETENTION_DEFAULT_DAYS = 730;

/** The aggregate tables' columns, in table order (the rebuild inserts name them: migration 6 added two). */
const AGGREGATE_SPECS: Record<string, TableSpec> = {
  metrics_summary: METRICS_SUMMARY,
  metrics_hourly: METRICS_HOURLY,
  metrics_aggregated: METRICS_AGGREGATED,
  metrics_rollup: METRICS_ROLLUP,
};
export function aggregateColumns(target: string): string[] {
  return (AGGREGATE_SPECS[target] ?? METRICS_ROLLUP_FINE).columns
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean);
}

/**
 * Migration 6: a project's retention (PostgreSQL `projects.retention_days`) made real. Every point
 * carries its project's retention (`retention_days`, written by the ingest path) and expires
 * `retention_days` after it was logged; changing a project's retention rewrites the column for
 * that project (`ALTER … UPDATE`, queries/retention.ts), and that mutation recomputes the TTL of
 * the parts it rewrites, so expired points go at once. Aggregate rows carry the retention and
 * their newest point's ingest time (`last_logged_at`, `now()` at insert) and expire with it.
 * The existing parts keep the TTL they have (2 years ≈ the 730-day default): rewriting every part
 * at upgrade (materialize_ttl_after_modify) would buy nothing.
 */
function retentionStatements(o: DdlOptions): string[] {
  const local = (t: string) => localTable(o, t);
  const both = (t: string, alter: string) => schemaTargets(o, t).map((x) => `ALTER TABLE ${x}\n  ${alter}`);
  const ttl = (t: string, expr: string) => `ALTER TABLE ${targetOf(o, 'ddl', t)}\n  MODIFY TTL ${expr} DELETE\nSETTINGS materialize_ttl_after_modify = 0`;
  const days = `retention_days UInt16 DEFAULT ${RETENTION_DEFAULT_DAYS}`;
  const out = [...both('metrics', `ADD COLUMN IF NOT EXISTS ${days}`), ttl('metrics', 'toDateTime(logged_at) + toIntervalDay(retention_days)')];
  for (const t of Object.keys(AGGREGATE_SPECS)) {
    out.push(
      ...both(
        t,
        `ADD COLUMN IF NOT EXISTS retention_days SimpleAggregateFunction(max, UInt16) DEFAULT ${RETENTION_DEFAULT_DAYS},\n  ` +
          "ADD COLUMN IF NOT EXISTS last_logged_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now()",
      ),
      ttl(t, 'last_logged_at + toIntervalDay(retention_days)'),
    );
  }
  for (const t of ['metrics_summary_input', 'metrics_aggregated_input', 'metrics_rollup_input']) out.push(...both(t, `ADD COLUMN IF NOT EXISTS ${days}`));
  // The partial views pass the retention on (last_logged_at takes its default, the insert's now()).
  for (const v of PARTIAL_VIEWS) {
    out.push(
      `DROP VIEW IF EXISTS ${q(o, v.view)}${onCluster(o)}`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${q(o, v.view)}${onCluster(o)} TO ${q(o, local(v.target))} AS\nSELECT ${v.select},\n  max(retention_days) AS retention_days\nFROM ${q(o, local(v.source))}\nGROUP BY ${v.groupBy}`,
    );
  }
  return out;
}

/**
 * Migration 7: the fine rollup (METRICS_ROLLUP_FINE), born with migration 6's retention columns and
 * TTL, fed from its own partials input (partials.ts FineRows), and filled once from the points
 * already stored. Readers trust a series' fine rows only when their point count equals the
 * summary's, so a write racing the backfill (counted twice) or an older server writing without the
 * partials (counted never) sends that series to the point scan instead of showing wrong buckets.
 */
function fineRollupStatements(o: DdlOptions): string[] {
  const local = (t: string) => localTable(o, t);
  const retention =
    `,\n  retention_days SimpleAggregateFunction(max, UInt16) DEFAULT ${RETENTION_DEFAULT_DAYS},` +
    "\n  last_logged_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now()";
  const table = { ...METRICS_ROLLUP_FINE, columns: METRICS_ROLLUP_FINE.columns + retention, tail: `${METRICS_ROLLUP_FINE.tail}\nTTL last_logged_at + toIntervalDay(retention_days) DELETE` };
  const input = 'metrics_rollup_fine_input';
  const cols = FINE_INPUT_COLUMNS.map(([c, t]) => `  ${c} ${t}`).join(',\n');
  const a = aggregate('metrics_rollup_fine_mv');
  return [
    ...createTable(o, table),
    `CREATE TABLE IF NOT EXISTS ${targetOf(o, 'ddl', input)}\n(\n${cols}\n)\nENGINE = Null`,
    ...distributedOver(o, input, 'cityHash64(team_id)'),
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${q(o, 'metrics_rollup_fine_input_mv')}${onCluster(o)} TO ${q(o, local('metrics_rollup_fine'))} AS\nSELECT ${KEY_COLS}, host, bucket,${ROLLUP_FINE_FROM_PARTIALS},\n  retention_days\nFROM ${q(o, local(input))}`,
    // through the plain names: on a cluster, the Distributed tables read every shard and route each row to its team's
    `INSERT INTO ${q(o, 'metrics_rollup_fine')} (${aggregateColumns('metrics_rollup_fine').join(', ')}, retention_days, last_logged_at)\n` +
      `SELECT ${a.select},\n  max(retention_days) AS retention_days,\n  toDateTime(max(logged_at)) AS last_logged_at\nFROM ${q(o, 'metrics')}\nGROUP BY ${a.groupBy}`,
  ];
}

// Every column is a SimpleAggregateFunction, so the view passes the partial rows on as they are (no
// GROUP BY, no aggregate states: with one the fine rows cost ~1-2 CPU µs per ingested point, bench
// ingest) and merges combine them. The last point is the greatest (step, ts, value): with no step
// logged twice (what readers check) that is the point at the highest step.
const ROLLUP_FINE_FROM_PARTIALS = `
  p_min AS min_value,
  p_max AS max_value,
  (last_step, last_ts, last_value) AS last_point,
  p_point_count AS point_count,
  step_mask`;

/**
 * Migration 5: an evaluation appends its own evidence rows (one per target metric × candidate run)
 * with the test behind them. evaluation_id joins the sorting key, so ReplacingMergeTree keeps every
 * evaluation's rows instead of collapsing them to the newest (the history the hypotheses API shows).
 */
const EVIDENCE_COLUMNS = [
  'evaluation_id UUID',
  'candidate_arm String',
  'method LowCardinality(String)',
  'verdict LowCardinality(String)',
  'n_baseline UInt32',
  'n_candidate UInt32',
  'relative_delta Nullable(Float64)',
  't_statistic Nullable(Float64)',
  'df Nullable(Float64)',
  'p_value Nullable(Float64)',
];

function evidenceStatements(o: DdlOptions): string[] {
  const add = EVIDENCE_COLUMNS.map((c) => `ADD COLUMN IF NOT EXISTS ${c}`).join(',\n  ');
  // the sorting key is the local table's alone; the Distributed table only mirrors the columns
  const [local, distributed] = schemaTargets(o, 'evidence_metrics');
  return [
    `ALTER TABLE ${local}\n  ${add},\n  MODIFY ORDER BY (team_id, project_id, hypothesis_id, experiment_id, metric_name, evaluation_id)`,
    ...(distributed ? [`ALTER TABLE ${distributed}\n  ${add}`] : []),
  ];
}

/**
 * Migration 4: points go straight into `metrics` as Native blocks (full-width ids cost nothing to
 * read in that format, so the narrow TSV path of migration 2 and its key map go), and the
 * aggregates are fed from partial rows the server pre-aggregates per batch (partials.ts) through
 * small Null input tables, instead of views grouping every point of `metrics`.
 * Measured on chDB, 2M points: 2.98 CPU µs/point (narrow TSV + four views) → ~0.9.
 */
function partialIngestStatements(o: DdlOptions): string[] {
  const local = (t: string) => localTable(o, t);
  const out: string[] = [];
  for (const v of ['metrics_ingest_mv', 'metrics_summary_mv', 'metrics_hourly_mv', 'metrics_aggregated_mv', 'metrics_rollup_mv']) {
    out.push(`DROP VIEW IF EXISTS ${q(o, v)}${onCluster(o)}`);
  }
  const dropped = ['metrics_ingest', 'ingest_keys'];
  for (const t of dropped) out.push(`DROP TABLE IF EXISTS ${targetOf(o, 'distributed', t) ?? targetOf(o, 'ddl', t)}`);
  if (o.cluster) for (const t of dropped) out.push(`DROP TABLE IF EXISTS ${targetOf(o, 'ddl', t)}`);
  const inputs: [string, readonly (readonly [string, string])[]][] = [
    ['metrics_summary_input', SUMMARY_INPUT_COLUMNS],
    ['metrics_aggregated_input', AGGREGATED_INPUT_COLUMNS],
    ['metrics_rollup_input', ROLLUP_INPUT_COLUMNS],
  ];
  for (const [name, columns] of inputs) {
    const cols = columns.map(([c, t]) => `  ${c} ${t}`).join(',\n');
    out.push(`CREATE TABLE IF NOT EXISTS ${targetOf(o, 'ddl', name)}\n(\n${cols}\n)\nENGINE = Null`, ...distributedOver(o, name, 'cityHash64(team_id)'));
  }
  for (const v of PARTIAL_VIEWS) {
    out.push(
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${q(o, v.view)}${onCluster(o)} TO ${q(o, local(v.target))} AS\nSELECT ${v.select}\nFROM ${q(o, local(v.source))}\nGROUP BY ${v.groupBy}`,
    );
  }
  return out;
}

/** Partial statistics (partials.ts StatPartial columns) merged into the summary columns. */
const SUMMARY_FROM_PARTIALS = `
  min(p_min) AS min_value,
  max(p_max) AS max_value,
  sum(p_sum) AS sum_value,
  sum(p_value_count) AS value_count,
  sum(p_point_count) AS point_count,
  argMaxState(p_last_value, (p_last_step, p_last_logged)) AS last_value,
  min(p_first_step) AS first_step,
  max(p_last_step) AS last_step,
  max(p_last_ts) AS last_timestamp`;

const ROLLUP_FROM_PARTIALS = `
  argMinState((low_step, low_ts, low_value), low_key) AS low_point,
  argMaxState((high_step, high_ts, high_value), high_key) AS high_point,
  argMinState((first_step, first_ts, first_value), first_step) AS first_point,
  argMaxState((last_step, last_ts, last_value), last_step) AS last_point`;

const PARTIAL_VIEWS = [
  { view: 'metrics_summary_input_mv', source: 'metrics_summary_input', target: 'metrics_summary', select: `${KEY_COLS},${SUMMARY_FROM_PARTIALS}`, groupBy: KEY_COLS },
  { view: 'metrics_hourly_input_mv', source: 'metrics_summary_input', target: 'metrics_hourly', select: `${KEY_COLS}, hour,${SUMMARY_FROM_PARTIALS}`, groupBy: `${KEY_COLS}, hour` },
  { view: 'metrics_aggregated_input_mv', source: 'metrics_aggregated_input', target: 'metrics_aggregated', select: `${KEY_COLS}, step,${SUMMARY_FROM_PARTIALS}`, groupBy: `${KEY_COLS}, step` },
  { view: 'metrics_rollup_input_mv', source: 'metrics_rollup_input', target: 'metrics_rollup', select: `${KEY_COLS}, host, bucket,${ROLLUP_FROM_PARTIALS}`, groupBy: `${KEY_COLS}, host, bucket` },
];

/**
 * The bookkeeping table for applied versions (not a tenant table). On a cluster every host is a
 * replica of one table (no `{shard}` in the path, replica `{shard}-{replica}`, unique across the
 * cluster): the API may reach any node through a load balancer, and each must see the same applied
 * versions, or a node of another shard would re-run migrations that are already in force.
 */
export function migrationsTableDdl(o: DdlOptions): string {
  const engine = o.cluster ? `ReplicatedMergeTree('/clickhouse/tables/${o.database}/assay_schema_migrations', '{shard}-{replica}')` : 'MergeTree';
  return `CREATE TABLE IF NOT EXISTS ${q(o, 'assay_schema_migrations')}${onCluster(o)}\n(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))\nENGINE = ${engine}\nORDER BY version`;
}

/** The database on every host of a cluster; none for `default`, which every server has. */
export function createDatabaseDdl(o: DdlOptions): string | undefined {
  return o.database === 'default' ? undefined : `CREATE DATABASE IF NOT EXISTS ${o.database}${onCluster(o)}`;
}

/** What runs before any migration, in order: the database and the bookkeeping table. */
export function setupStatements(o: DdlOptions): string[] {
  const db = createDatabaseDdl(o);
  return [...(db ? [db] : []), migrationsTableDdl(o)];
}

