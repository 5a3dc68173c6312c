/** Wire encoding of metric values, steps, timestamps and names. Browser-safe. */

/** A metric value on the wire: a JSON number, or one of the three special strings. */
export type WireValue = number | 'NaN' | 'Infinity' | '-Infinity';

/** Anything `logMetric` accepts as a value: numbers, booleans, bigints, and scalar-like objects
 * with `.item()` (tfjs/onnx-style tensors, numpy-like wrappers) or a numeric `valueOf()`. */
export type MetricValueInput = number | boolean | bigint | { item(): unknown } | { valueOf(): unknown };

/** Timestamps accepted by the SDK: a Date, epoch milliseconds, or an ISO-8601 string. */
export type TimestampInput = Date | number | string;

export const MAX_STEP = Number.MAX_SAFE_INTEGER; // 2^53 − 1
export const MAX_METRIC_NAME_LENGTH = 250;

/** One point as sent to `POST /metrics/batch`. */
export interface WirePoint {
  metric_name: string;
  metric_value: WireValue;
  step: number;
  timestamp?: number | string;
  host?: string;
}

function toNumber(value: MetricValueInput): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'bigint') return Number(value);
  if (value !== null && typeof value === 'object') {
    const item = (value as { item?: unknown }).item;
    if (typeof item === 'function') {
      const v = item.call(value);
      if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return toNumber(v);
    } else {
      const v = (value as { valueOf(): unknown }).valueOf();
      if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return toNumber(v);
    }
  }
  throw new TypeError(`metric value must be a number (got ${describe(value)})`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v === 'string' ? `string ${JSON.stringify(v).slice(0, 40)}` : typeof v;
}

/** number-like → wire value. NaN/±Infinity become the API's strings. Throws TypeError otherwise. */
export function encodeValue(value: MetricValueInput): WireValue {
  const n = typeof value === 'number' ? value : toNumber(value);
  if (n - n === 0) return n; // finite (fast path: NaN−NaN and ∞−∞ are NaN)
  if (n !== n) return 'NaN';
  return n > 0 ? 'Infinity' : '-Infinity';
}

/** Wire value → number (the strings become NaN / ±Infinity). */
export function decodeValue(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return NaN;
  if (value === 'Infinity' || value === '+Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  if (value === null || value === undefined) return NaN;
  const n = Number(value);
  return n;
}

/** Validate a step: integer 0 … 2^53−1 (bigints accepted). Returns it as a number. */
export function normalizeStep(step: number | bigint): number {
  const s = typeof step === 'bigint' ? Number(step) : step;
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
    throw new RangeError(`step must be an integer between 0 and 2^53-1 (got ${String(step)})`);
  }
  return s;
}

/** Validate a metric name: 1–250 characters (Unicode code points), any content. */
export function validateMetricName(name: unknown): string {
  if (typeof name !== 'string') throw new TypeError(`metric name must be a string (got ${describe(name)})`);
  if (name.length === 0) throw new RangeError('metric name must not be empty');
  if (name.length > MAX_METRIC_NAME_LENGTH) {
    // length counts UTF-16 units; only count code points when it could matter.
    let cp = 0;
    for (const _ of name) cp++;
    if (cp > MAX_METRIC_NAME_LENGTH) throw new RangeError(`metric name longer than ${MAX_METRIC_NAME_LENGTH} characters`);
  }
  return name;
}

/** Timestamp input → epoch milliseconds (numbers) or the ISO string as given. */
export function encodeTimestamp(ts: TimestampInput): number | string {
  if (ts instanceof Date) {
    const t = ts.getTime();
    if (Number.isNaN(t)) throw new RangeError('invalid Date');
    return t;
  }
  if (typeof ts === 'number') {
    if (!Number.isFinite(ts) || ts < 0) throw new RangeError(`invalid timestamp ${ts}`);
    return Math.round(ts);
  }
  if (typeof ts === 'string') {
    if (Number.isNaN(Date.parse(ts))) throw new RangeError(`invalid ISO-8601 timestamp ${JSON.stringify(ts)}`);
    return ts;
  }
  throw new TypeError('timestamp must be a Date, epoch milliseconds or an ISO-8601 string');
}

/** Wire timestamp (ISO string or epoch ms) → Date. */
export function decodeTimestamp(ts: unknown): Date {
  if (typeof ts === 'number') return new Date(ts);
  if (typeof ts === 'string') {
    // ClickHouse-style "2024-01-01 00:00:00.000" without zone means UTC.
    const s = /^\d{4}-\d{2}-\d{2} \d/.test(ts) && !/[zZ]|[+-]\d\d:?\d\d$/.test(ts) ? ts.replace(' ', 'T') + 'Z' : ts;
    return new Date(s);
  }
  return new Date(NaN);
}
