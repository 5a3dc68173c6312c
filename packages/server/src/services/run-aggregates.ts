import type { AppContext } from '../context.ts';
import { runAggregates } from '../stores/clickhouse/queries/steps.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { stepSourceOf } from './derived-series.ts';
import type { MetricConfig } from './metric-config.ts';
import { chToNumber } from './metric-values.ts';

/**
 * One number per run for a metric, by its configured aggregation, from the deduplicated points
 * (a re-logged step counts once, the later write wins; several hosts at a step → their mean):
 * - `last`: the value at the highest step (NaN/±Inf as logged);
 * - `best`: the minimum (direction minimize) or maximum (maximize), NaN skipped, ±Inf count;
 * - `average`: the mean over the steps s >= last − (last − first)/10, NaN skipped, ±Inf count.
 * A run with points but only NaN in the window → NaN; a run without points → null.
 * Derived metrics aggregate their per-step derived values the same way. One ClickHouse query for
 * all experiments.
 */
export async function aggregateRuns(ctx: AppContext, tenant: Tenant, projectId: string, experimentIds: string[], config: MetricConfig): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>(experimentIds.map((id) => [id, null]));
  if (experimentIds.length === 0) return out;
  const rows = await runAggregates(ctx.ch, tenant, { projectId, experimentIds: [...new Set(experimentIds)] }, stepSourceOf(config));
  for (const [id, last, min, max, tailAvg] of rows) {
    const pick = config.aggregation === 'last' ? last : config.aggregation === 'average' ? tailAvg : config.direction === 'minimize' ? min : max;
    out.set(id, pick === null ? NaN : chToNumber(pick));
  }
  return out;
}

