import type { MetricValue } from '@assay/contracts';
import type { RawValue } from '../stores/clickhouse/queries/metrics.ts';

/** Wire ↔ number. JSON has no NaN/Inf, so those travel as "NaN", "Infinity", "-Infinity". */
export function fromWire(v: MetricValue): number {
  if (typeof v === 'number') return v;
  return v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : -Infinity;
}

export function toWire(v: number): MetricValue {
  if (Number.isFinite(v)) return v;
  if (Number.isNaN(v)) return 'NaN';
  return v > 0 ? 'Infinity' : '-Infinity';
}

/** ClickHouse JSON (output_format_json_quote_denormals=1) writes nan/inf/-inf as strings. */
export function chToWire(v: RawValue): MetricValue {
  if (typeof v === 'number') return v;
  const s = v.toLowerCase();
  if (s === 'nan' || s === '-nan') return 'NaN';
  if (s === 'inf' || s === '+inf') return 'Infinity';
  if (s === '-inf') return '-Infinity';
  return Number(v);
}

export const chToNumber = (v: RawValue): number => fromWire(chToWire(v));
