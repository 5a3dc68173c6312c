/**
 * The background sender (Node). `add()` is a synchronous array push; batches are cut by size
 * (`maxBatchSize`) or time (`flushIntervalMs`) and POSTed in order, up to `maxInFlight` at once,
 * each with a `batch_id` so a retry after a lost ack is a no-op on the server.
 *
 * Failure handling:
 *  - network error / 408 / 429 / 5xx → retry with exponential backoff + jitter (Retry-After wins);
 *  - other 4xx → logged once per status, the batch is dropped (it can never succeed);
 *  - failing for longer than `spoolAfterMs`, or more than `maxBufferedPoints` points in memory →
 *    everything unsent goes to the on-disk spool (in order) and new batches follow it there; a replay
 *    loop sends the spool back in order and, once it has caught up, deletes it and resumes direct
 *    sending. Nothing is dropped: without a spool directory the sender keeps retrying in memory.
 */
import { randomBytes } from 'node:crypto';
import { HttpClient } from './http.ts';
import { AssayApiError } from './errors.ts';
import { classifyError, retryDelay, type BackoffOptions } from './backoff.ts';
import type { Logger } from './logger.ts';
import { applyRecord, postBatch, type ReplayContext } from './ops.ts';
import { readRecords, SpoolSegment, type HeaderRecord, type SpoolRecord } from './spool.ts';
import type { WirePoint } from './values.ts';

export interface SenderOptions {
  http: HttpClient | null;
  ctx: ReplayContext;
  maxBatchSize?: number;
  /** Batches sent concurrently (default 4). 1 keeps strict send order. */
  maxInFlight?: number;
  flushIntervalMs?: number;
  maxBufferedPoints?: number;
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

export interface SenderStats {
  /** Points handed to add(). */
  logged: number;
  /** Points acknowledged by the server (directly or by spool replay). */
  acked: number;
  /** Points written to the spool. */
  spooled: number;
  /** Points rejected by the server with a non-retryable 4xx (dropped). */
  rejected: number;
  batchesSent: number;
  duplicateBatches: number;
  retries: number;
  /** Points currently buffered or queued in memory. */
  pending: number;
  spooling: boolean;
  spoolFile: string | null;
}

interface Batch {
  seq: number;
  id: string;
  metrics: WirePoint[];
  settled: boolean;
  sending?: boolean;
  ranges?: StepRanges;
}

/** Per series (host + metric name): the [min, max] step a batch touches. */
export type StepRanges = Map<string, [number, number]>;

export function stepRanges(points: WirePoint[]): StepRanges {
  const m: StepRanges = new Map();
  for (const p of points) {
    const k = p.host ? `${p.host}\u0000${p.metric_name}` : p.metric_name;
    const r = m.get(k);
    if (!r) m.set(k, [p.step, p.step]);
    else if (p.step < r[0]) r[0] = p.step;
    else if (p.step > r[1]) r[1] = p.step;
  }
  return m;
}

/**
 * Could two batches write the same (metric, step, host)? Then the later one must not be sent before
 * the earlier is acknowledged ("later write wins" on the server). Range overlap is a cheap,
 * conservative test; with auto steps consecutive batches never overlap.
 */
export function rangesOverlap(a: StepRanges, b: StepRanges): boolean {
  const [small, big] = a.size <= b.size ? [a, b] : [b, a];
  for (const [k, [lo, hi]] of small) {
    const r = big.get(k);
    if (r && lo <= r[1] && r[0] <= hi) return true;
  }
  return false;
}

interface Waiter {
  target: number;
  resolve: () => void;
}

export class MetricSender {
  private buffer: WirePoint[] = [];
  private queue: Batch[] = [];
  private queuedPoints = 0;
  private nextSeq = 1;
  private readonly runId = randomBytes(6).toString('hex');
  private waiters: Waiter[] = [];
  private mode: 'direct' | 'spool' = 'direct';
  private segment: SpoolSegment | null = null;
  private inFlight = 0;
  private replayBlocked = false;
  /** Last time the server acknowledged something (ms). */
  private progressAt = 0;
  private replaying = false;
  private kickScheduled = false;
  private closed = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private wakers = new Set<() => void>();
  private reported = new Set<string>();
  private readonly o: Required<Omit<SenderOptions, 'onResolved' | 'http' | 'spoolDir'>> & Pick<SenderOptions, 'onResolved' | 'http' | 'spoolDir'>;
  readonly stats: Omit<SenderStats, 'pending' | 'spooling' | 'spoolFile'> = {
    logged: 0,
    acked: 0,
    spooled: 0,
    rejected: 0,
    batchesSent: 0,
    duplicateBatches: 0,
    retries: 0,
  };

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
    const n = this.buffer.push(p);
    this.stats.logged++;
    if (n >= this.o.maxBatchSize && !this.kickScheduled) {
      this.kickScheduled = true;
      setImmediate(() => {
        this.kickScheduled = false;
        this.cut(false);
        this.pump();
      }).unref?.();
    }
    if (n + this.queuedPoints > this.o.maxBufferedPoints) this.overflow();
  }

