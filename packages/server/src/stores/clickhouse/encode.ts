/**
 * The ingest hot path: validate a batch body and encode it in one pass, without building
 * per-point objects, into a ClickHouse Native block for `metrics` (native.ts) plus the partial
 * aggregates of its points (partials.ts). Zod documents the same shape (contracts) and validates
 * every other route; here it would cost more than the ClickHouse insert itself (measured
 * ~1.2–1.6 µs per point for zod vs ~0.3 µs for this loop). Errors use the API's 422 format, so a
 * client can't tell which validator spoke.
 */
import os from 'node:os';
import { LIMITS, nameProblem, wireTimestampMs } from '@assay/contracts';
import { float64s, parseBinaryBatch, words64, type BinaryBatch, type ValidationIssue } from './binary-batch.ts';
import { ByteWriter, nativeString, u16, uuidBytes } from './native.ts';
import { encodePartials, MetricPartials, type PartialBlocks } from './partials.ts';

export type { ValidationIssue } from './binary-batch.ts';

export interface EncodedRows {
  /**
   * Native block of `metrics` rows (see METRICS_NATIVE_COLUMNS), as its pieces in order: the
   * columns stay the encoder's own arrays instead of being copied into one buffer.
   */
  points: Buffer[];
  /** Native blocks of the partial aggregates, per input table. */
  partials: PartialBlocks;
  count: number;
  /** Row i carries logged_at version versionBase + i. */
  versionBase: number;
  perMetric: Map<string, { points: number; lastTsMs: number }>;
  /** The first row's (metric_name, step, host): where the block starts in the table's key (writer.ts). */
  first?: { metricName: string; step: number; host: string };
}

export interface EncodeTarget {
  teamId: string;
  projectId: string;
  experimentId: string;
  /** The project's retention, carried on every row (ClickHouse TTL, ddl.ts migration 6). */
  retentionDays: number;
}

export type EncodeResult = { ok: true; rows: EncodedRows; batchId?: string } | { ok: false; issues: ValidationIssue[] };

/** The columns of the points block, in order, with the types written. */
export const METRICS_NATIVE_COLUMNS = [
  ['team_id', 'UUID'],
  ['project_id', 'UUID'],
  ['experiment_id', 'UUID'],
  ['metric_name', 'String'],
  ['step', 'UInt64'],
  ['host', 'String'],
  ['timestamp', "DateTime64(3, 'UTC')"],
  ['metric_value', 'Float64'],
  ['logged_at', "DateTime64(6, 'UTC')"],
  ['retention_days', 'UInt16'],
] as const;

/** Each column's name and type as the Native block spells them before its data. */
const COLUMN_HEADS = METRICS_NATIVE_COLUMNS.map(([name, type]) => Buffer.concat([nativeString(name), nativeString(type)]));

// The 64-bit columns are written as uint32 pairs through typed arrays and handed over as bytes.
if (os.endianness() !== 'LE') throw new Error('the Native encoder assumes a little-endian CPU');

const MAX_STEP = LIMITS.stepMax;
const MAX_ISSUES = 100;
const TWO_32 = 2 ** 32;

/** A wire value as a double, or undefined if it is not one. */
function toDouble(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return undefined;
}

function timestampMs(t: unknown, now: number): number | undefined {
  return t === undefined || t === null ? now : wireTimestampMs(t);
}

/** `arr` if it holds `need` items, else a copy at least twice as long holding its first `used`. */
function grown<T extends Uint32Array | Float64Array>(arr: T, used: number, need: number): T {
  if (need <= arr.length) return arr;
  const next = new (arr.constructor as new (n: number) => T)(Math.max(arr.length * 2, need));
  next.set(arr.subarray(0, used));
  return next;
}

/**
 * A growable column of 64-bit values, kept as uint32 pairs (little-endian halves). Sized for the
 * batch up front (Encoder): each doubling copied the column again, a few MB per 100k-point batch.
 */
class Int64Column {
  words: Uint32Array;
  n = 0;
  constructor(capacity: number) {
    this.words = new Uint32Array(2 * Math.max(1, capacity));
  }
  push(v: number): void {
    this.reserve(1);
    const lo = v % TWO_32;
    this.words[this.n * 2] = lo;
    this.words[this.n * 2 + 1] = (v - lo) / TWO_32;
    this.n++;
  }
  /** Appends 64-bit values given as their little-endian uint32 pairs. */
  pushWords(w: Uint32Array): void {
    this.reserve(w.length / 2);
    this.words.set(w, this.n * 2);
    this.n += w.length / 2;
  }
  reserve(more: number): void {
    this.words = grown(this.words, this.n * 2, (this.n + more) * 2);
  }
  get bytes(): Buffer {
    return Buffer.from(this.words.buffer, 0, this.n * 8);
  }
}

