/**
 * The background sender (Node), by the delivery rules of docs/sdk-delivery.md. `add()` is a
 * synchronous array push; batches are cut by size (`maxBatchSize`) or time (`flushIntervalMs`)
 * and POSTed in order, up to `maxInFlight` at once, each with a `batch_id` chosen once so every
 * re-send (retry, spool replay, `sync`) is stored once.
 *
 *  - network error / 408 / 429 / 5xx → retry with backoff (Retry-After wins), same batch_id;
 *  - 422 → only the refused points are dropped (counted per metric, one warning per metric), the
 *    rest is re-sent (delivery.ts); another 4xx drops the batch, counted the same way;
 *  - 401/403 → sending stops; every unsent point goes to the spool for `npx assay-sdk sync`;
 *  - no answer within `spoolAfterMs` (down or hung), or more than `maxBufferedPoints` points in
 *    memory → everything unsent goes to the on-disk spool (in order), later batches follow it
 *    there, and the replay loop (replay.ts) sends it back once the server answers again.
 */
import { randomBytes } from 'node:crypto';
import { HttpClient } from './http.ts';
import { AssayApiError } from './errors.ts';
import { classifyError, retryDelay, Sleeper, type BackoffOptions } from './backoff.ts';
import type { Logger } from './logger.ts';
import { DeliveryTally, isAuthError, postBatch, type DroppedPoint, type ReplayContext } from './delivery.ts';
import { replaySpool, type ReplayPort } from './replay.ts';
import { BatchQueue, type Batch } from './batching.ts';
import { SpoolSegment, type HeaderRecord, type SpoolRecord } from './spool.ts';
import type { WirePoint } from './values.ts';
import type { SenderStats } from './types.ts';

export type { SenderStats };

export interface SenderOptions {
  http: HttpClient | null;
  ctx: ReplayContext;
  maxBatchSize?: number;
  /** Batches sent concurrently (default 4). 1 keeps strict send order. */
  maxInFlight?: number;
  flushIntervalMs?: number;
  maxBufferedPoints?: number;
  /** The offline grace: no answer for this long → spool (default 5000). */
  spoolAfterMs?: number;
  /** null disables the spool (retry in memory forever). */
  spoolDir: string | null;
  /** Start in spool mode (server unreachable at start, or ASSAY_MODE=offline). */
  startSpooling?: boolean;
  /** ASSAY_MODE=offline: never talk to the server during the run (no replay). */
  offline?: boolean;
  gzip?: boolean;
  backoff?: BackoffOptions;
  replayBackoff?: BackoffOptions;
  requestTimeoutMs?: number;
  logger: Logger;
  header: () => Omit<HeaderRecord, 'type' | 'v' | 'pid' | 'hostname' | 'created_at'>;
  /** Called when a spool replay resolved the experiment's ids (offline start). */
  onResolved?: () => void | Promise<void>;
}

export class MetricSender {
  private readonly q: BatchQueue;
  private mode: 'direct' | 'spool' = 'direct';
  private segment: SpoolSegment | null = null;
  private onDisk = 0;
  private inFlight = 0;
  private replayBlocked = false;
  /** Last time the server acknowledged something (ms). */
  private progressAt = 0;
  private replaying = false;
  private kickScheduled = false;
  private closed = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly sleeper = new Sleeper();
  /** Woken when a batch leaves memory, the replay loop ends or sending stops: what flush/drain wait on. */
  private readonly changed = new Sleeper();
  private reported = new Set<string>();
  private readonly abort = new AbortController();
  private readonly o: Required<Omit<SenderOptions, 'onResolved' | 'http' | 'spoolDir'>> & Pick<SenderOptions, 'onResolved' | 'http' | 'spoolDir'>;
  private logged = 0;
  private spooled = 0;
  private retries = 0;
  private readonly tally: DeliveryTally;
  authError: string | null = null;

