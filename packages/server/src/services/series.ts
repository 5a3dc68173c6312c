import type { MetricValue } from '@assay/contracts';
import type { AppContext } from '../context.ts';
import type { RawValue } from '../stores/clickhouse/queries/metrics.ts';
import { seriesMulti, type SeriesMultiRow } from '../stores/clickhouse/queries/ui-data.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { resolveRefs } from './feature-diff.ts';
import { chToWire } from './metric-values.ts';
import { resolveProject } from './resolve.ts';

export interface SeriesRequestBody {
  project_id: string;
  series: { experiment_id: string; metric_name: string }[];
  buckets: number;
  step_min?: number;
  step_max?: number;
  host?: string;
}

type Raw = { steps: number[]; values: MetricValue[]; timestamps: number[] };
type Buckets = {
  step_start: number[];
  step_end: number[];
  min: (MetricValue | null)[];
  max: (MetricValue | null)[];
  last: MetricValue[];
  last_step: number[];
  last_timestamp: number[];
  count: number[];
};

const orNull = (v: RawValue | null) => (v === null ? null : chToWire(v));
const EMPTY = { total_points: 0, first_step: null, last_step: null, mode: 'raw' as const, data: { steps: [], values: [], timestamps: [] } as Raw };

/** One series' row (its points, or its buckets, as arrays) → its wire entry. */
function entryOf(row: SeriesMultiRow | undefined) {
  if (!row) return EMPTY;
  const [, , raw, lo, hi, w, points, buckets] = row;
  const steps = { first_step: Number(lo), last_step: Number(hi) };
  if (Number(raw)) {
    const data: Raw = { steps: points.map((p) => Number(p[0])), values: points.map((p) => chToWire(p[2])), timestamps: points.map((p) => Number(p[3])) };
    return { total_points: points.length, ...steps, mode: 'raw' as const, data };
  }
  const width = Number(w);
  const data: Buckets = {
    step_start: buckets.map((b) => Number(lo) + Number(b[0]) * width),
    step_end: buckets.map((b) => Math.min(Number(lo) + (Number(b[0]) + 1) * width - 1, Number(hi))),
    min: buckets.map((b) => orNull(b[1])),
    max: buckets.map((b) => orNull(b[2])),
    last: buckets.map((b) => chToWire(b[3][0])),
    last_step: buckets.map((b) => Number(b[4])),
    last_timestamp: buckets.map((b) => Number(b[3][1])),
    count: buckets.map((b) => Number(b[5])),
  };
  return { total_points: data.count.reduce((a, c) => a + c, 0), ...steps, mode: 'buckets' as const, data };
}

/**
 * Many series for charts in one ClickHouse query: each raw when its deduplicated points in the
 * step window fit in `buckets`, else min/max/last per equal-width step bucket (W&B-style full
 * fidelity: an extreme anywhere in the window is the min or max of its bucket). Any run outside
 * the project or the team → 404 for the whole request; a metric the run never logged → an empty
 * entry. Answers in request order, experiment ids as sent.
 */
export async function seriesBatch(ctx: AppContext, tenant: Tenant, body: SeriesRequestBody) {
  const project = await resolveProject(ctx, tenant, body.project_id);
  const refs = await resolveRefs(ctx, tenant, project.id, [...new Set(body.series.map((s) => s.experiment_id))]);
  const idOf = new Map(refs.map((r) => [r.ref, r.experiment.id]));
  const wanted = body.series.map((s) => ({ experimentId: idOf.get(s.experiment_id)!, metricName: s.metric_name }));
  const unique = [...new Map(wanted.map((p) => [`${p.experimentId}\u0000${p.metricName}`, p])).values()];
  const rows = await seriesMulti(ctx.ch, tenant, {
    projectId: project.id,
    pairs: unique,
    buckets: body.buckets,
    stepMin: body.step_min,
    stepMax: body.step_max,
    host: body.host,
  });
  const byKey = new Map(rows.map((r) => [`${r[0]}\u0000${r[1]}`, r]));
  const entries = new Map(unique.map((p) => [`${p.experimentId}\u0000${p.metricName}`, entryOf(byKey.get(`${p.experimentId}\u0000${p.metricName}`))]));
  return {
    series: body.series.map((s, i) => ({
      experiment_id: s.experiment_id,
      metric_name: s.metric_name,
      ...entries.get(`${wanted[i].experimentId}\u0000${wanted[i].metricName}`)!,
    })),
  };
}