/** A growable column of doubles (also the importer's point buffer: no per-point number objects). */
export class Float64Column {
  values: Float64Array;
  n = 0;
  constructor(capacity = 1024) {
    this.values = new Float64Array(Math.max(1, capacity));
  }
  push(v: number): void {
    this.values = grown(this.values, this.n, this.n + 1);
    this.values[this.n++] = v;
  }
  pushAll(v: Float64Array): void {
    this.values = grown(this.values, this.n, this.n + v.length);
    this.values.set(v, this.n);
    this.n += v.length;
  }
  get bytes(): Buffer {
    return Buffer.from(this.values.buffer, 0, this.n * 8);
  }
  get view(): Float64Array {
    return this.values.subarray(0, this.n);
  }
}

interface MetricEntry {
  /** The name as a Native String value (varint length + UTF-8). */
  encoded: Buffer;
  stat: MetricStat;
  partials: MetricPartials;
}

interface HostEntry {
  name: string;
  encoded: Buffer;
}

const NO_HOST: HostEntry = { name: '', encoded: Buffer.from([0]) };

/**
 * Fills the columns of one Native block point by point; after the first invalid point it only
 * validates (the batch is rejected whole).
 */
class Encoder {
  private readonly names: ByteWriter;
  private readonly hostCol: ByteWriter;
  private readonly steps: Int64Column;
  private readonly times: Int64Column;
  private readonly values: Float64Column;
  private readonly versions: Int64Column;
  private hosts = new Map<string, HostEntry>();
  count = 0;
  issues: ValidationIssue[] = [];
  perMetric = new Map<string, MetricStat>();
  first: EncodedRows['first'];
  private metrics = new Map<string, MetricEntry>();

  /** `capacity`: the points the body holds (countPoints), so the columns never grow. */
  constructor(
    private readonly now: number,
    readonly versionBase: number,
    capacity: number,
  ) {
    this.names = new ByteWriter(Math.max(64, capacity * 12)); // names up to 11 bytes fit without a copy
    this.hostCol = new ByteWriter(Math.max(64, capacity));
    this.steps = new Int64Column(capacity);
    this.times = new Int64Column(capacity);
    this.values = new Float64Column(capacity);
    this.versions = new Int64Column(capacity);
  }

  fail(loc: (string | number)[], msg: string, type = 'value_error'): void {
    if (this.issues.length < MAX_ISSUES) this.issues.push({ loc, msg, type });
  }

  get full(): boolean {
    return this.issues.length >= MAX_ISSUES;
  }

  /** Validates a metric name; returns its entry, or undefined (issue recorded). */
  name(v: unknown, loc: (string | number)[]): MetricEntry | undefined {
    // a name already seen in this batch was valid then (the check runs once per distinct name)
    let e = typeof v === 'string' ? this.metrics.get(v) : undefined;
    if (e === undefined) {
      const problem = nameProblem(v, 'metric_name', LIMITS.metricNameMax);
      if (problem) {
        this.fail(loc, problem, typeof v === 'string' ? 'string_length' : 'string_type');
        return undefined;
      }
      const name = v as string;
      let stat = this.perMetric.get(name);
      if (!stat) this.perMetric.set(name, (stat = { points: 0, lastTsMs: 0 }));
      this.metrics.set(name, (e = { encoded: nativeString(name), stat, partials: new MetricPartials(name) }));
    }
    return e;
  }

  host(v: unknown, loc: (string | number)[]): HostEntry | undefined {
    if (v === undefined || v === null || v === '') return NO_HOST;
    let h = typeof v === 'string' ? this.hosts.get(v) : undefined;
    if (!h) {
      const problem = nameProblem(v, 'host', LIMITS.nameMax, 0);
      if (problem) {
        this.fail(loc, problem, 'string_type');
        return undefined;
      }
      this.hosts.set(v as string, (h = { name: v as string, encoded: nativeString(v as string) }));
    }
    return h;
  }