  constructor(opts: SenderOptions) {
    this.o = {
      maxBatchSize: 10_000,
      maxInFlight: 4,
      flushIntervalMs: 1000,
      maxBufferedPoints: 500_000,
      spoolAfterMs: 5000,
      startSpooling: false,
      offline: false,
      gzip: true,
      backoff: { baseMs: 250, maxMs: 10_000 },
      replayBackoff: { baseMs: 500, maxMs: 5_000 },
      requestTimeoutMs: 30_000,
      ...(Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<SenderOptions>),
    } as MetricSender['o'];
    this.q = new BatchQueue(randomBytes(6).toString('hex'), this.o.maxBatchSize, () => this.changed.wake());
    this.tally = new DeliveryTally((m) => this.o.logger.warn(m));
    if ((this.o.startSpooling || this.o.offline) && this.o.spoolDir) {
      this.mode = 'spool';
      this.ensureSegment();
    }
    this.timer = setInterval(() => this.tick(), this.o.flushIntervalMs);
    this.timer.unref?.();
    if (this.mode === 'spool') this.ensureReplay();
  }

  // ------------------------------------------------------------------ hot path

  /** Append one point. Synchronous and O(1) unless the memory bound forces a spill. */
  add(p: WirePoint): void {
    if (this.closed) {
      this.reportOnce('closed', 'warn', 'metric logged after finish() was ignored');
      return;
    }
    const n = this.q.add(p);
    this.logged++;
    if (n >= this.o.maxBatchSize && !this.kickScheduled) {
      this.kickScheduled = true;
      setImmediate(() => {
        this.kickScheduled = false;
        this.q.cut(false);
        this.pump();
      }).unref?.();
    }
    if (this.q.points > this.o.maxBufferedPoints) this.overflow();
  }

  // ------------------------------------------------------------------ public control

  get pendingPoints(): number {
    return this.q.points;
  }

  get spooling(): boolean {
    return this.mode === 'spool';
  }

  get spoolFile(): string | null {
    return this.segment?.path ?? null;
  }

  get spoolDir(): string | null {
    return this.o.spoolDir;
  }

  snapshot(): SenderStats {
    const t = this.tally;
    return {
      logged: this.logged,
      acked: t.acked,
      spooled: this.spooled,
      dropped: t.dropped,
      batchesSent: t.batchesSent,
      duplicateBatches: t.duplicateBatches,
      retries: this.retries,
      droppedPoints: structuredClone(t.droppedPoints),
      pending: this.pendingPoints,
      unsentOnDisk: this.onDisk,
      spooling: this.spooling,
      spoolFile: this.spoolFile,
      authError: this.authError,
    };
  }

  /** True when every point added so far was acknowledged (none only in memory or the spool, none dropped). */
  get delivered(): boolean {
    return this.pendingPoints === 0 && this.onDisk === 0 && this.tally.dropped === 0 && !this.authError;
  }

  /**
   * Wait until every point added so far is acknowledged or in the spool. Gives up at `timeoutMs`,
   * or when nothing was acknowledged for the offline grace; then the rest goes to the spool (the
   * run is offline until the server answers again). Resolves true when everything was
   * acknowledged, false otherwise — never later than the timeout or the grace.
   */
  async flush(timeoutMs = Infinity): Promise<boolean> {
    this.q.cut(true);
    const target = this.q.lastSeq;
    this.pump();
    const deadline = Date.now() + timeoutMs;
    this.progressAt = Math.max(this.progressAt, Date.now());
    const keep = setInterval(() => {}, 1 << 30); // hold the event loop open while waiting
    try {
      while (this.q.pendingUpTo(target)) {
        const now = Date.now();
        const graceEnd = this.progressAt + this.o.spoolAfterMs;
        if (now >= deadline || now >= graceEnd) {
          this.goOffline(now >= deadline ? 'flushMetrics timed out' : `no answer for ${this.o.spoolAfterMs} ms`);
          break;
        }
        await this.changed.sleep(Math.min(deadline, graceEnd, now + 1000) - now);
      }
    } finally {
      clearInterval(keep);
    }
    return !this.q.pendingUpTo(target) && this.onDisk === 0 && this.tally.dropped === 0 && !this.authError;
  }

