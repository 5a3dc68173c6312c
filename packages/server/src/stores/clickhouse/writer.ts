import { ShuttingDownError, StoreUnavailableError, WriterOverloadedError } from '../errors.ts';
import type { Tenant } from '../postgres/tenant.ts';
import { AggregateBacklog, type BacklogEntry, type BacklogHooks } from './aggregate-backlog.ts';
import type { EncodedRows } from './encode.ts';
import { insertNative, type ClickHouseStore } from './query.ts';

export interface WriteRequest {
  tenant: Tenant;
  projectId: string;
  experimentId: string;
  batchId?: string;
  rows: EncodedRows;
}

export interface WriterOptions {
  maxRows: number;
  maxDelayMs: number;
  maxPendingRows: number;
  /** Inserts in flight at once. */
  concurrency: number;
  /** How long a flush's aggregates wait for later flushes' to join their insert (aggregate-backlog.ts). */
  aggregateDelayMs: number;
  /** Queued aggregate bytes past which acknowledgements wait for the backlog (default AGGREGATE_BACKLOG_MAX_BYTES). */
  aggregateMaxBytes?: number;
}

/** Queued aggregate bytes past which acknowledgements wait for the backlog (~ the partials of 10M+ points). */
const AGGREGATE_BACKLOG_MAX_BYTES = 64 << 20;

export interface FlushHooks extends BacklogHooks {
  /**
   * Before the insert (e.g. renew the claims of batch ids, mark the experiments as owing the
   * aggregates of flush `gen`); a failure fails the flush (StoreUnavailableError). Requests it
   * returns are left out of the insert and fail with the error it gives (a batch id another process
   * took over meanwhile).
   */
  beforeInsert(batch: WriteRequest[], gen: number): Promise<{ drop: Set<WriteRequest>; error: Error } | undefined>;
  /** After the insert succeeded, before any request is acknowledged. */
  afterInsert(flushed: WriteRequest[], remainingByExperiment: Map<string, number>): Promise<void>;
}

/**
 * ClickHouse's order of UUIDs: by the last 16 hex digits first, then the first 16 (a UUID is a
 * UInt128 whose high word holds the text's second half). `a`, `b`: canonical lowercase text.
 */
export function compareUuids(a: string, b: string): number {
  const a2 = a.slice(19);
  const b2 = b.slice(19);
  if (a2 !== b2) return a2 < b2 ? -1 : 1;
  const a1 = a.slice(0, 18);
  const b1 = b.slice(0, 18);
  return a1 < b1 ? -1 : a1 > b1 ? 1 : 0;
}

/** ClickHouse's String order: the UTF-8 bytes (JS `<` compares UTF-16 code units, which differs past U+FFFF). */
export const compareStrings = (a: string, b: string): number => (a === b ? 0 : Buffer.compare(Buffer.from(a), Buffer.from(b)));

/**
 * The order a flush joins its requests' blocks in: `metrics`' key is (team_id, project_id,
 * experiment_id, metric_name, step, host), so requests ordered by it — by where each block starts,
 * within an experiment; a stable sort keeps arrival order among equals — make one block ClickHouse
 * finds already sorted (when each request's rows are in order and do not overlap, as an importer's
 * chunks of a run), and it skips sorting it before writing the part. The runs an import has in
 * flight arrive in any order: a flush of 7 × 100k points from 3 runs cost chDB 170 ms CPU in
 * arrival order, 124 ms in this one (median of 8 alternated pairs, merges stopped).
 */
export function flushOrder(requests: WriteRequest[]): WriteRequest[] {
  return requests.length > 1 ? [...requests].sort(byTableKey) : requests;
}

function byTableKey(x: WriteRequest, y: WriteRequest): number {
  const byRun = compareUuids(x.tenant.teamId, y.tenant.teamId) || compareUuids(x.projectId, y.projectId) || compareUuids(x.experimentId, y.experimentId);
  if (byRun || !x.rows.first || !y.rows.first) return byRun;
  const [a, b] = [x.rows.first, y.rows.first];
  return compareStrings(a.metricName, b.metricName) || a.step - b.step || compareStrings(a.host, b.host);
}

