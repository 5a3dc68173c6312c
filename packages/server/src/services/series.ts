import type { MetricValue } from '@assay/contracts';
import { SERIES_PER_REQUEST_MAX } from '@assay/contracts/ui-data';
import type { AppContext } from '../context.ts';
import type { RawValue } from '../stores/clickhouse/queries/metrics.ts';
import { FINE_ROLLUP_STEPS, ROLLUP_STEPS } from '../stores/clickhouse/partials.ts';
import { seriesFine, type FineBuckets, type FineRequest } from '../stores/clickhouse/queries/series-fine.ts';
import { seriesKey as keyOf } from '../stores/clickhouse/queries/series-params.ts';
import type { RollupPoint } from '../stores/clickhouse/queries/metrics.ts';
import {
  runExtents,
  seriesExtents,
  seriesMulti,
  seriesRollup,
  type SeriesExtentRow,
  type SeriesMultiRow,
  type SeriesRollupRow,
} from '../stores/clickhouse/queries/ui-data.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { resolveRefs } from './feature-diff.ts';
import { chToWire, toWire } from './metric-values.ts';
import { resolveProject } from './resolve.ts';

export interface SeriesRequestBody {
  project_id: string;
  /** Exactly one of `series` and `experiment_ids` (every metric of those runs). */
  series?: { experiment_id: string; metric_name: string }[];
  experiment_ids?: string[];
  buckets: number;
  step_min?: number;
  step_max?: number;
  host?: string;
  fields?: string[];
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
  count: (number | null)[];
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
  return { total_points: data.count.reduce<number>((a, c) => a + (c ?? 0), 0), ...steps, mode: 'buckets' as const, data };
}

type Pair = { experimentId: string; metricName: string };
type Overview = Pair & { n: number; lo: number; hi: number; first: number; per: number };
/** A rollup point's value as a bucket extreme: NaN there means every point of the bucket was NaN. */
const extreme = (p: RollupPoint) => {
  // ClickHouse writes ±Inf as "inf"/"-inf": only a real NaN (all points NaN) becomes null, an infinite extreme stays
  const v = chToWire(p[2]);
  return v === 'NaN' ? null : v;
};

/** A whole-history overview from the rollup → its wire entry (see SQL_SERIES_ROLLUP). */
function overviewEntry(o: Overview, row: SeriesRollupRow | undefined) {
  const buckets = row?.[2] ?? [];
  const span = o.per * ROLLUP_STEPS;
  const start = (b: number) => Math.max(o.lo, o.first * ROLLUP_STEPS + b * span);
  const data: Buckets = {
    step_start: buckets.map(([b]) => start(Number(b))),
    step_end: buckets.map(([b]) => Math.min(o.hi, o.first * ROLLUP_STEPS + (Number(b) + 1) * span - 1)),
    min: buckets.map(([, low]) => extreme(low)),
    max: buckets.map(([, , high]) => extreme(high)),
    last: buckets.map(([, , , last]) => chToWire(last[2])),
    last_step: buckets.map(([, , , last]) => Number(last[0])),
    last_timestamp: buckets.map(([, , , last]) => Number(last[1])),
    count: buckets.map(() => null),
  };
  return { total_points: o.n, first_step: o.lo, last_step: o.hi, mode: 'buckets' as const, data };
}

type Fine = FineRequest & { n: number; lo: number; hi: number };
const nanToNull = (v: number) => (Number.isNaN(v) ? null : toWire(v));

/** Fine-rollup buckets → the wire entry: per fine buckets each, aligned to multiples of FINE_ROLLUP_STEPS. */
function fineEntry(f: Fine, m: FineBuckets) {
  const span = f.per * FINE_ROLLUP_STEPS;
  const base = f.first * FINE_ROLLUP_STEPS;
  const data: Buckets = {
    step_start: m.index.map((b) => Math.max(f.lo, base + b * span)),
    step_end: m.index.map((b) => Math.min(f.hi, base + (b + 1) * span - 1)),
    min: m.min.map(nanToNull),
    max: m.max.map(nanToNull),
    last: m.last.map(toWire),
    last_step: m.lastStep,
    last_timestamp: m.lastTs,
    count: m.count,
  };
  return { total_points: f.n, first_step: f.lo, last_step: f.hi, mode: 'buckets' as const, data };
}

/**
 * Which whole-history series skip the point scan. At ≥ ROLLUP_STEPS steps per bucket: an overview
 * from the 256-step rollup. At fewer, when rounding the bucket width up to whole fine buckets
 * leaves it at most 1.5× as wide as asked (a 23-step width becomes 24, 12 becomes 16; 9 stays a
 * scan): buckets from the fine rollup (8 steps). The rest scan their points.
 */
