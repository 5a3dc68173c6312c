import { and, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
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
 * Book-keeping after a durable ClickHouse insert, in one transaction: the batch ids that make
 * retries no-ops and the seed's clickhouse_sync_state. Rows travel as one JSON parameter
 * (jsonb_to_recordset): a multi-row VALUES list cost ~1 µs per ingested point in query building.
 */
export async function recordFlush(db: Db, tenant: Tenant, batches: BatchWrite[], sync: SyncState[], at: Date) {
  await db.transaction(async (tx) => {
    if (batches.length) await upsertBatches(tx as unknown as Db, tenant, batches, at);
    if (sync.length) {
      const rows = JSON.stringify(sync.map((s) => ({ e: s.experimentId, n: s.pendingRows })));
      await tx.execute(sql`
        INSERT INTO ${clickhouseSyncState} (team_id, experiment_id, pending_rows, last_synced_at, updated_at)
        SELECT ${tenant.teamId}::uuid, r.e, r.n, ${at.toISOString()}::timestamptz, ${at.toISOString()}::timestamptz
        FROM jsonb_to_recordset(${rows}::jsonb) AS r(e uuid, n bigint)
        ON CONFLICT (experiment_id) DO UPDATE SET
          pending_rows = excluded.pending_rows, last_synced_at = excluded.last_synced_at, updated_at = excluded.updated_at`);
    }
  });
}

/** Adds points per (experiment, metric) to the seed's metric_write_logs (see WriteLogMirror). */
export async function addWriteLogs(db: Db, tenant: Tenant, writes: MetricWrite[], at: Date) {
  if (!writes.length) return;
  const rows = JSON.stringify(writes.map((w) => ({ p: w.projectId, e: w.experimentId, m: w.metricName, n: w.points, l: w.lastLoggedAt.toISOString() })));
  await db.execute(sql`
    INSERT INTO ${metricWriteLogs} (team_id, project_id, experiment_id, metric_name, total_points, last_logged_at, updated_at)
    SELECT ${tenant.teamId}::uuid, r.p, r.e, r.m, r.n, r.l, ${at.toISOString()}::timestamptz
    FROM jsonb_to_recordset(${rows}::jsonb) AS r(p uuid, e uuid, m text, n bigint, l timestamptz)
    JOIN ${experiments} x ON x.id = r.e AND x.team_id = ${tenant.teamId}::uuid
    ON CONFLICT (experiment_id, metric_name) DO UPDATE SET
      total_points = ${metricWriteLogs.totalPoints} + excluded.total_points,
      last_logged_at = greatest(${metricWriteLogs.lastLoggedAt}, excluded.last_logged_at),
      updated_at = excluded.updated_at`);
}

/**
 * Batch ids with their versions: pending (committedAt null, before the insert) or committed.
 * A committed batch is never demoted back to pending.
 */
async function upsertBatches(db: Db, tenant: Tenant, batches: BatchWrite[], committedAt: Date | null) {
  const rows = JSON.stringify(batches.map((b) => ({ e: b.experimentId, b: b.batchId, n: b.points, v: b.versionBase })));
  const at = committedAt?.toISOString() ?? null;
  await db.execute(sql`
    INSERT INTO ${metricBatches} (team_id, experiment_id, batch_id, points, version_base, committed_at)
    SELECT ${tenant.teamId}::uuid, r.e, r.b, r.n, r.v, ${at}::timestamptz
    FROM jsonb_to_recordset(${rows}::jsonb) AS r(e uuid, b text, n integer, v bigint)
    ON CONFLICT (experiment_id, batch_id) DO UPDATE SET
      points = excluded.points, version_base = excluded.version_base, committed_at = excluded.committed_at
    ${committedAt ? sql`` : sql`WHERE ${metricBatches.committedAt} IS NULL`}`);
}

/** Before the ClickHouse insert: these batches are about to be written with these versions. */
export async function recordPendingBatches(db: Db, tenant: Tenant, batches: BatchWrite[]): Promise<void> {
  if (!batches.length) return;
  await upsertBatches(db, tenant, batches, null);
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
