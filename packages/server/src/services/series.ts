import type { MetricValue } from '@assay/contracts';
import type { AppContext } from '../context.ts';
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

const orNull = (v: SeriesMultiRow[9]) => (v === null ? null : chToWire(v));

/** One series' rows (ordered by bucket, then host) → its wire entry. */
function entryOf(rows: SeriesMultiRow[]) {
  if (rows.length === 0) return { total_points: 0, first_step: null, last_step: null, mode: 'raw' as const, data: { steps: [], values: [], timestamps: [] } as Raw };
  const [, , , lo, hi, width, raw] = rows[0];
  const steps = { first_step: Number(lo), last_step: Number(hi) };
  if (Number(raw)) {
    // one row per point
    const data: Raw = { steps: [], values: [], timestamps: [] };
    for (const r of rows) {
      data.steps.push(Number(r[12]));
      data.values.push(chToWire(r[11][0]));
      data.timestamps.push(Number(r[11][1]));
    }
    return { total_points: rows.length, ...steps, mode: 'raw' as const, data };
  }
  const w = Number(width);
  const data: Buckets = { step_start: [], step_end: [], min: [], max: [], last: [], last_step: [], last_timestamp: [], count: [] };
  let total = 0;
  for (const r of rows) {
    const start = Number(lo) + Number(r[7]) * w;
    data.step_start.push(start);
    data.step_end.push(Math.min(start + w - 1, Number(hi)));
    data.min.push(orNull(r[9]));
    data.max.push(orNull(r[10]));
    data.last.push(chToWire(r[11][0]));
    data.last_step.push(Number(r[12]));
    data.last_timestamp.push(Number(r[11][1]));
    data.count.push(Number(r[13]));
    total += Number(r[13]);
  }
  return { total_points: total, ...steps, mode: 'buckets' as const, data };
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
  const bySeries = new Map<string, SeriesMultiRow[]>();
  for (const r of rows) {
    const key = `${r[0]}\u0000${r[1]}`;
    let list = bySeries.get(key);
    if (!list) bySeries.set(key, (list = []));
    list.push(r);
  }
  const entries = new Map(unique.map((p) => [`${p.experimentId}\u0000${p.metricName}`, entryOf(bySeries.get(`${p.experimentId}\u0000${p.metricName}`) ?? [])]));
  return {
    series: body.series.map((s, i) => ({
      experiment_id: s.experiment_id,
      metric_name: s.metric_name,
      ...entries.get(`${wanted[i].experimentId}\u0000${wanted[i].metricName}`)!,
    })),
  };
}
