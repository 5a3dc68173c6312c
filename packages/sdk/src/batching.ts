/**
 * Which batches may be in flight together. The server keeps the latest write of a (metric, step,
 * host) ("later write wins"), so two unacknowledged batches that could write the same point must
 * not be sent concurrently. Browser-safe.
 */
import type { WirePoint } from './values.ts';

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
 * Could two batches write the same (metric, step, host)? Range overlap is a cheap, conservative
 * test; with auto steps consecutive batches never overlap.
 */
export function rangesOverlap(a: StepRanges, b: StepRanges): boolean {
  const [small, big] = a.size <= b.size ? [a, b] : [b, a];
  for (const [k, [lo, hi]] of small) {
    const r = big.get(k);
    if (r && lo <= r[1] && r[0] <= hi) return true;
  }
  return false;
}

/** A batch of points with its `batch_id`, chosen once: every re-send uses it. */
export interface Batch {
  seq: number;
  id: string;
  metrics: WirePoint[];
  settled: boolean;
  /** Set while a request for it is in flight (aborted when the batch is spooled meanwhile). */
  sending?: AbortController;
  ranges?: StepRanges;
}

/**
 * Points waiting in memory: a buffer that `add` appends to, cut into batches (in logging order)
 * that leave the queue once acknowledged, spooled or dropped.
 */
export class BatchQueue {
  private buffer: WirePoint[] = [];
  /** Unsettled batches, oldest first. */
  readonly batches: Batch[] = [];
  private queuedPoints = 0;
  private nextSeq = 1;

  constructor(
    private readonly runId: string,
    private readonly maxBatchSize: number,
    /** Told whenever a batch leaves the queue (what `flush` waits for). */
    private readonly onSettle: () => void = () => {},
  ) {}

  /** Append a point; returns how many are buffered (not yet cut). */
  add(p: WirePoint): number {
    return this.buffer.push(p);
  }

  /** Points in memory (buffered or in unsettled batches). */
  get points(): number {
    return this.buffer.length + this.queuedPoints;
  }

  get buffered(): number {
    return this.buffer.length;
  }

  get empty(): boolean {
    return this.batches.length === 0 && this.buffer.length === 0;
  }

  /** The seq of the last batch cut so far (flush waits for everything up to it). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Is a batch with seq ≤ `target` still unsettled? */
  pendingUpTo(target: number): boolean {
    return this.batches.length > 0 && this.batches[0].seq <= target;
  }

  /** Move buffered points into batches: full batches only, or everything when `all`. */
  cut(all: boolean): void {
    const size = this.maxBatchSize;
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
      this.batches.push({ seq, id: `${this.runId}-${seq}`, metrics, settled: false });
      this.queuedPoints += metrics.length;
    }
  }

  /** The batch is acknowledged, spooled or dropped: it leaves memory (an in-flight request for it is aborted). */
  settle(b: Batch): void {
    if (b.settled) return;
    b.settled = true;
    b.sending?.abort();
    const i = this.batches.indexOf(b);
    if (i >= 0) this.batches.splice(i, 1);
    this.queuedPoints -= b.metrics.length;
    this.onSettle();
  }

  /**
   * May batch `i` be sent now? Only past earlier unacknowledged batches that cannot touch the
   * same points.
   */
  independent(i: number): boolean {
    const b = this.batches[i];
    b.ranges ??= stepRanges(b.metrics);
    for (let j = 0; j < i; j++) {
      const a = this.batches[j];
      if (rangesOverlap((a.ranges ??= stepRanges(a.metrics)), b.ranges)) return false;
    }
    return true;
  }
}
