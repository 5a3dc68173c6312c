import { csvCell as cell } from '../components/format.ts';
import type { Track } from './types.ts';

const num = (v: number | null) => (v === null ? '' : Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : String(v));

/**
 * The chart's data as CSV: one row per plotted point. In bucket mode `value` is the bucket's last
 * value and min/max its extremes; in raw mode min = max = value.
 */
export function tracksCsv(rows: { run: string; metric: string; track: Track }[], range: { min: number; max: number } | null): string {
  const out = ['run,metric,step,timestamp,value,min,max,mode'];
  for (const { run, metric, track: t } of rows) {
    for (let i = 0; i < t.steps.length; i++) {
      const s = t.steps[i];
      if (range && (s < range.min || s > range.max)) continue;
      const ts = Number.isFinite(t.ts[i]) ? new Date(t.ts[i]).toISOString() : '';
      out.push([cell(run), cell(metric), String(s), ts, num(t.y[i]), num(t.lo[i]), num(t.hi[i]), t.mode].join(','));
    }
  }
  return out.join('\n') + '\n';
}
