import type { Config } from '../config.ts';
import type { AppContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import { batchSizeProblem, countPoints, encodeBatch, type EncodedRows } from '../stores/clickhouse/encode.ts';
import * as q from '../stores/clickhouse/queries/metrics.ts';
import type { ClickHouseStore } from '../stores/clickhouse/query.ts';
import { MetricWriter, type WriteRequest } from '../stores/clickhouse/writer.ts';
import { ShuttingDownError, StoreUnavailableError, WriterOverloadedError } from '../stores/errors.ts';
import type { PostgresStore } from '../stores/postgres/db.ts';
import { reserveCounterBlock } from '../stores/postgres/repos/coordination.ts';
import * as logs from '../stores/postgres/repos/metric-logs.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import type { WriteLogMirror } from '../stores/postgres/write-log-mirror.ts';
import { backlogHooks, markFlush, systemTenant, writerName } from './aggregate-marks.ts';
import { requireRole } from './auth.ts';
import { resolveIngestTarget } from './resolve.ts';
import { VersionClock } from './version-clock.ts';

/**
 * A metric batch's whole life, in order:
 *   1. counts within LIMITS (413) → 2. logged_at versions reserved (arrival order decides which
 *   re-logged step wins) → 3. validated and encoded in one pass (422, nothing written) →
 *   4. a batch_id is claimed in Postgres (pending, with its versions and a lease; `writeOnce`):
 *   already committed is a duplicate, one another attempt holds is waited for, one left pending by
 *   a dead attempt is taken over and settled first → 5. the group-commit writer renews the claims
 *   → 6. inserts the Native blocks (ClickHouse) → 7. book-keeping: batch ids committed, sync
 *   state, write-log mirror → 8. the request is acknowledged.
 * A process that stops between 4 and 7 leaves pending batch ids; `settlePendingBatch` finds out
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

/** Names the logged_at version counter in replica_coordination (services/version-clock.ts). */
const VERSION_COUNTER = 'logged-at-versions';
/** Each writer's version clock: blocks from PostgreSQL when it may be shared, the local clock on PGlite. */
const clocks = new WeakMap<MetricWriter, VersionClock>();

/**
 * How long a claim on a batch id holds without its owner renewing it (at the claim and right
 * before its insert): longer than the insert can take — the ClickHouse client gives up after
 * ASSAY_QUERY_MAX_SECONDS + 5 s — so a live owner never loses a batch it is inserting.
 */
export const batchLeaseMs = (config: Config): number => Math.ceil(config.ASSAY_QUERY_MAX_SECONDS * 1000) + 15_000;
/** A request for a batch id another request is writing waits this long for its commit, then answers 503. */
const WAIT_FOR_OWNER_MS = 10_000;
const POLL_MS = 50;

/**
 * The group-commit writer, with this service's steps 5 and 7 as its flush hooks and the aggregate
 * marks (services/aggregate-marks.ts) around its aggregates, which follow the acknowledgement.
 */
export function openMetricWriter(stores: IngestStores, config: Config, log: (err: unknown, msg: string) => void): MetricWriter {
  const leaseMs = batchLeaseMs(config);
  const name = writerName();
  const writer: MetricWriter = new MetricWriter(
    stores.ch,
    {
      maxRows: config.ASSAY_WRITER_MAX_ROWS,
      maxDelayMs: config.ASSAY_WRITER_MAX_DELAY_MS,
      maxPendingRows: config.ASSAY_WRITER_MAX_PENDING_ROWS,
      concurrency: config.ASSAY_WRITER_CONCURRENCY,
      aggregateDelayMs: config.aggregateDelayMs,
    },
    {
      beforeInsert: async (batch, gen) => {
        // a mark outlives its aggregates' wait in the backlog and their insert: until then nobody else repairs it
        await markFlush(stores.pg, name, gen, batch, leaseMs + Math.max(0, config.aggregateDelayMs));
        return renewClaims(stores.pg, batch, leaseMs);
      },
      afterInsert: (flushed, remaining) => recordWritten(stores, flushed, remaining),
      ...backlogHooks(stores, name, () => writer),
    },
    log,
  );
  const shared = config.postgres.kind === 'postgres';
  clocks.set(writer, new VersionClock(shared ? (min, size) => reserveCounterBlock(stores.pg.db, VERSION_COUNTER, min, size) : undefined));
  return writer;
}

/** `n` consecutive logged_at versions for a batch, in arrival order (services/version-clock.ts). */
function reserveVersions(ctx: AppContext, n: number): number | Promise<number> {
  let clock = clocks.get(ctx.writer);
  if (!clock) clocks.set(ctx.writer, (clock = new VersionClock()));
  return clock.reserve(n);
}

/** Every Postgres write is scoped to one tenant: a flush's batches grouped by team. */
function byTeam<B extends WrittenBatch>(batches: B[]): { tenant: Tenant; batches: B[] }[] {
  const teams = new Map<string, { tenant: Tenant; batches: B[] }>();
  for (const b of batches) {
    let t = teams.get(b.tenant.teamId);
    if (!t) teams.set(b.tenant.teamId, (t = { tenant: b.tenant, batches: [] }));
    t.batches.push(b);
  }
  return [...teams.values()];
}

const batchIds = (batches: WrittenBatch[]): logs.BatchWrite[] =>
  batches.flatMap((b) => (b.batchId ? [{ experimentId: b.experimentId, batchId: b.batchId, points: b.rows.count, versionBase: b.rows.versionBase }] : []));

/**
 * Step 5: the claims of the batch ids about to be inserted are renewed (their rows already say
 * which versions they will hold: a later retry tells from them whether they landed). A batch whose
 * claim another process took over meanwhile (this one was slower than the lease) is not inserted.
 */
async function renewClaims(pg: PostgresStore, batches: WriteRequest[], leaseMs: number): Promise<{ drop: Set<WriteRequest>; error: Error } | undefined> {
  const drop = new Set<WriteRequest>();
  for (const t of byTeam(batches)) {
    const withId = t.batches.filter((b) => b.batchId);
    if (!withId.length) continue;
    const owned = await logs.renewBatchLeases(pg.db, t.tenant, batchIds(withId), leaseMs);
    for (const b of withId) if (!owned.has(`${b.experimentId}:${b.batchId}`)) drop.add(b);
  }
  return drop.size ? { drop, error: new StoreUnavailableError('This batch id was taken over by another request while queued; retry', 1) } : undefined;
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

/** Concurrent retries of one batch in this process share the first attempt's outcome (no polling). */
const inflightBatches = new Map<string, Promise<void>>();

/** Steps 1–8 for one request; resolves once the points are durable (the acknowledgement). */
export async function logBatch(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string, body: unknown) {
  requireRole(tenant, 'researcher');
  return logResolvedBatch(ctx, tenant, await resolveIngestTarget(ctx, tenant, projectIdOrName, experimentIdOrName), body);
}

/**
 * The same for a caller that has just read the run itself, scoped to the tenant and checked live
 * (the MLflow API reads the run by run_id first): no second resolution of project and experiment.
 */
export async function logResolvedBatch(
  ctx: AppContext,
  tenant: Tenant,
  { project, experiment }: { project: { id: string; retentionDays: number }; experiment: { id: string } },
  body: unknown,
) {
  requireRole(tenant, 'researcher');
  const target = { teamId: tenant.teamId, projectId: project.id, experimentId: experiment.id, retentionDays: project.retentionDays };
  const tooLarge = batchSizeProblem(body);
  if (tooLarge) throw new HttpError(413, tooLarge);
  const encoded = encodeBatch(body, target, Date.now(), await reserveVersions(ctx, countPoints(body)));
  if (!encoded.ok) throw new HttpError(422, encoded.issues);
  const { rows, batchId } = encoded;
  const ok = (duplicate: boolean) => ({
    status: 'success' as const,
    count: rows.count,
    duplicate,
    message: duplicate ? `Batch ${batchId} was already logged` : `Logged ${rows.count} metrics successfully`,
  });
  const req = { tenant, projectId: project.id, experimentId: experiment.id, batchId, rows };
  // an empty batch writes nothing, so there is nothing to claim either
  if (!batchId || rows.count === 0) {
    await ctx.writer.submit(req);
    return ok(false);
  }
  // The in-flight entry is set before the first await: a concurrent send of the batch to this
  // process waits for this attempt instead of polling Postgres for it.
  const key = `${experiment.id}:${batchId}`;
  const inflight = inflightBatches.get(key);
  if (inflight) {
    await inflight;
    return ok(true);
  }
  const attempt = writeOnce(ctx, { ...req, batchId });
  const shared = attempt.then(() => undefined);
  shared.catch(() => undefined); // waiters see the failure; nobody waiting must not crash the process
  inflightBatches.set(key, shared);
  try {
    return ok(await attempt);
  } finally {
    inflightBatches.delete(key);
  }
}

/**
 * Step 4, exactly once per batch id across every process sharing the database. The claim is the
 * batch's row in metric_batches, inserted before anything is written (the primary key picks one
 * winner among concurrent sends, whichever replica got them) with a lease:
 *   - claimed → this attempt writes it;
 *   - committed → a duplicate;
 *   - pending and leased → another attempt is writing it: wait for its commit (then a duplicate),
 *     up to WAIT_FOR_OWNER_MS, then 503 (the client retries);
 *   - pending and not leased → its attempt died or failed: take the row over (one taker wins),
 *     find out from ClickHouse whether the old attempt's rows landed (then a duplicate), else write.
 * Resolves to whether the batch had been written before.
 */
async function writeOnce(ctx: AppContext, req: WriteRequest & { batchId: string }): Promise<boolean> {
  const { tenant, experimentId, batchId, rows } = req;
  const mine = { experimentId, batchId, points: rows.count, versionBase: rows.versionBase };
  const leaseMs = batchLeaseMs(ctx.config);
  const deadline = Date.now() + WAIT_FOR_OWNER_MS;
  for (;;) {
    if (await logs.claimBatch(ctx.pg.db, tenant, mine, leaseMs)) {
      await submitClaimed(ctx, req);
      return false;
    }
    const seen = await logs.findBatch(ctx.pg.db, tenant, experimentId, batchId);
    if (seen?.committedAt) return true;
    if (seen && !seen.leased && (await logs.takeOverBatch(ctx.pg.db, tenant, { experimentId, batchId, versionBase: seen.versionBase }, mine, leaseMs))) {
      const previous = { experimentId, batchId, projectId: req.projectId, points: seen.points, versionBase: seen.versionBase };
      if (await settlePendingBatch(ctx, tenant, previous, { owner: mine.versionBase, keepClaim: true })) return true;
      await submitClaimed(ctx, req);
      return false;
    }
    // leased by another attempt, or changed since we looked: look again shortly
    if (Date.now() >= deadline) {
      const seconds = Math.max(1, Math.min(10, Math.ceil((seen?.leaseMs ?? 1000) / 1000)));
      throw new HttpError(503, `Batch ${batchId} is being written by another request; retry in ${seconds} s`, { 'Retry-After': String(seconds) });
    }
    await new Promise((r) => setTimeout(r, seen ? POLL_MS : 0));
  }
}

/**
 * Writes a claimed batch. If the writer refused it outright (buffer full, shutting down) nothing
 * was written: the claim goes, and the retry starts afresh. If the insert failed, some rows may
 * have landed: the claim is released, so the retry (on any replica) settles it at once.
 */
async function submitClaimed(ctx: AppContext, req: WriteRequest & { batchId: string }): Promise<void> {
  try {
    await ctx.writer.submit(req);
  } catch (e) {
    const claim = { experimentId: req.experimentId, batchId: req.batchId, versionBase: req.rows.versionBase };
    const forget = e instanceof WriterOverloadedError || e instanceof ShuttingDownError;
    await (forget ? logs.deletePendingBatch(ctx.pg.db, req.tenant, claim.experimentId, claim.batchId, claim.versionBase) : logs.releaseBatch(ctx.pg.db, req.tenant, claim)).catch(() => undefined);
    throw e;
  }
}

/** A batch id recorded pending (its version range) and the project its experiment is in. */
type PendingBatch = logs.BatchWrite & { projectId: string };

/**
 * Settles a pending batch whose attempt stopped mid-write, once its claim is ours (`owner`: the
 * version base our claim holds). If all the old attempt's rows are in `metrics`, step 7 is done
 * for it from the rows themselves; otherwise it is forgotten (`keepClaim`: we write it next).
 * Either way the experiment's aggregates are rebuilt from its points, because the stop may have
 * cut the insert between `metrics` and its views. Returns whether the batch had landed.
 */
async function settlePendingBatch(ctx: AppContext, tenant: Tenant, b: PendingBatch, o: { owner: number; keepClaim: boolean }): Promise<boolean> {
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
  } else if (!o.keepClaim) {
    await logs.deletePendingBatch(ctx.pg.db, tenant, b.experimentId, b.batchId, o.owner);
  }
  await ctx.writer.exclusive(() => q.rebuildAggregates(ctx.ch, tenant, b.projectId, b.experimentId));
  return landed;
}

/**
 * Settles batches whose attempt stopped between its claim and its commit and whose lease ran out
 * (each taken over first, so two processes never settle one batch). At startup, before serving,
 * and in the crash sweeper's pass (services/crash-sweeper.ts). `all`: every pending batch, leased
 * or not — embedded metadata has one process, so a pending batch at start is a cut-off one, and
 * a client that never retries (it was killed too) would otherwise leave its batch's points and
 * aggregates disagreeing until the lease ran out (crash-safety.test.ts). `onlyTeams` scopes it for
 * tests.
 */
export async function recoverPendingBatches(ctx: AppContext, o: { all?: boolean; onlyTeams?: string[] } = {}): Promise<{ landed: number; dropped: number }> {
  let landed = 0;
  let dropped = 0;
  const leaseMs = batchLeaseMs(ctx.config);
  for (const b of await logs.listPendingBatchesForRecovery(ctx.pg.db, { anyLease: o.all ?? false })) {
    if (o.onlyTeams && !o.onlyTeams.includes(b.teamId)) continue;
    const tenant = systemTenant(b.teamId);
    // a fresh version names our claim (one nobody else's rows can hold)
    const owner = await reserveVersions(ctx, 1);
    if (!(await logs.takeOverBatch(ctx.pg.db, tenant, b, { points: b.points, versionBase: owner }, leaseMs, o.all))) continue;
    if (await settlePendingBatch(ctx, tenant, b, { owner, keepClaim: false })) landed++;
    else dropped++;
  }
  return { landed, dropped };
}