  point(metric: MetricEntry | undefined, step: unknown, value: unknown, ts: unknown, host: HostEntry | undefined, loc: (string | number)[], keys: [string, string, string]): void {
    let ok = metric !== undefined && host !== undefined;
    if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step > MAX_STEP) {
      this.fail([...loc, keys[0]], 'step must be an integer between 0 and 2^53-1', 'int_type');
      ok = false;
    }
    const v = toDouble(value);
    if (v === undefined) {
      this.fail([...loc, keys[1]], 'metric_value must be a number or one of "NaN", "Infinity", "-Infinity"', 'float_type');
      ok = false;
    }
    const ms = timestampMs(ts, this.now);
    if (ms === undefined) {
      this.fail([...loc, keys[2]], 'timestamp must be an ISO-8601 date-time or epoch milliseconds between 1970-01-01 and 2106-02-07T06:28:15.999Z', 'datetime_type');
      ok = false;
    }
    if (!ok || this.issues.length) return; // after the first error we only validate
    this.names.bytes(metric!.encoded);
    this.hostCol.bytes(host!.encoded);
    this.steps.push(step as number);
    this.times.push(ms!);
    this.values.push(v!);
    this.track(metric!, host!, step as number, ms!, v!);
  }

  /**
   * What every stored point adds besides its column values, on both roads (a JSON point, a binary
   * series): its logged_at version, its share of the partial aggregates and the per-metric counts.
   */
  private track(metric: MetricEntry, host: HostEntry, step: number, ms: number, v: number): void {
    if (this.count === 0) this.first = { metricName: metric.partials.name, step, host: host.name };
    const version = this.versionBase + this.count++;
    this.versions.push(version);
    metric.partials.add(step, ms, v, version, host.name);
    const stat = metric.stat;
    stat.points++;
    if (ms > stat.lastTsMs) stat.lastTsMs = ms;
  }

  /**
   * One series of a binary body: its columns are checked in one loop and appended whole (the
   * step and timestamp words are the Native UInt64/DateTime64 bytes already).
   */
  columns(metric: MetricEntry | undefined, host: HostEntry | undefined, steps: Uint32Array, values: Float64Array, ts: Uint32Array | null, loc: (string | number)[]): void {
    const n = values.length;
    // 2^53-1 and LIMITS.timestampMaxMs as (high word, low word) bounds
    const stepHi = Math.floor(MAX_STEP / TWO_32);
    const tsHi = Math.floor(LIMITS.timestampMaxMs / TWO_32);
    const tsLo = LIMITS.timestampMaxMs % TWO_32;
    for (let j = 0; j < n && !this.full; j++) {
      if (steps[2 * j + 1] > stepHi) this.fail([...loc, `steps.${j}`], 'step must be an integer between 0 and 2^53-1', 'int_type');
      if (ts && (ts[2 * j + 1] > tsHi || (ts[2 * j + 1] === tsHi && ts[2 * j] > tsLo))) {
        this.fail([...loc, `timestamps.${j}`], 'timestamp must be epoch milliseconds between 1970-01-01 and 2106-02-07T06:28:15.999Z', 'datetime_type');
      }
    }
    if (metric === undefined || host === undefined || this.issues.length) return;
    this.names.repeat(metric.encoded, n);
    this.hostCol.repeat(host.encoded, n);
    this.steps.pushWords(steps);
    this.values.pushAll(values);
    if (ts) this.times.pushWords(ts);
    this.versions.reserve(n);
    this.times.reserve(n);
    for (let j = 0; j < n; j++) {
      const ms = ts ? ts[2 * j + 1] * TWO_32 + ts[2 * j] : this.now;
      if (!ts) this.times.push(ms);
      this.track(metric, host, steps[2 * j + 1] * TWO_32 + steps[2 * j], ms, values[j]);
    }
  }

  /** The Native block: a header, then the columns in METRICS_NATIVE_COLUMNS order. */
  block(target: EncodeTarget): Buffer[] {
    const n = this.count;
    const repeated = (pattern: Buffer) => Buffer.allocUnsafe(pattern.length * n).fill(pattern);
    const data: Record<string, () => Buffer> = {
      team_id: () => repeated(uuidBytes(target.teamId)),
      project_id: () => repeated(uuidBytes(target.projectId)),
      experiment_id: () => repeated(uuidBytes(target.experimentId)),
      metric_name: () => this.names.result,
      step: () => this.steps.bytes,
      host: () => this.hostCol.result,
      timestamp: () => this.times.bytes,
      metric_value: () => this.values.bytes,
      logged_at: () => this.versions.bytes,
      retention_days: () => repeated(u16(target.retentionDays)),
    };
    const head = new ByteWriter(32);
    head.varint(METRICS_NATIVE_COLUMNS.length);
    head.varint(n);
    const pieces = [head.result];
    METRICS_NATIVE_COLUMNS.forEach(([name], i) => pieces.push(COLUMN_HEADS[i], data[name]()));
    return pieces;
  }

  partials(target: EncodeTarget): PartialBlocks {
    return encodePartials(target, [...this.metrics.values()].filter((m) => m.stat.points > 0).map((m) => m.partials));
  }
}

