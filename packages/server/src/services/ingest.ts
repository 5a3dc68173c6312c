import type { Config } from '../config.ts';
import type { AppContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import { batchSizeProblem, countPoints, encodeBatch, type EncodedRows } from '../stores/clickhouse/encode.ts';
import * as q from '../stores/clickhouse/queries/metrics.ts';
import type { ClickHouseStore } from '../stores/clickhouse/query.ts';
import { MetricWriter, type WriteRequest } from '../stores/clickhouse/writer.ts';
import type { PostgresStore } from '../stores/postgres/db.ts';
import * as logs from '../stores/postgres/repos/metric-logs.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import type { WriteLogMirror } from '../stores/postgres/write-log-mirror.ts';
import { requireRole } from './auth.ts';
import { resolveIngestTarget } from './resolve.ts';

/**
 * A metric batch's whole life, in order:
 *   1. counts within LIMITS (413) → 2. logged_at versions reserved (arrival order decides which
 *   re-logged step wins) → 3. validated and encoded in one pass (422, nothing written) →
 *   4. a batch_id already committed is a duplicate; one left pending is settled first →
 *   5. the group-commit writer records the batch ids pending (Postgres) → 6. inserts the Native
 *   blocks (ClickHouse) → 7. book-keeping: batch ids committed, sync state, write-log mirror →
 *   8. the request is acknowledged.
 * A process that stops between 5 and 7 leaves pending batch ids; `settlePendingBatch` finds out
 * from ClickHouse whether their rows landed and does step 7 with the same code the writer uses.
 */

/**
 * What book-keeping needs of a written batch: the writer's request itself on the live path; when
 * settling, the same fields with counts read back from ClickHouse (no encoded blocks).
 */
type WrittenBatch = Omit<WriteRequest, 'rows'> & { rows: Pick<EncodedRows, 'count' | 'versionBase' | 'perMetric'> };

interface IngestStores {
  pg: PostgresStore;
  ch: ClickHouseStore;
  writeLogs: WriteLogMirror;
}

/** The group-commit writer, with this service's steps 5 and 7 as its flush hooks. */
export function openMetricWriter(stores: IngestStores, config: Config, log: (err: unknown, msg: string) => void): MetricWriter {
  return new MetricWriter(
    stores.ch,
    { maxRows: config.ASSAY_WRITER_MAX_ROWS, maxDelayMs: config.ASSAY_WRITER_MAX_DELAY_MS, maxPendingRows: config.ASSAY_WRITER_MAX_PENDING_ROWS, concurrency: config.ASSAY_WRITER_CONCURRENCY },
    {
      beforeInsert: (batch) => recordPending(stores.pg, batch),
      afterInsert: (flushed, remaining) => recordWritten(stores, flushed, remaining),
    },
    log,
  );
}

/** Every Postgres write is scoped to one tenant: a flush's batches grouped by team. */
function byTeam(batches: WrittenBatch[]): { tenant: Tenant; batches: WrittenBatch[] }[] {
  const teams = new Map<string, { tenant: Tenant; batches: WrittenBatch[] }>();
  for (const b of batches) {
    let t = teams.get(b.tenant.teamId);
    if (!t) teams.set(b.tenant.teamId, (t = { tenant: b.tenant, batches: [] }));
    t.batches.push(b);
  }
  return [...teams.values()];
}

const batchIds = (batches: WrittenBatch[]): logs.BatchWrite[] =>
  batches.flatMap((b) => (b.batchId ? [{ experimentId: b.experimentId, batchId: b.batchId, points: b.rows.count, versionBase: b.rows.versionBase }] : []));

/** Step 5: batch ids about to be inserted, with their versions — lets a later retry tell whether they landed. */
async function recordPending(pg: PostgresStore, batches: WrittenBatch[]): Promise<void> {
  for (const t of byTeam(batches)) await logs.recordPendingBatches(pg.db, t.tenant, batchIds(t.batches));
}

/** Step 7: one Postgres transaction per team (batch ids committed, sync state); write logs go to the mirror. */
async function recordWritten(stores: IngestStores, batches: WrittenBatch[], remainingByExperiment: Map<string, number>): Promise<void> {
  const at = new Date();
  for (const t of byTeam(batches)) {
    const sync = [...new Set(t.batches.map((b) => b.experimentId))].map((experimentId) => ({ experimentId, pendingRows: remainingByExperiment.get(experimentId) ?? 0 }));
    await logs.recordFlush(stores.pg.db, t.tenant, batchIds(t.batches), sync, at);
    stores.writeLogs.add(
      t.tenant,
      t.batches.flatMap((b) =>
        [...b.rows.perMetric].map(([metricName, m]): logs.MetricWrite => ({ projectId: b.projectId, experimentId: b.experimentId, metricName, points: m.points, lastLoggedAt: new Date(m.lastTsMs) })),
      ),
    );
  }
}

/** Concurrent retries of one batch share the first attempt's outcome instead of writing twice. */
const inflightBatches = new Map<string, Promise<void>>();

/** Steps 1–8 for one request; resolves once the points are durable (the acknowledgement). */
export async function logBatch(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string, body: unknown) {
  requireRole(tenant, 'researcher');
  const { project, experiment } = await resolveIngestTarget(ctx, tenant, projectIdOrName, experimentIdOrName);
  const target = { teamId: tenant.teamId, projectId: project.id, experimentId: experiment.id };
  const tooLarge = batchSizeProblem(body);
  if (tooLarge) throw new HttpError(413, tooLarge);
  const encoded = encodeBatch(body, target, Date.now(), ctx.writer.reserveVersions(countPoints(body)));
  if (!encoded.ok) throw new HttpError(422, encoded.issues);
  const { rows, batchId } = encoded;
  const ok = (duplicate: boolean) => ({
    status: 'success' as const,
    count: rows.count,
    duplicate,
    message: duplicate ? `Batch ${batchId} was already logged` : `Logged ${rows.count} metrics successfully`,
  });
  const req = { tenant, projectId: project.id, experimentId: experiment.id, batchId, rows };
  if (!batchId) {
    await ctx.writer.submit(req);
    return ok(false);
  }
  // The in-flight entry is set before the first await, so concurrent sends of one batch can't
  // both pass the "already written?" check.
  const key = `${experiment.id}:${batchId}`;
  const inflight = inflightBatches.get(key);
  if (inflight) {
    await inflight;
    return ok(true);
  }
  const attempt = (async () => {
    const seen = await logs.findBatch(ctx.pg.db, tenant, experiment.id, batchId);
    if (seen?.committedAt) return true;
    // Pending: an earlier attempt's insert failed or was cut off; find out whether it landed.
    if (seen && (await settlePendingBatch(ctx, tenant, { ...seen, projectId: project.id }))) return true;
    await ctx.writer.submit(req);
    return false;
  })();
  const shared = attempt.then(() => undefined);
  shared.catch(() => undefined); // waiters see the failure; nobody waiting must not crash the process
  inflightBatches.set(key, shared);
  try {
    return ok(await attempt);
  } finally {
    inflightBatches.delete(key);
  }
}

/** A batch id recorded pending (its version range) and the project its experiment is in. */
type PendingBatch = logs.BatchWrite & { projectId: string };

/**
 * Settles a batch left pending by a server that stopped mid-write. If all its rows are in
 * `metrics`, step 7 is done for it from the rows themselves; otherwise it is forgotten and the
 * client's retry writes it. Either way the experiment's aggregates are rebuilt from its points,
 * because the stop may have cut the insert between `metrics` and its views. Returns whether the
 * batch had landed.
 */
async function settlePendingBatch(ctx: AppContext, tenant: Tenant, b: PendingBatch): Promise<boolean> {
  const lo = b.versionBase;
  const hi = b.versionBase + b.points;
  const landed = lo > 0 && (await q.countVersions(ctx.ch, tenant, b.projectId, b.experimentId, lo, hi)) === b.points;
  if (landed) {
    const perMetric = new Map<string, { points: number; lastTsMs: number }>();
    for (const [name, n, lastMs] of await q.versionMetrics(ctx.ch, tenant, b.projectId, b.experimentId, lo, hi)) {
      perMetric.set(name, { points: Number(n), lastTsMs: Number(lastMs) });
    }
    const rows = { count: b.points, versionBase: b.versionBase, perMetric };
    await recordWritten(ctx, [{ tenant, projectId: b.projectId, experimentId: b.experimentId, batchId: b.batchId, rows }], new Map());
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
    const tenant: Tenant = { teamId: b.teamId, userId: '', role: 'admin', keyId: null, sessionId: null };
    if (await settlePendingBatch(ctx, tenant, b)) landed++;
    else dropped++;
  }
  return { landed, dropped };
}
