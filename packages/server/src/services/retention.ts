import type { AppContext } from '../context.ts';
import { rebuildAggregates } from '../stores/clickhouse/queries/metrics.ts';
import { projectPointCounts, setRetention } from '../stores/clickhouse/queries/retention.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';

/**
 * A project's new retention applied to its stored metrics (after PostgreSQL holds it): the points'
 * and aggregate rows' `retention_days` are rewritten, which drops points now past it at once, and
 * every experiment that lost points has its aggregates rebuilt from the points left, so a run's
 * summary, hourly, per-step and rollup rows describe exactly its remaining points.
 *
 * Under the writer's exclusive lock: no insert lands between counting, mutating and rebuilding.
 * Rows encoded before the change and still queued in the writer (milliseconds' worth) keep the old
 * retention.
 */
export async function applyProjectRetention(ctx: AppContext, tenant: Tenant, projectId: string, days: number): Promise<{ rebuilt: number }> {
  return ctx.writer.exclusive(async () => {
    const before = await projectPointCounts(ctx.ch, tenant, projectId);
    await setRetention(ctx.ch, tenant, projectId, days);
    const after = await projectPointCounts(ctx.ch, tenant, projectId);
    let rebuilt = 0;
    for (const [experimentId, n] of before) {
      if ((after.get(experimentId) ?? 0) === n) continue;
      await rebuildAggregates(ctx.ch, tenant, projectId, experimentId);
      rebuilt++;
    }
    return { rebuilt };
  });
}
