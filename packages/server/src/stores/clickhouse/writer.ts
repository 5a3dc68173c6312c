import { HttpError } from '../../errors.ts';
import type { Tenant } from '../postgres/tenant.ts';
import { formatEpochMicros, type EncodedRows } from './encode.ts';
import { insertMetricRows, type ClickHouseStore } from './query.ts';

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
}

/** Called after the insert succeeded and before any request is acknowledged. */
export type FlushListener = (flushed: WriteRequest[], remainingByExperiment: Map<string, number>) => Promise<void>;

interface Pending {
  req: WriteRequest;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit: requests append encoded rows; one insert carries everything buffered when it
 * starts, and each request's promise settles only when the insert holding its rows did — that is
 * the acknowledgement. One insert runs at a time; rows arriving meanwhile form the next one.
 */
export class MetricWriter {
  private queue: Pending[] = [];
  private queuedRows = 0;
  private inflightRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private lastLoggedAtUs = 0n;

  constructor(
    private readonly ch: ClickHouseStore,
    private readonly opts: WriterOptions,
    private readonly onFlushed: FlushListener,
    private readonly log: (err: unknown, msg: string) => void,
  ) {}

  get pendingRows(): number {
    return this.queuedRows + this.inflightRows;
  }

  submit(req: WriteRequest): Promise<void> {
    if (this.closed) return Promise.reject(new HttpError(503, 'Server is shutting down; retry later', { 'Retry-After': '1' }));
    if (this.pendingRows > 0 && this.pendingRows + req.rows.count > this.opts.maxPendingRows) {
      return Promise.reject(new HttpError(429, 'Ingest buffer full; retry later', { 'Retry-After': '1' }));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.queuedRows += req.rows.count;
      if (this.queuedRows >= this.opts.maxRows) this.kick();
      else if (!this.timer) this.timer = setTimeout(() => this.kick(), this.opts.maxDelayMs);
    });
  }

  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = this.flushOnce().finally(() => {
      this.flushing = undefined;
      if (this.queue.length) this.kick();
    });
  }

  /** logged_at is the ReplacingMergeTree version: strictly increasing, so the later write of a step wins. */
  private nextLoggedAt(): bigint {
    const now = BigInt(Date.now()) * 1000n;
    this.lastLoggedAtUs = now > this.lastLoggedAtUs ? now : this.lastLoggedAtUs + 1n;
    return this.lastLoggedAtUs;
  }

  private async flushOnce(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    const rows = this.queuedRows;
    this.queuedRows = 0;
    this.inflightRows = rows;
    try {
      const parts: string[] = [];
      for (const p of batch) {
        for (const line of p.req.rows.lines) parts.push(line + formatEpochMicros(this.nextLoggedAt()) + '\n');
      }
      await insertMetricRows(this.ch, Buffer.from(parts.join('')));
    } catch (err) {
      this.inflightRows = 0;
      this.log(err, 'metric insert failed');
      const e = new HttpError(503, 'Metric store unavailable; retry later', { 'Retry-After': '1' });
      for (const p of batch) p.reject(e);
      return;
    }
    this.inflightRows = 0;
    try {
      const remaining = new Map<string, number>();
      for (const p of this.queue) remaining.set(p.req.experimentId, (remaining.get(p.req.experimentId) ?? 0) + p.req.rows.count);
      await this.onFlushed(batch.map((p) => p.req), remaining);
    } catch (err) {
      // The points are durable; only the book-keeping failed. Acknowledge, and say so in the log.
      this.log(err, 'metric book-keeping failed after a durable insert');
    }
    for (const p of batch) p.resolve();
  }

  /** Stop accepting, write out everything buffered, then return. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.queue.length || this.flushing) {
      this.kick();
      await this.flushing;
    }
  }
}
