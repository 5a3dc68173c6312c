/**
 * Shared test vectors for one metric point: each says whether a field's value is accepted or
 * refused. The server, the TypeScript SDK and the Python SDK run every vector through their own
 * checks and must agree with `accept` — the "one table" of docs/contract.md made executable.
 * `packages/contracts/vectors.json` is rendered from this list (`npm run gen:contract-vectors`)
 * for the Python SDK; a test fails when the file drifts.
 *
 * Values are the wire form: JSON numbers, or the strings "NaN", "Infinity", "-Infinity" for
 * non-finite values; timestamps as epoch milliseconds or ISO-8601 strings. Lone surrogates travel
 * as JSON `\ud800` escapes (valid JSON, invalid Unicode).
 */
import { LIMITS } from './limits.ts';

export type PointField = 'metric_name' | 'step' | 'metric_value' | 'timestamp' | 'host';

export interface PointVector {
  field: PointField;
  /** What the case shows. */
  why: string;
  value: unknown;
  accept: boolean;
}

const emoji = '\u{1F600}'; // 1 code point, 2 UTF-16 units, 4 UTF-8 bytes
const v = (field: PointField, why: string, value: unknown, accept: boolean): PointVector => ({ field, why, value, accept });

export const POINT_VECTORS: readonly PointVector[] = [
  v('metric_name', 'plain name', 'loss', true),
  v('metric_name', 'slashes and spaces are plain text', 'val/loss top-1', true),
  v('metric_name', 'empty', '', false),
  v('metric_name', 'longest ASCII', 'a'.repeat(LIMITS.metricNameMax), true),
  v('metric_name', 'one ASCII character too long', 'a'.repeat(LIMITS.metricNameMax + 1), false),
  v('metric_name', 'longest in 4-byte emoji (counted in code points, not UTF-16 units)', emoji.repeat(LIMITS.metricNameMax), true),
  v('metric_name', 'one emoji too long', emoji.repeat(LIMITS.metricNameMax + 1), false),
  v('metric_name', 'NUL', 'loss\u0000', false),
  v('metric_name', 'unpaired high surrogate', 'loss\ud800', false),
  v('metric_name', 'unpaired low surrogate', '\udc00loss', false),
  v('metric_name', 'not a string', 5, false),
  v('step', 'zero', 0, true),
  v('step', 'largest exact integer', LIMITS.stepMax, true),
  v('step', 'beyond 2^53 - 1', LIMITS.stepMax + 1, false),
  v('step', 'negative', -1, false),
  v('step', 'fractional', 1.5, false),
  v('step', 'a string', '3', false),
  v('step', 'a boolean', true, false),
  v('metric_value', 'a number', 0.25, true),
  v('metric_value', 'negative zero', -0, true),
  v('metric_value', 'largest double', 1.7976931348623157e308, true),
  v('metric_value', 'smallest subnormal', 5e-324, true),
  v('metric_value', 'NaN', 'NaN', true),
  v('metric_value', '+Inf', 'Infinity', true),
  v('metric_value', '-Inf', '-Infinity', true),
  v('metric_value', 'a numeric string', '0.5', false),
  v('metric_value', 'lower-case nan', 'nan', false),
  v('metric_value', 'null', null, false),
  v('metric_value', 'a boolean', true, false),
  v('timestamp', 'the epoch', 0, true),
  v('timestamp', 'last storable millisecond', LIMITS.timestampMaxMs, true),
  v('timestamp', 'one millisecond too late', LIMITS.timestampMaxMs + 1, false),
  v('timestamp', 'before the epoch', -1, false),
  v('timestamp', 'last storable millisecond as ISO-8601', new Date(LIMITS.timestampMaxMs).toISOString(), true),
  v('timestamp', 'one millisecond too late as ISO-8601', new Date(LIMITS.timestampMaxMs + 1).toISOString(), false),
  v('timestamp', 'not a date', 'yesterday', false),
  v('host', 'no host', '', true),
  v('host', 'a host name', 'gpu-node-07', true),
  v('host', 'longest', 'h'.repeat(LIMITS.nameMax), true),
  v('host', 'too long', 'h'.repeat(LIMITS.nameMax + 1), false),
  v('host', 'longest in emoji', emoji.repeat(LIMITS.nameMax), true),
  v('host', 'NUL', 'node\u0000', false),
  v('host', 'unpaired surrogate', 'node\ud800', false),
];

/** The JSON rendering committed as packages/contracts/vectors.json. */
export function renderVectorsJson(): string {
  return JSON.stringify({ generated_from: 'packages/contracts/src/vectors.ts', point_vectors: POINT_VECTORS }, null, 1) + '\n';
}
