/** TabSeparated encoding of metric points for the insert path. Pure functions, no I/O. */

export interface Point {
  metricName: string;
  step: number;
  value: number;
  tsMs: number;
  host: string;
}

export interface EncodedRows {
  /** Rows without the trailing logged_at column (appended at flush time). */
  lines: string[];
  count: number;
  perMetric: Map<string, { points: number; lastTsMs: number }>;
}

const TSV_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' };
const NEEDS_ESCAPE = /[\\\t\n\r\0]/;
export const escapeTsv = (s: string) => (NEEDS_ESCAPE.test(s) ? s.replace(/[\\\t\n\r\0]/g, (c) => TSV_ESCAPES[c]) : s);

export function formatFloat(v: number): string {
  if (Number.isFinite(v)) return String(v);
  if (Number.isNaN(v)) return 'nan';
  return v > 0 ? 'inf' : '-inf';
}

/** DateTime64 text input: seconds with a fraction (ClickHouse reads it exactly, no time zone). */
export function formatEpochMs(ms: number): string {
  const s = Math.floor(ms / 1000);
  const frac = ms - s * 1000;
  return `${s}.${String(frac).padStart(3, '0')}`;
}

export function formatEpochMicros(us: bigint): string {
  const s = us / 1_000_000n;
  return `${s}.${String(us - s * 1_000_000n).padStart(6, '0')}`;
}

export function encodePoints(teamId: string, projectId: string, experimentId: string, points: Iterable<Point>): EncodedRows {
  const prefix = `${teamId}\t${projectId}\t${experimentId}\t`;
  const lines: string[] = [];
  const perMetric = new Map<string, { points: number; lastTsMs: number }>();
  const escaped = new Map<string, string>();
  for (const p of points) {
    let name = escaped.get(p.metricName);
    if (name === undefined) escaped.set(p.metricName, (name = escapeTsv(p.metricName)));
    lines.push(`${prefix}${name}\t${p.step}\t${escapeTsv(p.host)}\t${formatEpochMs(p.tsMs)}\t${formatFloat(p.value)}\t`);
    const m = perMetric.get(p.metricName);
    if (m) {
      m.points++;
      if (p.tsMs > m.lastTsMs) m.lastTsMs = p.tsMs;
    } else perMetric.set(p.metricName, { points: 1, lastTsMs: p.tsMs });
  }
  return { lines, count: lines.length, perMetric };
}