interface Pending {
  req: WriteRequest;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit: requests append encoded rows; a flush writes everything buffered when it starts
 * in one insert, and each request's promise settles only when the insert holding its rows did —
 * that is the acknowledgement. Rows arriving while every insert slot is busy form the next flush,
 * so under load flushes grow instead of queueing up. The flush's aggregates follow through the
 * backlog (aggregate-backlog.ts), marked in PostgreSQL by `beforeInsert` until they are in.
 */
export class MetricWriter {
  private queue: Pending[] = [];
  private queuedRows = 0;
  /** The largest request queued since the last flush started (see minFlushRows). */
  private largestQueued = 0;
  private inflightRows = 0;
  /** Cancels the scheduled start of a flush. */
  private timer: (() => void) | undefined;
  private inflight = new Set<Promise<void>>();
  /** Set while an exclusive task runs: no flush may start. */
  private paused: Promise<void> | undefined;
  private closed = false;
  /** Flushes started: the number a flush's aggregate marks carry. */
  private gen = 0;
  /** Flushes whose aggregates are not in the backlog yet: inserting their points, or being repaired. */
  private readonly unsettled = new Set<number>();
  private readonly backlog: AggregateBacklog;
  private readonly unwatch: () => void;

  constructor(
    private readonly ch: ClickHouseStore,
    private readonly opts: WriterOptions,
    private readonly hooks: FlushHooks,
    private readonly log: (err: unknown, msg: string) => void,
  ) {
    const floorGen = () => Math.min(Infinity, ...this.unsettled);
    this.backlog = new AggregateBacklog(ch, { delayMs: opts.aggregateDelayMs, maxBytes: opts.aggregateMaxBytes ?? AGGREGATE_BACKLOG_MAX_BYTES, floorGen }, hooks, log);
    this.unwatch = ch.watchAggregates(this.backlog);
  }

  /** The newest flush's number: marks up to it are covered by a rebuild that runs with the writer to itself. */
  get lastGen(): number {
    return this.gen;
  }

  get pendingRows(): number {
    return this.queuedRows + this.inflightRows;
  }

  submit(req: WriteRequest): Promise<void> {
    if (this.closed) return Promise.reject(new ShuttingDownError('Server is shutting down; retry later', 1));
    if (req.rows.count === 0) return Promise.resolve();
    if (this.pendingRows > 0 && this.pendingRows + req.rows.count > this.opts.maxPendingRows) {
      return Promise.reject(new WriterOverloadedError('Ingest buffer full; retry later', 1));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.queuedRows += req.rows.count;
      this.largestQueued = Math.max(this.largestQueued, req.rows.count);
      if (this.queuedRows >= this.opts.maxRows || this.queuedRows >= this.minFlushRows()) this.kick();
      else if (!this.timer && this.inflight.size === 0) this.timer = this.schedule();
    });
  }

  /**
   * With no delay asked, the flush starts in this turn's check phase (setImmediate): it still takes
   * every request read in the same turn, without a timer's ≥ 1 ms wait (2–7 ms measured at load 20–40).
   */
  private schedule(): () => void {
    if (this.opts.maxDelayMs > 0) {
      const t = setTimeout(() => this.kick(), this.opts.maxDelayMs);
      return () => clearTimeout(t);
    }
    const i = setImmediate(() => this.kick());
    return () => clearImmediate(i);
  }

  /**
   * Starts a flush of everything queued if a slot is free. Up to `concurrency` inserts run at
   * once: one ClickHouse insert (with its views) is mostly single-threaded, so a second one uses
   * the other core. Order between them doesn't matter — versions were fixed at arrival.
   */
  private kick(): void {
    this.timer?.();
    this.timer = undefined;
    if (this.paused || this.queue.length === 0 || this.inflight.size >= this.opts.concurrency) return;
    if (this.inflight.size > 0 && this.queuedRows < this.minFlushRows()) return; // the running flush's end kicks again
    const flush: Promise<void> = this.flushOnce().finally(() => {
      this.inflight.delete(flush);
      if (this.queue.length) this.kick();
    });
    this.inflight.add(flush);
  }

