/**
 * The ingest hot path: validate a batch body and encode it to narrow TabSeparated rows in one
 * pass, without building per-point objects. Zod documents the same shape (contracts) and
 * validates every other route; here it would cost more than the ClickHouse insert itself
 * (measured ~1.2–1.6 µs per point for zod vs ~0.3 µs for this loop — see the issue note).
 * Errors use the API's 422 format, so a client can't tell which validator spoke.
 * Measured (columnar, 10k points per body): JSON.parse ~0.1 µs/point, this encoder ~0.3 µs/point.
 */

export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export interface EncodedRows {
  /** Narrow TSV rows: ingest_key, metric_name, step, host, ts_ms, value_bits, logged_us. */
  tsv: Buffer;
  count: number;
  /** Row i carries logged_at version versionBase + i. */
  versionBase: number;
  perMetric: Map<string, { points: number; lastTsMs: number }>;
}

export type EncodeResult = { ok: true; rows: EncodedRows; batchId?: string } | { ok: false; issues: ValidationIssue[] };

const MAX_STEP = Number.MAX_SAFE_INTEGER;
const MAX_TS = 253402300799999; // 9999-12-31
const MAX_ISSUES = 100;
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

const TSV_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' };
const NEEDS_ESCAPE = /[\\\t\n\r\0]/;
export const escapeTsv = (s: string) => (NEEDS_ESCAPE.test(s) ? s.replace(/[\\\t\n\r\0]/g, (c) => TSV_ESCAPES[c]) : s);

/** A wire value as a double, or undefined if it is not one. */
function toDouble(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return undefined;
}

const HEX = Buffer.from('0123456789abcdef');
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);

function timestampMs(t: unknown, now: number): number | undefined {
  if (t === undefined || t === null) return now;
  if (typeof t === 'number') return Number.isInteger(t) && t >= 0 && t <= MAX_TS ? t : undefined;
  if (typeof t === 'string' && ISO_RE.test(t)) {
    const ms = Date.parse(t);
    return Number.isNaN(ms) || ms < 0 || ms > MAX_TS ? undefined : ms;
  }
  return undefined;
}

/**
 * Writes rows straight into a growing byte buffer: no per-row strings, so the hot loop allocates
 * nothing (string building was a quarter of its time plus most of the GC).
 */
class Encoder {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private pos = 0;
  private hosts = new Map<string, Buffer>();
  count = 0;
  issues: ValidationIssue[] = [];
  perMetric = new Map<string, MetricStat>();
  /** Per metric name: the row's leading columns (ingest key, escaped name) and its counters. */
  private names = new Map<string, { head: Buffer; stat: MetricStat }>();

  constructor(
    private readonly now: number,
    private readonly versionBase: number,
    private readonly prefix: string,
  ) {}

  fail(loc: (string | number)[], msg: string, type = 'value_error'): void {
    if (this.issues.length < MAX_ISSUES) this.issues.push({ loc, msg, type });
  }

  get full(): boolean {
    return this.issues.length >= MAX_ISSUES;
  }

  /** Validates a metric name; returns its row head and counters, or undefined (issue recorded). */
  name(v: unknown, loc: (string | number)[]): { head: Buffer; stat: MetricStat } | undefined {
    if (typeof v !== 'string' || v.length < 1 || v.length > 250) {
      this.fail(loc, 'metric_name must be a string of 1–250 characters', typeof v === 'string' ? 'string_length' : 'string_type');
      return undefined;
    }
    let e = this.names.get(v);
    if (e === undefined) {
      let stat = this.perMetric.get(v);
      if (!stat) this.perMetric.set(v, (stat = { points: 0, lastTsMs: 0 }));
      this.names.set(v, (e = { head: Buffer.from(`${this.prefix}${escapeTsv(v)}\t`), stat }));
    }
    return e;
  }

  host(v: unknown, loc: (string | number)[]): Buffer | undefined {
    if (v === undefined || v === null) v = '';
    if (typeof v !== 'string' || v.length > 255) {
      this.fail(loc, 'host must be a string of at most 255 characters', 'string_type');
      return undefined;
    }
    let b = this.hosts.get(v);
    if (!b) this.hosts.set(v, (b = Buffer.from(escapeTsv(v))));
    return b;
  }

