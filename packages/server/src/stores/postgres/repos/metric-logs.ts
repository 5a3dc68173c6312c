import { and, asc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { clickhouseSyncState, experiments, metricBatches, metricWriteLogs } from '../schema.ts';
import type { Tenant } from '../tenant.ts';

export interface MetricWrite {
  projectId: string;
  experimentId: string;
  metricName: string;
  points: number;
  lastLoggedAt: Date;
}
export interface BatchWrite {
  experimentId: string;
  batchId: string;
  points: number;
  versionBase: number;
}
export interface SyncState {
  experimentId: string;
  pendingRows: number;
}

/**
 * Book-keeping after a durable ClickHouse insert, in one transaction: the seed's
 * metric_write_logs and clickhouse_sync_state, and the batch ids that make retries no-ops.
 */
export async function recordFlush(db: Db, tenant: Tenant, writes: MetricWrite[], batches: BatchWrite[], sync: SyncState[], at: Date) {
  await db.transaction(async (tx) => {
    if (writes.length) {
      await tx
        .insert(metricWriteLogs)
        .values(writes.map((w) => ({ teamId: tenant.teamId, projectId: w.projectId, experimentId: w.experimentId, metricName: w.metricName, totalPoints: w.points, lastLoggedAt: w.lastLoggedAt })))
        .onConflictDoUpdate({
          target: [metricWriteLogs.experimentId, metricWriteLogs.metricName],
          set: {
            totalPoints: sql`${metricWriteLogs.totalPoints} + excluded.total_points`,
            lastLoggedAt: sql`greatest(${metricWriteLogs.lastLoggedAt}, excluded.last_logged_at)`,
            updatedAt: at,
          },
        });
    }
    if (batches.length) {
      await tx
        .insert(metricBatches)
        .values(batches.map((b) => ({ ...b, teamId: tenant.teamId, committedAt: at })))
        .onConflictDoUpdate({
          target: [metricBatches.experimentId, metricBatches.batchId],
          set: { committedAt: at, points: sql`excluded.points`, versionBase: sql`excluded.version_base` },
        });
    }
    if (sync.length) {
      await tx
        .insert(clickhouseSyncState)
        .values(sync.map((s) => ({ teamId: tenant.teamId, experimentId: s.experimentId, pendingRows: s.pendingRows, lastSyncedAt: at })))
        .onConflictDoUpdate({
          target: clickhouseSyncState.experimentId,
          set: { pendingRows: sql`excluded.pending_rows`, lastSyncedAt: at, updatedAt: at },
        });
    }
  });
}

/** Before the ClickHouse insert: these batches are about to be written with these versions. */
export async function recordPendingBatches(db: Db, tenant: Tenant, batches: BatchWrite[]): Promise<void> {
  if (!batches.length) return;
  await db
    .insert(metricBatches)
    .values(batches.map((b) => ({ ...b, teamId: tenant.teamId, committedAt: null })))
    .onConflictDoUpdate({
      target: [metricBatches.experimentId, metricBatches.batchId],
      set: { points: sql`excluded.points`, versionBase: sql`excluded.version_base`, committedAt: null },
      // never demote a committed batch
      setWhere: sql`${metricBatches.committedAt} IS NULL`,
    });
}

/**
 * System job (startup recovery), across teams: batches recorded pending whose insert outcome the
 * server never saw — it stopped between the ClickHouse insert and the Postgres commit.
 */
export async function listPendingBatchesForRecovery(db: Db, createdBefore: Date) {
  return db
    .select({
      teamId: metricBatches.teamId,
      experimentId: metricBatches.experimentId,
      projectId: experiments.projectId,
      batchId: metricBatches.batchId,
      points: metricBatches.points,
      versionBase: metricBatches.versionBase,
    })
    .from(metricBatches)
    .innerJoin(experiments, and(eq(experiments.id, metricBatches.experimentId), eq(experiments.teamId, metricBatches.teamId)))
    .where(and(isNull(metricBatches.committedAt), lt(metricBatches.createdAt, createdBefore)));
}

/** A pending batch whose rows never landed: forget it, the client's retry writes it. */
export async function deletePendingBatch(db: Db, tenant: Tenant, experimentId: string, batchId: string) {
  await db
    .delete(metricBatches)
    .where(and(eq(metricBatches.teamId, tenant.teamId), eq(metricBatches.experimentId, experimentId), eq(metricBatches.batchId, batchId), isNull(metricBatches.committedAt)));
}

export async function findBatch(db: Db, tenant: Tenant, experimentId: string, batchId: string) {
  const [b] = await db
    .select()
    .from(metricBatches)
    .where(and(eq(metricBatches.teamId, tenant.teamId), eq(metricBatches.experimentId, experimentId), eq(metricBatches.batchId, batchId)));
  return b;
}

export async function listMetricNames(db: Db, tenant: Tenant, experimentId: string) {
  return db
    .select()
    .from(metricWriteLogs)
    .where(and(eq(metricWriteLogs.teamId, tenant.teamId), eq(metricWriteLogs.experimentId, experimentId)))
    .orderBy(asc(metricWriteLogs.metricName));
}

export async function getSyncState(db: Db, tenant: Tenant, experimentId: string) {
  const [s] = await db
    .select()
    .from(clickhouseSyncState)
    .where(and(eq(clickhouseSyncState.teamId, tenant.teamId), eq(clickhouseSyncState.experimentId, experimentId)));
  return s;
}

/** After a metrics delete: the experiment has no points, no batches to dedupe against. */
export async function clearExperimentMetrics(db: Db, tenant: Tenant, experimentIds: string[]) {
  if (!experimentIds.length) return;
  await db.transaction(async (tx) => {
    for (const t of [metricWriteLogs, metricBatches, clickhouseSyncState] as const) {
      await tx.delete(t).where(and(eq(t.teamId, tenant.teamId), inArray(t.experimentId, experimentIds)));
    }
  });
}