function plan(extents: SeriesExtentRow[], buckets: number): { long: Overview[]; fine: Fine[] } {
  const long: Overview[] = [];
  const fine: Fine[] = [];
  for (const [experimentId, metricName, n, lo, hi] of extents) {
    const [N, LO, HI] = [Number(n), Number(lo), Number(hi)];
    if (N <= buckets) continue;
    const width = Math.ceil((HI - LO + 1) / buckets);
    if (width >= ROLLUP_STEPS) {
      const first = Math.floor(LO / ROLLUP_STEPS);
      const per = Math.ceil((Math.floor(HI / ROLLUP_STEPS) - first + 1) / buckets);
      long.push({ experimentId, metricName, n: N, lo: LO, hi: HI, first, per });
      continue;
    }
    const per = Math.ceil(width / FINE_ROLLUP_STEPS);
    if (2 * per * FINE_ROLLUP_STEPS <= 3 * width) fine.push({ experimentId, metricName, n: N, lo: LO, hi: HI, first: Math.floor(LO / FINE_ROLLUP_STEPS), per });
  }
  return { long, fine };
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
  const whole = body.step_min === undefined && body.step_max === undefined && body.host === undefined;
  let asked = body.series ?? [];
  let extents: SeriesExtentRow[] | undefined;
  let truncated: boolean | undefined;
  const refs = await resolveRefs(ctx, tenant, project.id, [...new Set(body.experiment_ids ?? asked.map((s) => s.experiment_id))]);
  const idOf = new Map(refs.map((r) => [r.ref, r.experiment.id]));
  if (body.experiment_ids) {
    // Every metric of the runs with the extents plan() needs: the metric names cost no extra query.
    const refsOf = new Map<string, string[]>();
    for (const ref of new Set(body.experiment_ids)) {
      const id = idOf.get(ref)!;
      (refsOf.get(id) ?? refsOf.set(id, []).get(id)!).push(ref);
    }
    const rows = await runExtents(ctx.ch, tenant, project.id, [...refsOf.keys()]);
    extents = rows;
    const order = new Map([...new Set(body.experiment_ids)].map((ref, i) => [ref, i]));
    const all = rows
      .flatMap(([experimentId, metricName]) => refsOf.get(experimentId)!.map((ref) => ({ experiment_id: ref, metric_name: metricName })))
      .sort((a, b) => (a.metric_name < b.metric_name ? -1 : a.metric_name > b.metric_name ? 1 : order.get(a.experiment_id)! - order.get(b.experiment_id)!));
    truncated = all.length > SERIES_PER_REQUEST_MAX;
    asked = all.slice(0, SERIES_PER_REQUEST_MAX);
  }
  const wanted = asked.map((s) => ({ experimentId: idOf.get(s.experiment_id)!, metricName: s.metric_name }));
  const unique = [...new Map(wanted.map((p) => [keyOf(p), p])).values()];
  if (extents && truncated) {
    const keep = new Set(unique.map(keyOf));
    extents = extents.filter(([experimentId, metricName]) => keep.has(keyOf({ experimentId, metricName })));
  }
  const { long, fine } = whole && unique.length ? plan(extents ?? (await seriesExtents(ctx.ch, tenant, project.id, unique)), body.buckets) : { long: [], fine: [] };
  const planned = new Set([...long, ...fine].map(keyOf));
  const scan = (pairs: Pair[]) =>
    seriesMulti(ctx.ch, tenant, { projectId: project.id, pairs, buckets: body.buckets, stepMin: body.step_min, stepMax: body.step_max, host: body.host });
  const [rows, rolled, fined] = await Promise.all([
    scan(unique.filter((p) => !planned.has(keyOf(p)))),
    seriesRollup(ctx.ch, tenant, project.id, long),
    seriesFine(ctx.ch, tenant, project.id, fine),
  ]);
  // Fine rows are trusted only when complete (as many points as the summary counts) and free of
  // re-logged steps; any other series scans its points.
  const trusted = fine.filter((f) => {
    const m = fined.get(keyOf(f));
    return m !== undefined && m.exact && m.points === f.n;
  });
  const trustedKeys = new Set(trusted.map(keyOf));
  const rescanned = await scan(fine.filter((f) => !trustedKeys.has(keyOf(f))));
  const byKey = new Map([...rows, ...rescanned].map((r) => [keyOf({ experimentId: r[0], metricName: r[1] }), r]));
  const rolledByKey = new Map(rolled.map((r) => [keyOf({ experimentId: r[0], metricName: r[1] }), r]));
  const entries = new Map(unique.map((p) => [keyOf(p), entryOf(byKey.get(keyOf(p)))]));
  for (const o of long) entries.set(keyOf(o), overviewEntry(o, rolledByKey.get(keyOf(o))));
  for (const f of trusted) entries.set(keyOf(f), fineEntry(f, fined.get(keyOf(f))!));
  const pick = body.fields ? select(new Set(body.fields)) : <T>(e: T) => e;
  return {
    series: asked.map((s, i) => ({
      experiment_id: s.experiment_id,
      metric_name: s.metric_name,
      ...pick(entries.get(keyOf(wanted[i]))!),
    })),
    ...(truncated === undefined ? {} : { truncated }),
  };
}

/** `fields`: only the chosen arrays of an entry's data (a chart draws 5 of a bucket's 8; ~40% less JSON to write and parse). */
function select(fields: Set<string>) {
  return <T extends { data: object }>(e: T): T => ({ ...e, data: Object.fromEntries(Object.entries(e.data).filter(([k]) => fields.has(k))) });
}
