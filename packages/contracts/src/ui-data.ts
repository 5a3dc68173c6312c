import { z } from 'zod';
import { ExperimentStatus, HostName, MetricName, MetricValue, Name, Step } from './index.ts';
import { wireTimestampMs } from './limits.ts';

/**
 * The two reads the web UI is built on (issue 11): the whole runs table of a project in one
 * request, and many chart series in one request at "full fidelity" (min/max/last per step bucket).
 */

export const RUNS_TABLE_MAX = 10_000;
export const SERIES_PER_REQUEST_MAX = 500;
export const SERIES_BUCKETS_MAX = 10_000;
export const SERIES_BUCKETS_DEFAULT = 1000;

export const RunsTableQuery = z.object({
  include_deleted: z.stringbool().default(false).describe('Also list soft-deleted runs (deleted through the MLflow API)'),
  since: z
    .string()
    .datetime({ offset: true })
    .refine((t) => wireTimestampMs(t) !== undefined, { message: 'must be an ISO-8601 date-time from 1970-01-01 to 2106-02-07' })
    .optional()
    .describe(
      'ISO-8601 time: only runs whose row changed (status, tags, features, …), that sent a heartbeat, or that had metric points written after it — the live-polling form. Deleted runs are not reported; a full reload sees them gone',
    ),
});

const Direction = z.enum(['minimize', 'maximize']);

export const RunMetricSummary = z.object({
  last: MetricValue.describe('The value at the highest step'),
  min: MetricValue.nullable().describe('Ignoring NaN; null when every point is NaN'),
  max: MetricValue.nullable(),
  best: MetricValue.nullable().describe("By the metric's project direction, from the deduplicated points (as compare's include=best)"),
  count: z.number().int(),
  last_step: z.number().int(),
});

export const RunsTableRow = z.object({
  id: z.string().uuid(),
  name: z.string(),
  status: ExperimentStatus,
  host: z.string().nullable(),
  tags: z.array(z.string()),
  description: z.string().nullable(),
  created_at: z.string(),
  started_at: z.string(),
  finished_at: z.string().nullable(),
  last_heartbeat_at: z.string().nullable(),
  parent_ids: z.array(z.string().uuid()).describe('Runs this one refers to (its lineage parents, every reference kind); may be empty'),
  features: z.record(z.string(), z.unknown()).describe('Nested as stored'),
  metrics: z.record(z.string(), RunMetricSummary),
});

export const RunsTableResponse = z.object({
  items: z.array(RunsTableRow).describe('Newest run first'),
  metrics: z
    .array(z.object({ name: z.string(), direction: Direction, aggregation: z.enum(['last', 'best', 'average']), configured: z.boolean() }))
    .describe('Every metric any listed run has, with its project configuration (or the defaults), by name'),
  truncated: z.boolean().describe(`More than ${RUNS_TABLE_MAX} runs matched: the newest ${RUNS_TABLE_MAX} are listed`),
});

/** The data arrays a series answer can hold: raw mode's three, buckets mode's eight. */
export const SeriesField = z.enum(['steps', 'values', 'timestamps', 'step_start', 'step_end', 'min', 'max', 'last', 'last_step', 'last_timestamp', 'count']);

export const SeriesRequest = z
  .object({
    project_id: Name('project_id').describe('Project UUID or name'),
    series: z
      .array(z.object({ experiment_id: Name('experiment_id').describe('Experiment UUID or name'), metric_name: MetricName }))
      .min(1)
      .max(SERIES_PER_REQUEST_MAX)
      .optional()
      .describe('The series to read. Exactly one of `series` and `experiment_ids`'),
    experiment_ids: z
      .array(Name('experiment_id').describe('Experiment UUID or name'))
      .min(1)
      .max(SERIES_PER_REQUEST_MAX)
      .optional()
      .describe(
        `Instead of \`series\`: every metric these runs logged (a compare page that does not know the names yet), ordered by metric name, then run as sent; at most ${SERIES_PER_REQUEST_MAX} series (\`truncated: true\` when more exist)`,
      ),
    buckets: z.number().int().min(1).max(SERIES_BUCKETS_MAX).default(SERIES_BUCKETS_DEFAULT).describe('Roughly the chart width in pixels'),
    step_min: Step.optional(),
    step_max: Step.optional(),
    host: HostName.optional().describe('Only the points of this host'),
    fields: z
      .array(SeriesField)
      .min(1)
      .optional()
      .describe("Only these arrays in each series' `data` (names of either mode; the ones of the other mode are ignored). Default: every array"),
  })
  .refine((b) => (b.series === undefined) !== (b.experiment_ids === undefined), {
    message: 'give exactly one of series and experiment_ids',
    path: ['series'],
  })
  .refine((b) => b.step_min === undefined || b.step_max === undefined || b.step_min <= b.step_max, {
    message: 'step_min must not exceed step_max',
    path: ['step_min'],
  });

export const SeriesRaw = z.object({
  steps: z.array(z.number().int()),
  values: z.array(MetricValue),
  timestamps: z.array(z.number().int()).describe('Epoch milliseconds'),
});

export const SeriesBuckets = z.object({
  step_start: z.array(z.number().int()),
  step_end: z.array(z.number().int()),
  min: z.array(MetricValue.nullable()).describe('Ignoring NaN; null when every point of the bucket is NaN'),
  max: z.array(MetricValue.nullable()),
  last: z.array(MetricValue).describe("The value at the bucket's highest step"),
  last_step: z.array(z.number().int()),
  last_timestamp: z.array(z.number().int()).describe('Epoch milliseconds'),
  count: z
    .array(z.number().int().nullable())
    .describe('Points in the bucket; null in an overview read from the step rollup (see total_points)'),
});

export const SeriesEntry = z.object({
  experiment_id: z.string().describe('As sent'),
  metric_name: z.string(),
  total_points: z
    .number()
    .int()
    .describe(
      'Deduplicated points in the step range. A whole-history overview of a long series (≥ 256 steps per bucket) is read from the per-256-step rollup: there it counts every point written, a re-logged step twice, and a re-logged step\'s earlier value can still be a bucket\'s min or max — as the timeseries read\'s downsampled answer',
    ),
  first_step: z.number().int().nullable(),
  last_step: z.number().int().nullable(),
  mode: z.enum(['raw', 'buckets']),
  data: z.union([SeriesRaw.partial(), SeriesBuckets.partial()]).describe('Every array of its mode, or only the requested `fields` of it'),
});

export const SeriesResponse = z.object({
  series: z.array(SeriesEntry).describe('In request order'),
  truncated: z.boolean().optional().describe(`With \`experiment_ids\` only: the runs have more than ${SERIES_PER_REQUEST_MAX} series; the first ${SERIES_PER_REQUEST_MAX} are answered`),
});
