import type { AppContext } from '../context.ts';
import { ROLLUP_STEPS } from '../stores/clickhouse/ddl.ts';
import * as q from '../stores/clickhouse/queries/metrics.ts';
import * as logs from '../stores/postgres/repos/metric-logs.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { requireRole } from './auth.ts';
import { deleteMetricsOf } from './cascade.ts';
import { derivedConfigs, derivedStats, derivedTimeseries } from './derived-series.ts';
import { chToNumber, chToWire, toWire } from './metric-values.ts';
import { diffFeatures, resolveRefs } from './feature-diff.ts';
import { metricConfigs } from './metric-config.ts';
import { resolveExperiment, resolveProject } from './resolve.ts';
import { aggregateRuns } from './run-aggregates.ts';

/* Metric reads and the metrics delete; writing points is services/ingest.ts. */

type SeriesRow = q.SeriesRow;
const pointDto = ([step, ts, v, host]: SeriesRow) => ({
  timestamp: new Date(Number(ts)).toISOString(),
  step: Number(step),
  value: chToWire(v),
  ...(host ? { host } : {}),
});

export async function timeseries(
  ctx: AppContext,
  tenant: Tenant,
  projectIdOrName: string,
  experimentIdOrName: string,
  metricName: string,
  o: { limit: number; max_points?: number; step_min?: number; step_max?: number; host?: string; includeDeleted?: boolean },
) {
  const { project, experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName, { includeDeleted: o.includeDeleted });
  const [derived] = await derivedConfigs(ctx, tenant, project.id, [metricName]);
  if (derived) return derivedTimeseries(ctx, tenant, project.id, experiment.id, derived, o);
  const scope: q.SeriesScope = { projectId: project.id, experimentId: experiment.id, metricName, stepMin: o.step_min, stepMax: o.step_max, host: o.host };
  const base = { experiment_id: experiment.id, metric_name: metricName };
  if (o.max_points !== undefined) {
    const windowed = o.step_min !== undefined || o.step_max !== undefined || o.host !== undefined;
    const extent = windowed ? await q.seriesExtent(ctx.ch, tenant, scope) : await q.seriesExtentFromSummary(ctx.ch, tenant, scope);
    if (extent.n > o.max_points) {
      const points = await downsample(ctx, tenant, scope, extent, o.max_points, !windowed);
      return { ...base, points, count: points.length, downsampled: true, truncated: false, next_step_min: null };
    }
  }
  const page = await seriesPage(ctx, tenant, scope, Math.min(o.limit, o.max_points ?? o.limit));
  return { ...base, points: page.rows.map(pointDto), count: page.rows.length, downsampled: false, truncated: page.next !== null, next_step_min: page.next };
}

/**
 * Up to `limit` points, cut only at a step boundary, so that `step_min = next` continues with no
 * gap and no duplicate even when several hosts share a step. A step holding more than `limit`
 * points on its own is returned whole (the page exceeds `limit`): dropping it would give an empty
 * page that never advances, and cutting inside it would need a host cursor the API doesn't have.
 */
async function seriesPage(ctx: AppContext, tenant: Tenant, scope: q.SeriesScope, limit: number): Promise<{ rows: SeriesRow[]; next: number | null }> {
  const rows = await q.seriesPoints(ctx.ch, tenant, scope, limit + 1);
  if (rows.length <= limit) return { rows, next: null };
  const cut = Number(rows[limit][0]);
  let end = limit;
  while (end > 0 && Number(rows[end - 1][0]) === cut) end--;
  if (end > 0) return { rows: rows.slice(0, end), next: cut };
  const whole = await q.seriesPoints(ctx.ch, tenant, { ...scope, stepMin: cut, stepMax: cut }, q.SERIES_LIMIT_MAX);
  const [after] = await q.seriesPoints(ctx.ch, tenant, { ...scope, stepMin: cut + 1 }, 1);
  return { rows: whole, next: after ? Number(after[0]) : null };
}

/**
 * Min/max per step bucket (W&B-style full fidelity): every bucket keeps the points holding its
 * extremes, so spikes survive; the series' first and last points are always kept.
 */
async function downsample(ctx: AppContext, tenant: Tenant, scope: q.SeriesScope, extent: { lo: number; hi: number }, maxPoints: number, fullHistory: boolean) {
  const nBuckets = Math.max(1, Math.floor((maxPoints - 2) / 2));
  const width = Math.max(1, Math.ceil((extent.hi - extent.lo + 1) / nBuckets));
  // first point of the first bucket, low and high of every bucket, last point of the last bucket
  let buckets: [unknown, SeriesRow, SeriesRow, SeriesRow, SeriesRow][];
  if (fullHistory && width >= 2 * ROLLUP_STEPS) {
    // Bucket boundaries fall on rollup buckets; one output bucket less keeps within max_points.
    const span = Math.floor(extent.hi / ROLLUP_STEPS) - Math.floor(extent.lo / ROLLUP_STEPS) + 1;
    const per = Math.ceil(span / Math.max(1, nBuckets - 1));
    const withHost = (p: q.RollupPoint): SeriesRow => [p[0], p[1], p[2], ''];
    buckets = (await q.rollupBuckets(ctx.ch, tenant, scope, per)).map(([b, lo, hi, first, last]) => [b, withHost(lo), withHost(hi), withHost(first), withHost(last)]);
  } else {
    buckets = await q.seriesBuckets(ctx.ch, tenant, scope, extent.lo, width);
  }
  const byStep = new Map<string, SeriesRow>();
  const keep = (r: SeriesRow) => byStep.set(`${r[0]}\u0000${r[3]}`, r);
  if (buckets.length) keep(buckets[0][3]);
  for (const [, lo, hi] of buckets) {
    keep(lo);
    keep(hi);
  }
  if (buckets.length) keep(buckets[buckets.length - 1][4]);
  return [...byStep.values()].sort((a, b) => Number(a[0]) - Number(b[0])).map(pointDto);
}