  /**
   * Append a non-metric record (features, tags, code, status, artifact) through the spool, after
   * all metrics logged so far. Puts the sender in spool mode; the replay loop sends it.
   */
  spoolRecord(rec: SpoolRecord): boolean {
    if (!this.o.spoolDir) return false;
    this.mode = 'spool';
    this.q.cut(true);
    this.spoolQueue();
    this.ensureSegment().append([rec]);
    this.ensureReplay();
    return true;
  }

  /**
   * Deliver everything: send what is in memory and replay the spool, for as long as the server makes
   * progress. Gives up when `deadline` (epoch ms) passes or nothing was acknowledged for
   * `patienceMs`; then whatever is still only in memory is written to the spool. Returns true when
   * nothing is left to send (nothing in memory or on disk).
   */
  async drain(deadline: number, patienceMs: number): Promise<boolean> {
    const keep = setInterval(() => {}, 1 << 30); // keep the event loop alive while we wait
    try {
      this.progressAt = Math.max(this.progressAt, Date.now());
      let woken = 0;
      for (;;) {
        this.q.cut(true);
        this.pump();
        const idle = this.q.empty;
        if (idle && !this.segment) return true;
        if (idle && (this.o.offline || !this.o.http || this.replayBlocked)) return false;
        if (this.mode === 'spool') this.ensureReplay();
        const now = Date.now();
        if (now - woken >= 1000) {
          woken = now;
          this.sleeper.wake(); // someone is waiting: retry at least every second, not at the backoff's pace
        }
        const giveUpAt = Math.min(deadline, this.progressAt + patienceMs);
        if (now >= giveUpAt) {
          this.goOffline('finish gave up waiting'); // keep it on disk (no-op without a spool)
          return false;
        }
        await this.changed.sleep(Math.max(1, Math.min(giveUpAt, woken + 1000) - now));
      }
    } finally {
      clearInterval(keep);
    }
  }

  /**
   * Synchronously move everything unsent to the spool, then `last` if given (used from process
   * 'exit' with the final status, and on overflow). Starts no replay. Returns the number of points written.
   */
  spillSync(last?: SpoolRecord): number {
    if (!this.o.spoolDir) return 0;
    const before = this.spooled;
    this.mode = 'spool';
    this.q.cut(true);
    this.spoolQueue();
    if (last) this.ensureSegment().append([last]);
    return this.spooled - before;
  }

  /** Stop timers and requests; an unfinished spool segment is closed and left for syncSpool. */
  close(): void {
    if (!this.closed && this.pendingPoints > 0 && !this.o.spoolDir) {
      this.o.logger.error(`${this.pendingPoints} points could not be delivered and spooling is disabled: they are lost`);
    }
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.abort.abort();
    this.sleeper.wake();
    this.changed.wake();
    if (this.segment) {
      this.segment.close();
      this.segment = null;
    }
  }

  /**
   * The key was refused (401/403): stop sending for good and keep every unsent point in the spool
   * for `npx assay-sdk sync` with a valid key.
   */
  stopForAuth(err: unknown): void {
    if (this.authError) return;
    this.authError = (err as Error).message;
    this.replayBlocked = true;
    const where = this.o.spoolDir ? `every unsent point goes to the spool (${this.o.spoolDir})` : 'spooling is disabled: unsent points stay in memory';
    this.o.logger.error(`the server refused the API key (${this.authError}); sending stopped, ${where}`);
    if (this.o.spoolDir) this.goOffline('API key refused');
  }

  // ------------------------------------------------------------------ batching

  private tick(): void {
    this.q.cut(true);
    if (this.q.batches.length) this.pump();
    else if (this.mode === 'spool') this.ensureReplay();
  }