interface MetricStat {
  points: number;
  lastTsMs: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A binary body is walked once; the size check, the count and the encoder share the result. */
const walked = new WeakMap<Buffer, ReturnType<typeof parseBinaryBatch>>();
function walk(body: Buffer): ReturnType<typeof parseBinaryBatch> {
  let r = walked.get(body);
  if (!r) walked.set(body, (r = parseBinaryBatch(body)));
  return r;
}

/** Upper bound of the points in a body, known before validation (to reserve versions). */
export function countPoints(body: unknown): number {
  if (Buffer.isBuffer(body)) {
    const r = walk(body);
    return r.ok ? r.batch.points : 0;
  }
  if (!isObject(body)) return 0;
  let n = Array.isArray(body.metrics) ? body.metrics.length : 0;
  if (Array.isArray(body.series)) for (const s of body.series) if (isObject(s) && Array.isArray(s.steps)) n += s.steps.length;
  return n;
}

/**
 * Why a body exceeds the per-request counts (LIMITS.batchPointsMax rows, LIMITS.batchSeriesMax
 * series), or undefined. Checked before any version is reserved: such a batch is refused whole
 * with 413, which a client answers by splitting it — a 422 would tell it to drop the points.
 */
export function batchSizeProblem(body: unknown): string | undefined {
  if (Buffer.isBuffer(body)) {
    const r = walk(body);
    if (!r.ok) return undefined;
    if (r.batch.series.length > LIMITS.batchSeriesMax) {
      return `Batch too large: ${r.batch.series.length} series, at most ${LIMITS.batchSeriesMax} per request (batchSeriesMax); split it`;
    }
    if (r.batch.points > LIMITS.batchPointsMax) {
      return `Batch too large: ${r.batch.points} points, at most ${LIMITS.batchPointsMax} per binary request (batchPointsMax); split it`;
    }
    return undefined;
  }
  if (!isObject(body)) return undefined;
  const { metrics, series } = body;
  if (Array.isArray(metrics) && metrics.length > LIMITS.batchPointsMax) {
    return `Batch too large: ${metrics.length} points in metrics, at most ${LIMITS.batchPointsMax} per request (batchPointsMax); split it`;
  }
  if (Array.isArray(series) && series.length > LIMITS.batchSeriesMax) {
    return `Batch too large: ${series.length} entries in series, at most ${LIMITS.batchSeriesMax} per request (batchSeriesMax); split it`;
  }
  return undefined;
}

/**
 * Validates and encodes a batch body: `{batch_id?, metrics?: [...rows], series?: [...columns]}`.
 * Row i gets logged_at version `versionBase + i`.
 */
export function encodeBatch(body: unknown, target: EncodeTarget, now: number, versionBase: number): EncodeResult {
  const enc = new Encoder(now, versionBase, countPoints(body));
  if (Buffer.isBuffer(body)) {
    const r = walk(body);
    return r.ok ? encodeBinary(enc, r.batch, target) : { ok: false, issues: r.issues };
  }
  if (!isObject(body)) return { ok: false, issues: [{ loc: ['body'], msg: 'body must be a JSON object', type: 'model_type' }] };
  const { batch_id: batchId, metrics, series } = body;
  const batchIdProblem = batchId === undefined || batchId === null ? undefined : nameProblem(batchId, 'batch_id', LIMITS.batchIdMax);
  if (batchIdProblem) enc.fail(['body', 'batch_id'], batchIdProblem, 'string_type');
  if (metrics === undefined && series === undefined) enc.fail(['body'], 'either metrics or series is required', 'missing');
  if (metrics !== undefined) {
    if (!Array.isArray(metrics)) enc.fail(['body', 'metrics'], 'metrics must be an array', 'list_type');
    else {
      for (let i = 0; i < metrics.length && !enc.full; i++) {
        const m = metrics[i];
        const loc = ['body', 'metrics', i];
        if (!isObject(m)) {
          enc.fail(loc, 'each metric must be an object', 'model_type');
          continue;
        }
        const name = enc.name(m.metric_name, [...loc, 'metric_name']);
        const host = enc.host(m.host, [...loc, 'host']);
        enc.point(name, m.step, m.metric_value, m.timestamp, host, loc, ['step', 'metric_value', 'timestamp']);
      }
    }
  }
  if (series !== undefined) {
    if (!Array.isArray(series)) enc.fail(['body', 'series'], 'series must be an array', 'list_type');
    else {
      for (let i = 0; i < series.length && !enc.full; i++) {
        const s = series[i];
        const loc = ['body', 'series', i];
        if (!isObject(s)) {
          enc.fail(loc, 'each series must be an object', 'model_type');
          continue;
        }
        const { steps, values, timestamps } = s;
        const name = enc.name(s.metric_name, [...loc, 'metric_name']);
        const host = enc.host(s.host, [...loc, 'host']);
        if (!Array.isArray(steps)) enc.fail([...loc, 'steps'], 'steps must be an array', 'list_type');
        if (!Array.isArray(values)) enc.fail([...loc, 'values'], 'values must be an array', 'list_type');
        else if (Array.isArray(steps) && values.length !== steps.length) {
          enc.fail([...loc, 'values'], `values has ${values.length} items, steps has ${steps.length}`, 'length_mismatch');
        }
        if (timestamps !== undefined && timestamps !== null) {
          if (!Array.isArray(timestamps)) enc.fail([...loc, 'timestamps'], 'timestamps must be an array', 'list_type');
          else if (Array.isArray(steps) && timestamps.length !== steps.length) {
            enc.fail([...loc, 'timestamps'], `timestamps has ${timestamps.length} items, steps has ${steps.length}`, 'length_mismatch');
          }
        }
        if (enc.issues.length || name === undefined || host === undefined) continue;
        const ts = timestamps as unknown[] | null | undefined;
        const st = steps as unknown[];
        const vs = values as unknown[];
        for (let j = 0; j < st.length && !enc.full; j++) {
          enc.point(name, st[j], vs[j], ts?.[j], host, loc, [`steps.${j}`, `values.${j}`, `timestamps.${j}`]);
        }
      }
    }
  }
  return finish(enc, target, versionBase, batchId);
}

/** The binary body (binary-batch.ts): names checked once per series, columns copied whole. */
function encodeBinary(enc: Encoder, b: BinaryBatch, target: EncodeTarget): EncodeResult {
  const batchIdProblem = b.batchId === undefined ? undefined : nameProblem(b.batchId, 'batch_id', LIMITS.batchIdMax);
  if (batchIdProblem) enc.fail(['body', 'batch_id'], batchIdProblem, 'string_type');
  for (let i = 0; i < b.series.length && !enc.full; i++) {
    const s = b.series[i];
    const loc = ['body', 'series', i];
    const name = enc.name(s.name, [...loc, 'metric_name']);
    const host = enc.host(s.host, [...loc, 'host']);
    const ts = s.timestamps < 0 ? null : words64(b.buf, s.timestamps, s.n);
    enc.columns(name, host, words64(b.buf, s.steps, s.n), float64s(b.buf, s.values, s.n), ts, loc);
  }
  return finish(enc, target, enc.versionBase, b.batchId);
}

function finish(enc: Encoder, target: EncodeTarget, versionBase: number, batchId: unknown): EncodeResult {
  if (enc.issues.length) {
    // series element paths were flattened as "steps.3" for speed; split them for the client
    const issues = enc.issues.map((x) => ({ ...x, loc: x.loc.flatMap((p) => (typeof p === 'string' && /^\w+\.\d+$/.test(p) ? [p.split('.')[0], Number(p.split('.')[1])] : [p])) }));
    return { ok: false, issues };
  }
  const rows = { points: enc.block(target), partials: enc.partials(target), count: enc.count, versionBase, perMetric: dropEmpty(enc.perMetric), first: enc.first };
  return { ok: true, rows, batchId: (batchId as string | null | undefined) ?? undefined };
}

/** Names seen only on invalid points never reach the book-keeping. */
function dropEmpty(m: Map<string, MetricStat>): Map<string, MetricStat> {
  for (const [k, v] of m) if (v.points === 0) m.delete(k);
  return m;
}