  /**
   * Rows worth a flush of their own: every insert costs ~10 ms of fixed CPU per part written (and
   * more parts mean more merging), so while an insert is running, rows wait for it to end rather
   * than go out in small flushes — unless a fifth of maxRows queued (40k rows by default: measured
   * with 8 clients, 10k-point batches, 2 slots: +10–20% points/s over starting every free slot at
   * once, and over a single slot), or four of the largest requests queued when those are bigger
   * (an import's 100k-point batches: each started a flush of its own, paying ~6 parts' fixed cost
   * and their merges per ~100–200k points; 10M-point MLflow import, 4 pairs alternated, load
   * 2.8–3.2: 700–824k vs 664–680k points/s, server CPU 16.9–19.8 vs 19.6–20.6 s; twice the largest
   * gave no clear gain). Batches of ≤ 10k points keep the fifth. With nothing in flight a quarter
   * of maxRows (or maxDelayMs) starts a flush.
   */
  private minFlushRows(): number {
    return this.inflight.size === 0 ? this.opts.maxRows / 4 : Math.max(this.opts.maxRows / 5, 4 * this.largestQueued);
  }

  private async flushOnce(): Promise<void> {
    let batch = this.queue;
    const rows = this.queuedRows;
    this.queue = [];
    this.queuedRows = 0;
    this.largestQueued = 0;
    this.inflightRows += rows;
    const gen = ++this.gen;
    this.unsettled.add(gen);
    const entries = () => batch.map(({ req }): BacklogEntry => ({ tenant: req.tenant, projectId: req.projectId, experimentId: req.experimentId, partials: req.rows.partials }));
    let inserting = false;
    try {
      const dropped = await this.hooks.beforeInsert(batch.map((p) => p.req), gen);
      if (dropped?.drop.size) {
        for (const p of batch) if (dropped.drop.has(p.req)) p.reject(dropped.error);
        batch = batch.filter((p) => !dropped.drop.has(p.req));
      }
      // Only the points before the acknowledgement; their aggregates go to the backlog below. If the
      // insert fails (some rows may have landed), the marks `beforeInsert` left make the experiments'
      // aggregates be rebuilt from whatever points are there.
      inserting = true;
      await insertNative(this.ch, 'metrics', flushOrder(batch.map((p) => p.req)).flatMap((r) => r.rows.points));
    } catch (err) {
      this.inflightRows -= rows;
      this.log(err, 'metric insert failed');
      const e = new StoreUnavailableError('Metric store unavailable; retry later', 1);
      for (const p of batch) p.reject(e);
      // some of the points may have landed: their experiments' aggregates are rebuilt from whatever did
      if (inserting) void this.backlog.repair(entries()).finally(() => this.unsettled.delete(gen));
      else this.unsettled.delete(gen);
      return;
    }
    this.inflightRows -= rows;
    try {
      const remaining = new Map<string, number>();
      for (const p of this.queue) remaining.set(p.req.experimentId, (remaining.get(p.req.experimentId) ?? 0) + p.req.rows.count);
      await this.hooks.afterInsert(batch.map((p) => p.req), remaining);
    } catch (err) {
      // The points are durable; only the book-keeping failed. Acknowledge, and say so in the log.
      this.log(err, 'metric book-keeping failed after a durable insert');
    }
    const full = this.backlog.add(entries(), gen);
    this.unsettled.delete(gen);
    if (full) await full;
    for (const p of batch) p.resolve();
  }

  /**
   * Runs `fn` while no insert is in flight and none starts, and no aggregates are queued (repairs
   * that must not interleave with new rows). Requests keep queueing meanwhile and are written right after.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.paused) await this.paused;
    let release!: () => void;
    this.paused = new Promise<void>((r) => (release = r));
    try {
      while (this.inflight.size) await Promise.all(this.inflight);
      await this.backlog.drain();
      return await fn();
    } finally {
      this.paused = undefined;
      release();
      this.kick();
    }
  }

  /** Writes the aggregates queued so far and waits for them (and any repair): for readers past the query wrapper. */
  async drainAggregates(): Promise<void> {
    await this.backlog.drain();
    await this.backlog.repairsDone();
  }

  /** Stop accepting, write out everything buffered (aggregates too), then return. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.queue.length || this.inflight.size || this.paused) {
      this.kick();
      await Promise.all([...this.inflight, this.paused]);
    }
    await this.backlog.drain();
    await this.backlog.repairsDone(true);
    this.unwatch();
  }
}