  private overflow(): void {
    if (this.o.spoolDir) {
      if (this.mode !== 'spool') {
        this.o.logger.warn(`more than ${this.o.maxBufferedPoints} points waiting in memory; spilling to the spool (${this.o.spoolDir})`);
      }
      this.spillSync();
      this.ensureReplay();
    } else {
      this.reportOnce('overflow', 'warn', `more than ${this.o.maxBufferedPoints} points waiting in memory and no spool directory; keeping them in memory`);
    }
  }

  /** A batch reached the server: count what it stored and what it refused. */
  private acked(points: number, dropped: DroppedPoint[], duplicate: boolean): void {
    this.progressAt = Date.now();
    this.tally.delivered(points, dropped, duplicate);
  }

  // ------------------------------------------------------------------ direct sending

  /**
   * Start sending queued batches, up to `maxInFlight` at once (the server's group commit merges
   * concurrent batches into one insert, so pipelining multiplies throughput). In spool mode the
   * queue goes to disk instead.
   */
  private pump(): void {
    if (this.closed) return;
    if (this.mode === 'spool') {
      this.spoolQueue();
      this.ensureReplay();
      return;
    }
    if (this.authError) return; // no spool: the points wait in memory; the key will not work again
    const batches = this.q.batches;
    for (let i = 0; i < batches.length; i++) {
      if (this.inFlight >= this.o.maxInFlight) break;
      const b = batches[i];
      if (b.sending || b.settled) continue;
      if (i > 0 && !this.q.independent(i)) break;
      b.sending = new AbortController();
      this.inFlight++;
      void this.sendDirect(b).finally(() => {
        this.inFlight--;
        b.sending = undefined;
        this.pump();
      });
    }
  }

  private async sendDirect(b: Batch): Promise<void> {
    const http = this.o.http;
    const start = Date.now();
    for (let attempt = 0; ; attempt++) {
      if (b.settled || this.mode === 'spool' || this.closed) return;
      const { projectId, experimentId } = this.o.ctx;
      if (!http || !projectId || !experimentId) {
        if (this.o.spoolDir) return this.enterSpool('experiment not resolved');
        await this.sleeper.sleep(1000); // no spool: keep the points in memory until the experiment resolves
        continue;
      }
      // a server that never answers counts as down: no attempt outlives the grace
      const left = this.o.spoolDir ? Math.max(100, this.o.spoolAfterMs - (Date.now() - start)) : Infinity;
      const signal = AbortSignal.any([b.sending!.signal, this.abort.signal]);
      try {
        const r = await postBatch(http, projectId, experimentId, b.id, b.metrics, { gzip: this.o.gzip, timeoutMs: Math.min(this.o.requestTimeoutMs, left), signal });
        if (b.settled) return; // spilled to the spool meanwhile: the replay will be a duplicate, fine
        this.acked(b.metrics.length, r.dropped, r.duplicate);
        this.q.settle(b);
        return;
      } catch (err) {
        if (b.settled) return;
        if (isAuthError(err)) return this.stopForAuth(err);
        if (classifyError(err) === 'fatal') return void (this.refuse(b.metrics, err), this.q.settle(b));
        this.retries++;
        if (this.o.spoolDir && Date.now() - start >= this.o.spoolAfterMs) return this.enterSpool((err as Error).message);
        if (attempt === 0) this.o.logger.debug(`batch ${b.id} failed (${(err as Error).message}); retrying`);
        await this.sleeper.sleep(retryDelay(err, attempt, this.o.backoff));
      }
    }
  }

  /** A 4xx other than 401/403/422 (e.g. the experiment was deleted): the batch can never succeed. */
  private refuse(metrics: WirePoint[], err: unknown): void {
    const reason = `batch refused (HTTP ${err instanceof AssayApiError ? err.status : 0}): ${(err as Error).message}`;
    this.tally.drop(metrics.map((p) => ({ metric: p.metric_name, reason })));
  }

  // ------------------------------------------------------------------ spool

