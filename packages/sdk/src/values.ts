/**
 * Wire encoding and the checks at the call: metric values, steps, timestamps and names, with the
 * server's rules (LIMITS and nameProblem from the contract; lengths in code points). Browser-safe.
 */
import { LIMITS, nameProblem, wireTimestampMs } from './limits.ts';
import type { MetricLogRequest, WireValue } from './wire.ts';

export type { WireValue };

/** Anything `logMetric` accepts as a value: numbers, booleans, bigints, and scalar-like objects
 * with `.item()` (tfjs/onnx-style tensors, numpy-like wrappers) or a numeric `valueOf()`. */
export type MetricValueInput = number | boolean | bigint | { item(): unknown } | { valueOf(): unknown };

/** Timestamps accepted by the SDK: a Date, epoch milliseconds, or an ISO-8601 string. */
export type TimestampInput = Date | number | string;

export const MAX_STEP = LIMITS.stepMax; // 2^53 − 1

/** One point as sent to `POST /metrics/batch` (the SDK always sends epoch-ms timestamps). */
export type WirePoint = Omit<MetricLogRequest, 'timestamp' | 'host'> & { timestamp?: number | string; host?: string };

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
  return Number(value);
}

/** Validate a step: integer 0 … 2^53−1 (bigints accepted). Returns it as a number. */
export function normalizeStep(step: number | bigint): number {
  const s = typeof step === 'bigint' ? Number(step) : step;
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
    throw new RangeError(`step must be an integer between 0 and 2^53-1 (got ${String(step)})`);
  }
  return s;
}

/** Throw the error the contract promises at the call: TypeError for a non-string, else RangeError. */
function checkName(value: unknown, field: string, max: number, min: number): string {
  const problem = nameProblem(value, field, max, min);
  if (problem) throw typeof value === 'string' ? new RangeError(problem) : new TypeError(problem);
  return value as string;
}

/** A metric name: 1–250 code points, any text but NUL, no unpaired surrogates. */
export function validateMetricName(name: unknown): string {
  return checkName(name, 'metric_name', LIMITS.metricNameMax, 1);
}

/** A host name: 0–255 code points, no NUL, no unpaired surrogates. */
export function validateHost(host: unknown): string {
  return checkName(host, 'host', LIMITS.nameMax, 0);
}

/** The latest storable time, as the messages say it (LIMITS.timestampMaxMs). */
const TIMESTAMP_MAX_ISO = new Date(LIMITS.timestampMaxMs).toISOString();

function checkMs(ms: number, shown: unknown): number {
  if (!(ms >= 0 && ms <= LIMITS.timestampMaxMs)) {
    throw new RangeError(`timestamp ${String(shown)} is outside 1970-01-01 … ${TIMESTAMP_MAX_ISO}`);
  }
  return ms;
}

/** Timestamp input → epoch milliseconds, checked against what the server can store. */
export function encodeTimestamp(ts: TimestampInput): number {
  if (ts instanceof Date) {
    const t = ts.getTime();
    if (Number.isNaN(t)) throw new RangeError('invalid Date');
    return checkMs(t, ts.toISOString());
  }
  if (typeof ts === 'number') {
    if (!Number.isFinite(ts)) throw new RangeError(`invalid timestamp ${ts}`);
    return checkMs(Math.round(ts), ts);
  }
  if (typeof ts === 'string') {
    const ms = wireTimestampMs(ts);
    if (ms === undefined) {
      if (!Number.isNaN(Date.parse(ts))) checkMs(Date.parse(ts), ts); // well-formed but out of range: say so
      throw new RangeError(`invalid ISO-8601 timestamp ${JSON.stringify(ts)} (date and time with a zone, e.g. 2024-01-02T03:04:05Z)`);
    }
    return ms;
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

/**
 * Why the server would refuse this wire point (the field and the reason), or undefined. The same
 * rules as the server's batch encoder; used to re-check what is left of a batch after a 422 and
 * for points read back from an older spool.
 */
export function pointProblem(p: Record<string, unknown>): { field: string; msg: string } | undefined {
  const name = nameProblem(p.metric_name, 'metric_name', LIMITS.metricNameMax);
  if (name) return { field: 'metric_name', msg: name };
  if (p.host !== undefined && p.host !== null) {
    const host = nameProblem(p.host, 'host', LIMITS.nameMax, 0);
    if (host) return { field: 'host', msg: host };
  }
  const s = p.step;
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s > LIMITS.stepMax) return { field: 'step', msg: 'step must be an integer between 0 and 2^53-1' };
  const v = p.metric_value;
  if (typeof v !== 'number' && v !== 'NaN' && v !== 'Infinity' && v !== '-Infinity') {
    return { field: 'metric_value', msg: 'metric_value must be a number or one of "NaN", "Infinity", "-Infinity"' };
  }
  const t = p.timestamp;
  if (t !== undefined && t !== null) {
    if (wireTimestampMs(t) === undefined) return { field: 'timestamp', msg: `timestamp must be epoch ms or ISO-8601 between 1970-01-01 and ${TIMESTAMP_MAX_ISO}` };
  }
  return undefined;
}