export function statsDto(r: q.SummaryRow) {
  const [, min, max, sum, valueCount, pointCount, last, firstStep, lastStep, lastTs] = r;
  const finite = Number(valueCount) > 0;
  return {
    last: chToWire(last),
    min: finite ? chToWire(min) : null,
    max: finite ? chToWire(max) : null,
    avg: finite ? toWire(chToNumber(sum) / Number(valueCount)) : null,
    count: Number(pointCount),
    first_step: Number(firstStep),
    last_step: Number(lastStep),
    last_timestamp: new Date(Number(lastTs)).toISOString(),
  };
}

export async function summary(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string) {
  const { project, experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName);
  const rows = await q.summary(ctx.ch, tenant, project.id, experiment.id);
  const metrics: Record<string, ReturnType<typeof statsDto>> = {};
  for (const r of rows) metrics[r[0]] = statsDto(r);
  for (const [, r] of await derivedStats(ctx, tenant, project.id, [experiment.id])) metrics[r[0]] = statsDto(r);
  return { experiment_id: experiment.id, metrics };
}

/**
 * Stats per run and metric, keyed by the identifiers exactly as the caller sent them (the design's
 * pandas example indexes the answer with the names it asked for). `best` adds each metric's best
 * value by its project direction, from the deduplicated points; `features` adds the feature diff.
 */
export async function compare(
  ctx: AppContext,
  tenant: Tenant,
  projectIdOrName: string,
  experimentIdsOrNames: string[],
  metricNames: string[] = [],
  include: ('features' | 'best')[] = [],
) {
  const project = await resolveProject(ctx, tenant, projectIdOrName);
  const runs = await resolveRefs(ctx, tenant, project.id, [...new Set(experimentIdsOrNames)]);
  const ids = [...new Set(runs.map((r) => r.experiment.id))];
  const byId = new Map<string, Record<string, ReturnType<typeof statsDto>>>(ids.map((id) => [id, {}]));
  const rows = await q.compare(ctx.ch, tenant, project.id, ids, metricNames);
  for (const [experimentId, ...r] of rows) byId.get(experimentId)![r[0]] = statsDto(r as q.SummaryRow);
  for (const [experimentId, r] of await derivedStats(ctx, tenant, project.id, ids, metricNames)) byId.get(experimentId)![r[0]] = statsDto(r);
  const withBest = new Map<string, Record<string, ReturnType<typeof statsDto> & { best?: ReturnType<typeof toWire> | null; direction?: 'minimize' | 'maximize' }>>(byId);
  if (include.includes('best')) {
    const names = [...new Set([...byId.values()].flatMap((m) => Object.keys(m)))];
    const configs = await metricConfigs(ctx, tenant, project.id, names);
    for (const name of names) {
      const config = configs.get(name)!;
      const best = await aggregateRuns(ctx, tenant, project.id, ids, { ...config, aggregation: 'best' });
      for (const id of ids) {
        const stats = withBest.get(id)![name];
        if (stats) Object.assign(stats, { best: best.get(id) == null ? null : toWire(best.get(id)!), direction: config.direction });
      }
    }
  }
  const experiments = Object.fromEntries(runs.map((r) => [r.ref, withBest.get(r.experiment.id)!]));
  const features = include.includes('features')
    ? { features: diffFeatures(runs.map((r) => ({ ref: r.ref, features: r.experiment.features })), false) }
    : {};
  return { project_id: project.id, experiments, ...features };
}

/**
 * Metric names with their point counts and latest timestamps, from the ClickHouse summary (written
 * before a batch is acknowledged, so a name is listed as soon as its points are); the sync state
 * from Postgres.
 */
export async function metricNames(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string) {
  const { project, experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName);
  const rows = await q.summary(ctx.ch, tenant, project.id, experiment.id);
  const sync = await logs.getSyncState(ctx.pg.db, tenant, experiment.id);
  return {
    items: rows.map((r) => ({ metric_name: r[0], total_points: Number(r[5]), last_logged_at: new Date(Number(r[9])).toISOString() })),
    sync: { pending_rows: sync?.pendingRows ?? 0, last_synced_at: sync?.lastSyncedAt?.toISOString() ?? null },
  };
}

export async function deleteMetrics(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string) {
  requireRole(tenant, 'researcher');
  const { project, experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName);
  await deleteMetricsOf(ctx, tenant, project.id, [experiment.id]);
}