  private enterSpool(reason: string): void {
    if (!this.o.spoolDir) return;
    if (this.mode !== 'spool') {
      this.mode = 'spool';
      const file = this.ensureSegment().path;
      if (!this.authError) this.o.logger.warn(`server unreachable (${reason}); spooling to ${file}`);
    }
    this.spoolQueue();
    this.ensureReplay();
  }

  /** Everything unacknowledged (in flight too) to the spool; the replay loop takes over. */
  private goOffline(reason: string): void {
    if (!this.o.spoolDir) return;
    this.q.cut(true);
    this.enterSpool(reason);
  }

  private ensureSegment(): SpoolSegment {
    if (!this.segment) this.segment = SpoolSegment.create(this.o.spoolDir!, this.o.header());
    return this.segment;
  }

  /** Write every queued batch (in order) to the spool and settle it. */
  private spoolQueue(): void {
    if (!this.q.batches.length || !this.o.spoolDir) return;
    const batches = this.q.batches.slice();
    const seg = this.ensureSegment();
    seg.append(batches.map((b) => ({ type: 'metrics', batch_id: b.id, metrics: b.metrics }) as SpoolRecord));
    for (const b of batches) {
      this.spooled += b.metrics.length;
      this.onDisk += b.metrics.length;
      this.q.settle(b);
    }
  }

  private ensureReplay(): void {
    if (this.replaying || this.replayBlocked || this.o.offline || !this.o.http || this.closed || this.mode !== 'spool') return;
    this.replaying = true;
    replaySpool(this.replayPort())
      .catch((err) => this.o.logger.error(`spool replay failed: ${(err as Error).stack ?? err}`))
      .finally(() => {
        this.replaying = false;
        if (this.mode === 'direct' && !this.q.empty) this.pump();
        this.changed.wake();
      });
  }

  private replayPort(): ReplayPort {
    const o = this.o;
    return {
      http: o.http!,
      ctx: o.ctx,
      maxInFlight: o.maxInFlight,
      backoff: o.replayBackoff,
      logger: o.logger,
      signal: this.abort.signal,
      // the replay blocks no caller: a probe may wait longer than the grace (a server just
      // restarted answers its first batch slowly); finish() and close() cut it off anyway
      timeoutMs: (probing) => (probing ? Math.min(o.requestTimeoutMs, Math.max(o.spoolAfterMs, 10_000)) : o.requestTimeoutMs),
      active: () => this.mode === 'spool' && !this.closed && !this.replayBlocked,
      segment: () => {
        this.q.cut(true);
        this.spoolQueue();
        return this.segment;
      },
      caughtUp: (seg) => {
        seg?.remove();
        this.segment = null;
        this.onDisk = 0;
        this.mode = 'direct';
        if (seg) o.logger.info('server reachable again; spool replayed');
      },
      applied: (rec, r) => {
        this.progressAt = Date.now();
        if (rec.type !== 'metrics') return;
        this.acked(rec.metrics.length, r.dropped ?? [], !!r.duplicate);
        this.onDisk = Math.max(0, this.onDisk - rec.metrics.length);
      },
      refused: (rec, err) => {
        if (rec.type !== 'metrics') return this.reportOnce(`refused-${rec.type}`, 'error', `server refused a spooled ${rec.type} record, skipped: ${(err as Error).message}`);
        this.refuse(rec.metrics, err);
        this.onDisk = Math.max(0, this.onDisk - rec.metrics.length);
      },
      blocked: (err, rec) => {
        if (isAuthError(err)) return this.stopForAuth(err);
        this.replayBlocked = true;
        o.logger.error(`cannot replay the spool (${rec.type}: ${(err as Error).message}); left in ${this.segment?.path} for syncSpool()`);
      },
      retried: (err) => {
        this.retries++;
        o.logger.debug(`spool replay: ${(err as Error).message}; retrying`);
      },
      resolved: () => o.onResolved?.(),
      sleep: (ms) => this.sleeper.sleep(ms),
    };
  }

  // ------------------------------------------------------------------ util

  private reportOnce(key: string, level: 'warn' | 'error', msg: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.o.logger[level](msg);
  }
}
