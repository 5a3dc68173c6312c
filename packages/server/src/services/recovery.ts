import type { AppContext } from '../context.ts';
import * as q from '../stores/clickhouse/queries/metrics.ts';
import * as logs from '../stores/postgres/repos/metric-logs.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { bookkeeping } from '../stores.ts';

export interface PendingBatch {
  projectId: string;
  experimentId: string;
  batchId: string;
  points: number;
  versionBase: number;
}

/**
 * Settles a batch left pending by a server that stopped mid-write. If all its rows are in
 * `metrics`, it is committed (book-keeping redone from the rows themselves); otherwise it is
 * forgotten and the client's retry writes it. Either way the experiment's aggregates are rebuilt
 * from its points, because the crash may have cut the insert between `metrics` and its views.
 * Returns whether the batch had landed.
 */
export async function settlePendingBatch(ctx: AppContext, tenant: Tenant, b: PendingBatch): Promise<boolean> {
  const lo = b.versionBase;
  const hi = b.versionBase + b.points;
  const landed = lo > 0 && (await q.countVersions(ctx.ch, tenant, b.projectId, b.experimentId, lo, hi)) === b.points;
  if (landed) {
    const perMetric = new Map<string, { points: number; lastTsMs: number }>();
    for (const [name, n, lastMs] of await q.versionMetrics(ctx.ch, tenant, b.projectId, b.experimentId, lo, hi)) {
      perMetric.set(name, { points: Number(n), lastTsMs: Number(lastMs) });
    }
    const rows = { points: Buffer.alloc(0), partials: {}, count: b.points, versionBase: b.versionBase, perMetric };
    await bookkeeping(ctx.pg, ctx.writeLogs, [{ tenant, projectId: b.projectId, experimentId: b.experimentId, batchId: b.batchId, rows }], new Map());
  } else {
    await logs.deletePendingBatch(ctx.pg.db, tenant, b.experimentId, b.batchId);
  }
  await ctx.writer.exclusive(() => q.rebuildAggregates(ctx.ch, tenant, b.projectId, b.experimentId));
  return landed;
}

/**
 * At startup, before serving: settle batches a previous process left pending. Only those older
 * than `minAgeMs`: another server sharing the database may be writing a younger one right now
 * (a recent one is settled when its client retries). `onlyTeams` scopes it for tests.
 */
export async function recoverPendingBatches(ctx: AppContext, o: { minAgeMs?: number; onlyTeams?: string[] } = {}): Promise<{ landed: number; dropped: number }> {
  let landed = 0;
  let dropped = 0;
  const createdBefore = new Date(Date.now() - (o.minAgeMs ?? 120_000));
  for (const b of await logs.listPendingBatchesForRecovery(ctx.pg.db, createdBefore)) {
    if (o.onlyTeams && !o.onlyTeams.includes(b.teamId)) continue;
    // Only the team matters to the stores; this is the system acting on the team's behalf.
    const tenant: Tenant = { teamId: b.teamId, userId: '', role: 'admin', keyId: '' };
    if (await settlePendingBatch(ctx, tenant, b)) landed++;
    else dropped++;
  }
  return { landed, dropped };
}
