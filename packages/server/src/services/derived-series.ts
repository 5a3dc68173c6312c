import type { AppContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import { derivedSteps } from '../stores/clickhouse/queries/derived.ts';
import type { SummaryRow } from '../stores/clickhouse/queries/metrics.ts';
import * as s from '../stores/clickhouse/queries/steps.ts';
import { listProjectMetrics } from '../stores/postgres/repos/project-metrics.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { ExpressionError, parseExpression } from './expression.ts';
import { configOf, type MetricConfig } from './metric-config.ts';
import { chToWire } from './metric-values.ts';

/**
 * Reads of derived metrics: computed on the fly from the points of the metrics their expression
 * names (nothing is stored). services/metrics.ts calls in here when a requested name is configured
 * as derived; a derived name shadows points logged under the same name.
 */

/** The derived metrics configured in a project; with `names`, only those among them. */
export async function derivedConfigs(ctx: AppContext, tenant: Tenant, projectId: string, names?: string[]): Promise<MetricConfig[]> {
  const rows = await listProjectMetrics(ctx.pg.db, tenant, projectId, names);
  return rows.filter((r) => r.sourceType === 'derived' && r.expression).map(configOf);
}

/** Where a metric's per-step values come from: its points, or (derived) its expression. */
export function stepSourceOf(config: MetricConfig): s.StepSource {
  if (config.source_type !== 'derived' || !config.expression) return s.scalarSteps(config.name);
  try {
    return derivedSteps(parseExpression(config.expression));
  } catch (e) {
    // Expressions are checked on write; one stored before a rule tightened is a conflict, not a 500.
    if (e instanceof ExpressionError) throw new HttpError(409, `The stored expression of derived metric "${config.name}" no longer parses (${e.message}); PUT it again`);
    throw e;
  }
}

const pointDto = ([step, ts, v]: s.StepRow) => ({ timestamp: new Date(Number(ts)).toISOString(), step: Number(step), value: chToWire(v) });

/**
 * The timeseries response for a derived metric: one point per step, paged by step (`next_step_min`),
 * or with `max_points` downsampled like a logged series — per step bucket the points holding the
 * bucket's minimum and maximum, plus the first and last point — computed over the derived values
 * (the rollup table holds logged points only).
 */
export async function derivedTimeseries(
  ctx: AppContext,
  tenant: Tenant,
  projectId: string,
  experimentId: string,
  config: MetricConfig,
  o: { limit: number; max_points?: number; step_min?: number; step_max?: number; host?: string },
) {
  const source = stepSourceOf(config);
  const scope: s.StepScope = { projectId, experimentIds: [experimentId], stepMin: o.step_min, stepMax: o.step_max, host: o.host };
  const base = { experiment_id: experimentId, metric_name: config.name };
  if (o.max_points !== undefined) {
    const extent = await s.stepExtent(ctx.ch, tenant, scope, source);
    if (extent.n > o.max_points) {
      const nBuckets = Math.max(1, Math.floor((o.max_points - 2) / 2));
      const width = Math.max(1, Math.ceil((extent.hi - extent.lo + 1) / nBuckets));
      const buckets = await s.stepBuckets(ctx.ch, tenant, scope, source, extent.lo, width);
      const byStep = new Map<number, s.StepRow>();
      const keep = (r: s.StepRow) => byStep.set(Number(r[0]), r);
      if (buckets.length) keep(buckets[0][3]);
      for (const [, lo, hi] of buckets) {
        keep(lo);
        keep(hi);
      }
      if (buckets.length) keep(buckets[buckets.length - 1][4]);
      const points = [...byStep.values()].sort((a, b) => Number(a[0]) - Number(b[0])).map(pointDto);
      return { ...base, points, count: points.length, downsampled: true, truncated: false, next_step_min: null };
    }
  }
  const limit = Math.min(o.limit, o.max_points ?? o.limit);
  const rows = await s.stepPoints(ctx.ch, tenant, scope, source, limit + 1);
  const next = rows.length > limit ? Number(rows[limit][0]) : null;
  const page = rows.slice(0, limit).map(pointDto);
  return { ...base, points: page, count: page.length, downsampled: false, truncated: next !== null, next_step_min: next };
}

/**
 * Summary statistics (the shape of the summary table's rows) of the project's derived metrics for
 * some experiments: every derived metric, or those among `names` when it is non-empty. One query
 * per derived metric for all experiments. Experiments without a derived point get no row.
 */
export async function derivedStats(ctx: AppContext, tenant: Tenant, projectId: string, experimentIds: string[], names: string[] = []): Promise<[experimentId: string, row: SummaryRow][]> {
  if (experimentIds.length === 0) return [];
  const configs = await derivedConfigs(ctx, tenant, projectId, names.length ? names : undefined);
  const out: [string, SummaryRow][] = [];
  for (const c of configs) {
    const rows = await s.stepSummary(ctx.ch, tenant, { projectId, experimentIds }, stepSourceOf(c));
    for (const [id, ...r] of rows) out.push([id, [c.name, ...r]]);
  }
  return out;
}