  // ------------------------------------------------------------------ public control

  get pendingPoints(): number {
    return this.buffer.length + this.queuedPoints;
  }

  get spooling(): boolean {
    return this.mode === 'spool';
  }

  get spoolFile(): string | null {
    return this.segment?.path ?? null;
  }

  snapshot(): SenderStats {
    return { ...this.stats, pending: this.pendingPoints, spooling: this.spooling, spoolFile: this.spoolFile };
  }

  /** Resolves when every point added so far is acknowledged by the server or written to the spool. */
  flush(): Promise<void> {
    this.cut(true);
    const target = this.nextSeq - 1;
    this.pump();
    return this.waitSettled(target);
  }

  /**
   * Append a non-metric record (features, code, status, artifact) through the spool, after all
   * metrics logged so far. Puts the sender in spool mode; the replay loop sends it.
   */
  spoolRecord(rec: SpoolRecord): boolean {
    if (!this.o.spoolDir) return false;
    this.mode = 'spool';
    this.cut(true);
    this.spoolQueue();
    this.ensureSegment().append([rec]);
    this.ensureReplay();
    return true;
  }

  /**
   * Deliver everything: send what is in memory and replay the spool, for as long as the server makes
   * progress. Gives up when `deadline` (epoch ms) passes or nothing was acknowledged for
   * `patienceMs`; then whatever is still only in memory is written to the spool. Returns true when
   * every point reached the server (nothing left in memory or on disk).
   */
  async drain(deadline: number, patienceMs: number): Promise<boolean> {
    const keep = setInterval(() => {}, 1 << 30); // keep the event loop alive while we wait
    try {
      this.progressAt = Math.max(this.progressAt, Date.now());
      this.wake(); // retry now rather than at the end of the current backoff
      for (;;) {
        this.cut(true);
        this.pump();
        const idle = this.queue.length === 0 && this.buffer.length === 0;
        if (idle && !this.segment) return true;
        if (idle && (this.o.offline || !this.o.http || this.replayBlocked)) return false;
        if (this.mode === 'spool') this.ensureReplay();
        const now = Date.now();
        if (now >= deadline || now - this.progressAt >= patienceMs) {
          this.spillSync(); // stop retrying in memory: keep it on disk (no-op without a spool)
          return false;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      clearInterval(keep);
    }
  }

  /**
   * Synchronously move everything unsent to the spool (used from process 'exit' and on overflow).
   * Returns the number of points written.
   */
  spillSync(): number {
    if (!this.o.spoolDir) return 0;
    const before = this.stats.spooled;
    this.mode = 'spool';
    this.cut(true);
    this.spoolQueue();
    return this.stats.spooled - before;
  }

  /** Stop timers; an unfinished spool segment is closed and left for syncSpool. */
  close(): void {
    if (!this.closed && this.pendingPoints > 0 && !this.o.spoolDir) {
      this.o.logger.error(`${this.pendingPoints} points could not be delivered and spooling is disabled: they are lost`);
    }
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.wake();
    if (this.segment) {
      this.segment.close();
      this.segment = null;
    }
  }

  // ------------------------------------------------------------------ batching

  private tick(): void {
    if (this.buffer.length) this.cut(true);
    if (this.queue.length) this.pump();
    else if (this.mode === 'spool') this.ensureReplay();
  }

  /** Move buffered points into batches: full batches only, or everything when `all`. */
  private cut(all: boolean): void {
    const size = this.o.maxBatchSize;
    if (this.buffer.length === 0 || (!all && this.buffer.length < size)) return;
    const buf = this.buffer;
    let rest: WirePoint[] = [];
    let end = buf.length;
    if (!all) {
      end = buf.length - (buf.length % size);
      rest = buf.slice(end);
    }
    this.buffer = rest;
    for (let i = 0; i < end; i += size) {
      const metrics = i === 0 && end <= size && end === buf.length ? buf : buf.slice(i, Math.min(i + size, end));
      const seq = this.nextSeq++;
      this.queue.push({ seq, id: `${this.runId}-${seq}`, metrics, settled: false });
      this.queuedPoints += metrics.length;
    }
  }

  private settle(b: Batch): void {
    if (b.settled) return;
    b.settled = true;
    const i = this.queue.indexOf(b);
    if (i >= 0) this.queue.splice(i, 1);
    this.queuedPoints -= b.metrics.length;
    this.notify();
  }

  private notify(): void {
    if (!this.waiters.length) return;
    const head = this.queue.length ? this.queue[0].seq : Infinity;
    const still: Waiter[] = [];
    for (const w of this.waiters) (w.target < head ? w.resolve() : still.push(w));
    this.waiters = still;
  }

  private waitSettled(target: number): Promise<void> {
    const head = this.queue.length ? this.queue[0].seq : Infinity;
    if (target < head) return Promise.resolve();
    return new Promise((resolve) => {
      const keep = setInterval(() => {}, 1 << 30); // hold the event loop open until settled
      this.waiters.push({
        target,
        resolve: () => {
          clearInterval(keep);
          resolve();
        },
      });
    });
  }

  private overflow(): void {
    if (this.o.spoolDir) {
      if (this.mode !== 'spool') {
        this.o.logger.warn(
          `more than ${this.o.maxBufferedPoints} points waiting in memory; spilling to the spool (${this.o.spoolDir})`,
        );
      }
      this.spillSync();
      this.ensureReplay();
    } else {
      this.reportOnce('overflow', 'warn', `more than ${this.o.maxBufferedPoints} points waiting in memory and no spool directory; keeping them in memory`);
    }
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
    for (let i = 0; i < this.queue.length; i++) {
      if (this.inFlight >= this.o.maxInFlight) break;
      const b = this.queue[i];
      if (b.sending || b.settled) continue;
      if (i > 0) {
        // only pipeline past earlier unacknowledged batches that cannot touch the same points
        b.ranges ??= stepRanges(b.metrics);
        let clash = false;
        for (let j = 0; j < i && !clash; j++) {
          const a = this.queue[j];
          clash = rangesOverlap((a.ranges ??= stepRanges(a.metrics)), b.ranges);
        }
        if (clash) break;
      }
      b.sending = true;
      this.inFlight++;
      void this.sendDirect(b).finally(() => {
        this.inFlight--;
        b.sending = false;
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
        if (this.o.spoolDir) {
          this.enterSpool('experiment not resolved');
          return;
        }
        await this.sleep(1000); // no spool: keep the points in memory until the experiment resolves
        continue;
      }
      try {
        const r = await postBatch(http, projectId, experimentId, b.id, b.metrics, { gzip: this.o.gzip, timeoutMs: this.o.requestTimeoutMs });
        if (b.settled) return; // spilled to the spool meanwhile: the replay will be a duplicate, fine
        this.stats.batchesSent++;
        this.stats.acked += b.metrics.length;
        this.progressAt = Date.now();
        if (r.duplicate) this.stats.duplicateBatches++;
        this.settle(b);
        return;
      } catch (err) {
        if (b.settled) return;
        if (classifyError(err) === 'fatal') {
          this.reject(b, err);
          return;
        }
        this.stats.retries++;
        if (this.o.spoolDir && Date.now() - start >= this.o.spoolAfterMs) {
          this.enterSpool((err as Error).message);
          return;
        }
        if (attempt === 0) this.o.logger.debug(`batch ${b.id} failed (${(err as Error).message}); retrying`);
        await this.sleep(retryDelay(err, attempt, this.o.backoff));
      }
    }
  }

  private reject(b: Batch, err: unknown): void {
    const status = err instanceof AssayApiError ? err.status : 0;
    this.reportOnce(`reject-${status}`, 'error', `server rejected a batch of ${b.metrics.length} points, not retrying: ${(err as Error).message}`);
    this.stats.rejected += b.metrics.length;
    this.settle(b);
  }

  // ------------------------------------------------------------------ spool

  private enterSpool(reason: string): void {
    if (!this.o.spoolDir) return;
    if (this.mode !== 'spool') {
      this.mode = 'spool';
      this.o.logger.warn(`server unreachable (${reason}); spooling to ${this.ensureSegment().path}`);
    }
    this.spoolQueue();
    this.ensureReplay();
  }

  private ensureSegment(): SpoolSegment {
    if (!this.segment) {
      this.segment = SpoolSegment.create(this.o.spoolDir!, this.o.header());
    }
    return this.segment;
  }

  /** Write every queued batch (in order) to the spool and settle it. */
  private spoolQueue(): void {
    if (!this.queue.length || !this.o.spoolDir) return;
    const batches = this.queue.slice();
    const seg = this.ensureSegment();
    seg.append(batches.map((b) => ({ type: 'metrics', batch_id: b.id, metrics: b.metrics }) as SpoolRecord));
    for (const b of batches) {
      this.stats.spooled += b.metrics.length;
      this.settle(b);
    }
  }

  private ensureReplay(): void {
    if (this.replaying || this.replayBlocked || this.o.offline || !this.o.http || this.closed || this.mode !== 'spool') return;
    this.replaying = true;
    this.replay()
      .catch((err) => this.o.logger.error(`spool replay failed: ${(err as Error).stack ?? err}`))
      .finally(() => {
        this.replaying = false;
      });
  }

  private async replay(): Promise<void> {
    const http = this.o.http!;
    let attempt = 0;
    while (this.mode === 'spool' && !this.closed) {
      this.cut(true);
      this.spoolQueue();
      const seg = this.segment;
      if (!seg) {
        // spool mode without a segment (nothing was ever written): go direct
        this.mode = 'direct';
        break;
      }
      const items = readRecords(seg.path, seg.offset, 8 * 1024 * 1024, (line, at) =>
        this.o.logger.error(`corrupt spool line at byte ${at} of ${seg.path} skipped`),
      );
      if (items.length === 0) {
        // caught up (no await between the read and this point: nothing can have been appended)
        seg.remove();
        this.segment = null;
        this.mode = 'direct';
        this.o.logger.info('server reachable again; spool replayed');
        break;
      }
      // Metric batches are replayed up to `maxInFlight` at a time when they cannot touch the same
      // (metric, step); any other record is a barrier (sent alone, in order). The offset only advances over a prefix that fully succeeded.
      let i = 0;
      let retryErr: unknown = null;
      while (i < items.length && retryErr === null) {
        if (this.closed) return;
        let j = i + 1;
        const first = items[i].record;
        if (first.type === 'metrics') {
          const seen = [stepRanges(first.metrics)];
          while (j < items.length && j - i < this.o.maxInFlight) {
            const r = items[j].record;
            if (r.type !== 'metrics') break;
            const rr = stepRanges(r.metrics);
            if (seen.some((x) => rangesOverlap(x, rr))) break;
            seen.push(rr);
            j++;
          }
        }
        const win = items.slice(i, j);
        const hadIds = !!this.o.ctx.experimentId;
        const results = await Promise.allSettled(win.map((it) => applyRecord(http, this.o.ctx, it.record)));
        for (let k = 0; k < win.length; k++) {
          const it = win[k];
          const r = results[k];
          if (r.status === 'fulfilled') {
            if (it.record.type === 'metrics') {
              this.stats.acked += r.value.points;
              this.stats.batchesSent++;
              if (r.value.duplicate) this.stats.duplicateBatches++;
            }
            seg.setOffset(it.end);
            this.progressAt = Date.now();
            attempt = 0;
            continue;
          }
          const err = r.reason;
          if (classifyError(err) === 'fatal') {
            const status = err instanceof AssayApiError ? err.status : 0;
            if (it.record.type === 'header') {
              // cannot resolve the experiment (bad key, team mismatch): leave the spool for syncSpool
              this.replayBlocked = true;
              this.o.logger.error(`cannot replay the spool: ${(err as Error).message}; left in ${seg.path} for syncSpool()`);
              return;
            }
            this.reportOnce(`replay-reject-${status}`, 'error', `server rejected a spooled ${it.record.type} record, skipped: ${(err as Error).message}`);
            if (it.record.type === 'metrics') this.stats.rejected += it.record.metrics.length;
            seg.setOffset(it.end);
            continue;
          }
          retryErr = err; // later successes in this window are re-sent after the backoff: duplicates, harmless
          break;
        }
        if (!hadIds && this.o.ctx.experimentId) await this.o.onResolved?.();
        i = j;
      }
      if (retryErr !== null) {
        this.stats.retries++;
        await this.sleep(retryDelay(retryErr, attempt++, this.o.replayBackoff));
      }
    }
    if (this.mode === 'direct' && this.queue.length + this.buffer.length > 0) this.pump();
  }

  // ------------------------------------------------------------------ util

  /** Unref'd sleep that `wake()` cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      t.unref?.();
      this.wakers.add(done);
    });
  }

  /** Cut every backoff sleep short (retry now). */
  wake(): void {
    for (const w of [...this.wakers]) w();
  }

  private reportOnce(key: string, level: 'warn' | 'error', msg: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.o.logger[level](msg);
  }
}