  get bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** A non-negative integer below 2^53 in decimal, written backwards from its last digit. */
  private uint(n: number): void {
    let len = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) len++;
    let p = this.pos + len - 1;
    do {
      const q = Math.floor(n / 10);
      this.buf[p--] = 48 + (n - q * 10);
      n = q;
    } while (n > 0);
    this.pos += len;
  }

  private bits(v: number): void {
    F64[0] = v;
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < 8; i++) {
      const x = F64_BYTES[i];
      b[p++] = HEX[x >> 4];
      b[p++] = HEX[x & 15];
    }
    this.pos = p;
  }

  point(head: Buffer, stat: MetricStat, step: unknown, value: unknown, ts: unknown, host: Buffer, loc: (string | number)[], keys: [string, string, string]): void {
    let ok = true;
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
      this.fail([...loc, keys[2]], 'timestamp must be an ISO-8601 date-time or epoch milliseconds', 'datetime_type');
      ok = false;
    }
    if (!ok || this.issues.length) return; // after the first error we only validate
    // head | step \t host \t ms \t bits \t version \n — at most head + host + 16+16+16+17 + 5
    this.ensure(head.length + host.length + 80);
    const b = this.buf;
    head.copy(b, this.pos);
    this.pos += head.length;
    this.uint(step as number);
    b[this.pos++] = 9;
    if (host.length) {
      host.copy(b, this.pos);
      this.pos += host.length;
    }
    b[this.pos++] = 9;
    this.uint(ms!);
    b[this.pos++] = 9;
    this.bits(v!);
    b[this.pos++] = 9;
    this.uint(this.versionBase + this.count);
    b[this.pos++] = 10;
    this.count++;
    stat.points++;
    if (ms! > stat.lastTsMs) stat.lastTsMs = ms!;
  }
}

interface MetricStat {
  points: number;
  lastTsMs: number;
}

const EMPTY = Buffer.alloc(0);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Upper bound of the points in a body, known before validation (to reserve versions). */
export function countPoints(body: unknown): number {
  if (!isObject(body)) return 0;
  let n = Array.isArray(body.metrics) ? body.metrics.length : 0;
  if (Array.isArray(body.series)) for (const s of body.series) if (isObject(s) && Array.isArray(s.steps)) n += s.steps.length;
  return n;
}

/**
 * Validates and encodes a batch body: `{batch_id?, metrics?: [...rows], series?: [...columns]}`.
 * Row i gets logged_at version `versionBase + i`.
 */
export function encodeBatch(body: unknown, ingestKey: number, now: number, versionBase: number): EncodeResult {
  const enc = new Encoder(now, versionBase, `${ingestKey}\t`);
  if (!isObject(body)) return { ok: false, issues: [{ loc: ['body'], msg: 'body must be a JSON object', type: 'model_type' }] };
  const { batch_id: batchId, metrics, series } = body;
  if (batchId !== undefined && batchId !== null && (typeof batchId !== 'string' || batchId.length < 1 || batchId.length > 128)) {
    enc.fail(['body', 'batch_id'], 'batch_id must be a string of 1–128 characters', 'string_type');
  }
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
        if (name === undefined || host === undefined) {
          enc.point(EMPTY, { points: 0, lastTsMs: 0 }, m.step, m.metric_value, m.timestamp, EMPTY, loc, ['step', 'metric_value', 'timestamp']);
          continue;
        }
        enc.point(name.head, name.stat, m.step, m.metric_value, m.timestamp, host, loc, ['step', 'metric_value', 'timestamp']);
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
          enc.point(name.head, name.stat, st[j], vs[j], ts?.[j], host, loc, [`steps.${j}`, `values.${j}`, `timestamps.${j}`]);
        }
      }
    }
  }
  if (enc.issues.length) {
    // series element paths were flattened as "steps.3" for speed; split them for the client
    const issues = enc.issues.map((x) => ({ ...x, loc: x.loc.flatMap((p) => (typeof p === 'string' && /^\w+\.\d+$/.test(p) ? [p.split('.')[0], Number(p.split('.')[1])] : [p])) }));
    return { ok: false, issues };
  }
  return { ok: true, rows: { tsv: enc.bytes, count: enc.count, versionBase, perMetric: dropEmpty(enc.perMetric) }, batchId: (batchId as string | null | undefined) ?? undefined };
}

/** Names seen only on invalid points never reach the book-keeping. */
function dropEmpty(m: Map<string, MetricStat>): Map<string, MetricStat> {
  for (const [k, v] of m) if (v.points === 0) m.delete(k);
  return m;
}
