import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
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
 * Book-keeping after a durable ClickHouse insert, in one statement (atomic on its own: the batch
 * ids upsert is a data-modifying CTE): the batch ids that make retries no-ops and the seed's
 * clickhouse_sync_state. One statement instead of BEGIN, two statements and COMMIT: on PGlite each
 * is a synchronous call on the event loop in front of every acknowledgement, and on PostgreSQL a
 * round trip each. Rows travel as JSON parameters (jsonb_to_recordset): a multi-row VALUES list
 * cost ~1 µs per ingested point in query building.
 */
export async function recordFlush(db: Db, tenant: Tenant, batches: BatchWrite[], sync: SyncState[], at: Date) {
  if (!batches.length && !sync.length) return;
  const syncRows = JSON.stringify(sync.map((s) => ({ e: s.experimentId, n: s.pendingRows })));
  const ts = at.toISOString();
  await db.execute(sql`
    ${batches.length ? sql`WITH committed AS (${upsertBatches(tenant, batches, at)}) ` : sql``}INSERT INTO ${clickhouseSyncState} (team_id, experiment_id, pending_rows, last_synced_at, updated_at)
    SELECT ${tenant.teamId}::uuid, r.e, r.n, ${ts}::timestamptz, ${ts}::timestamptz
    FROM jsonb_to_recordset(${syncRows}::jsonb) AS r(e uuid, n bigint)
    ON CONFLICT (experiment_id) DO UPDATE SET
      pending_rows = excluded.pending_rows, last_synced_at = excluded.last_synced_at, updated_at = excluded.updated_at`);
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

const rowsOf = <T = unknown>(r: unknown): T[] => (r as { rows: T[] }).rows;

/** A lease as SQL: `ms` from now on PostgreSQL's clock (the one every replica shares). */
export const leaseEnd = (ms: number) => sql`now() + ${ms}::int * interval '1 millisecond'`;

/** Batch ids committed with their versions (book-keeping after the insert; ends the lease), as a statement for recordFlush's CTE. */
function upsertBatches(tenant: Tenant, batches: BatchWrite[], committedAt: Date) {
  const rows = JSON.stringify(batches.map((b) => ({ e: b.experimentId, b: b.batchId, n: b.points, v: b.versionBase })));
  return sql`
    INSERT INTO ${metricBatches} (team_id, experiment_id, batch_id, points, version_base, committed_at, lease_until)
    SELECT ${tenant.teamId}::uuid, r.e, r.b, r.n, r.v, ${committedAt.toISOString()}::timestamptz, NULL
    FROM jsonb_to_recordset(${rows}::jsonb) AS r(e uuid, b text, n integer, v bigint)
    ON CONFLICT (experiment_id, batch_id) DO UPDATE SET
      points = excluded.points, version_base = excluded.version_base, committed_at = excluded.committed_at, lease_until = NULL`;
}

/**
 * The claim of a batch id, before anything is written: the row goes in pending with this attempt's
 * versions and a lease, or — the id is known already — nothing changes. True when this attempt
 * owns the batch. The primary key decides between concurrent claims, whichever process sent them.
 */
export async function claimBatch(db: Db, tenant: Tenant, b: BatchWrite, leaseMs: number): Promise<boolean> {
  const r = await db.execute(sql`
    INSERT INTO ${metricBatches} (team_id, experiment_id, batch_id, points, version_base, lease_until)
    VALUES (${tenant.teamId}::uuid, ${b.experimentId}::uuid, ${b.batchId}, ${b.points}, ${b.versionBase}::bigint, ${leaseEnd(leaseMs)})
    ON CONFLICT (experiment_id, batch_id) DO NOTHING
    RETURNING 1 AS claimed`);
  return rowsOf(r).length === 1;
}

/**
 * Takes a pending batch over from the attempt with versions at `fromVersionBase` whose lease ran
 * out (its process died, or it released the batch after a failed insert): the row now names this
 * attempt's versions and lease. Under concurrent takers the row lock re-checks the condition, so
 * one wins. `anyLease` (embedded stores, one process: every pending row found at start is cut off)
 * skips the lease test.
 */
export async function takeOverBatch(db: Db, tenant: Tenant, from: { experimentId: string; batchId: string; versionBase: number }, to: { points: number; versionBase: number }, leaseMs: number, anyLease = false): Promise<boolean> {
  const r = await db.execute(sql`
    UPDATE ${metricBatches} SET points = ${to.points}, version_base = ${to.versionBase}::bigint, lease_until = ${leaseEnd(leaseMs)}
    WHERE team_id = ${tenant.teamId}::uuid AND experiment_id = ${from.experimentId}::uuid AND batch_id = ${from.batchId}
      AND committed_at IS NULL AND version_base = ${from.versionBase}::bigint
      AND (${anyLease} OR lease_until IS NULL OR lease_until <= now())
    RETURNING 1 AS taken`);
  return rowsOf(r).length === 1;
}

/**
 * Right before the insert: renews the lease of each batch still owned by its attempt (same
 * versions, pending). Returns the keys (`experiment:batch`) still owned; a batch missing from it
 * was taken over by another process meanwhile and must not be inserted.
 */
export async function renewBatchLeases(db: Db, tenant: Tenant, batches: BatchWrite[], leaseMs: number): Promise<Set<string>> {
  if (!batches.length) return new Set();
  const rows = JSON.stringify(batches.map((b) => ({ e: b.experimentId, b: b.batchId, v: b.versionBase })));
  const r = await db.execute(sql`
    UPDATE ${metricBatches} m SET lease_until = ${leaseEnd(leaseMs)}
    FROM jsonb_to_recordset(${rows}::jsonb) AS r(e uuid, b text, v bigint)
    WHERE m.team_id = ${tenant.teamId}::uuid AND m.experiment_id = r.e AND m.batch_id = r.b AND m.version_base = r.v AND m.committed_at IS NULL
    RETURNING m.experiment_id, m.batch_id`);
  return new Set(rowsOf<{ experiment_id: string; batch_id: string }>(r).map((x) => `${x.experiment_id}:${x.batch_id}`));
}

/** After a failed insert: the lease ends now, so the client's retry (on any replica) settles the batch at once. */
export async function releaseBatch(db: Db, tenant: Tenant, b: { experimentId: string; batchId: string; versionBase: number }): Promise<void> {
  await db.execute(sql`
    UPDATE ${metricBatches} SET lease_until = NULL
    WHERE team_id = ${tenant.teamId}::uuid AND experiment_id = ${b.experimentId}::uuid AND batch_id = ${b.batchId}
      AND committed_at IS NULL AND version_base = ${b.versionBase}::bigint`);
}

/**
 * System job (recovery at start and in the crash sweeper's pass), across teams: pending batches
 * nobody holds a lease on — their process stopped between the claim and the Postgres commit.
 * `anyLease`: every pending batch (embedded stores: this process is the only one).
 */
export async function listPendingBatchesForRecovery(db: Db, o: { anyLease: boolean }) {
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
    .where(and(isNull(metricBatches.committedAt), o.anyLease ? undefined : sql`(${metricBatches.leaseUntil} IS NULL OR ${metricBatches.leaseUntil} <= now())`));
}

/** A pending batch whose rows never landed: forget it (if this attempt still owns it); the client's retry writes it. */
export async function deletePendingBatch(db: Db, tenant: Tenant, experimentId: string, batchId: string, versionBase: number) {
  await db
    .delete(metricBatches)
    .where(
      and(
        eq(metricBatches.teamId, tenant.teamId),
        eq(metricBatches.experimentId, experimentId),
        eq(metricBatches.batchId, batchId),
        eq(metricBatches.versionBase, versionBase),
        isNull(metricBatches.committedAt),
      ),
    );
}

/** The batch id's row, and whether an attempt's lease on it is running (on PostgreSQL's clock). */
export async function findBatch(db: Db, tenant: Tenant, experimentId: string, batchId: string) {
  const [b] = await db
    .select({
      points: metricBatches.points,
      versionBase: metricBatches.versionBase,
      committedAt: metricBatches.committedAt,
      leased: sql<boolean>`coalesce(${metricBatches.leaseUntil} > now(), false)`,
      leaseMs: sql<number>`greatest(0, extract(epoch from ${metricBatches.leaseUntil} - now()) * 1000)::int`,
    })
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
