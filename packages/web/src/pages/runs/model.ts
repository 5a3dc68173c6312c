import { toNumber } from '../../api.ts';
import { csvCell, flatten, fmtDate, fmtDuration, fmtFeature, fmtValue } from '../../components/format.ts';

/** `GET /projects/{id}/runs-table` (docs/api.md). */
export interface MetricSummary {
  last: number | string | null;
  min: number | string | null;
  max: number | string | null;
  best: number | string | null;
  count: number;
  last_step: number | null;
}
export interface TableRun {
  id: string;
  name: string;
  status: string;
  host: string | null;
  tags: string[];
  description: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  last_heartbeat_at: string | null;
  parent_ids: string[];
  features: Record<string, unknown>;
  metrics: Record<string, MetricSummary>;
}
export interface TableMetric {
  name: string;
  direction: 'minimize' | 'maximize';
  aggregation: string;
  configured: boolean;
}
export interface RunsTable {
  items: TableRun[];
  metrics: TableMetric[];
  truncated: boolean;
}

/** A run with what the table needs precomputed once per fetch (flattened features, lowercase text). */
export interface Row {
  run: TableRun;
  flat: Record<string, unknown>;
  text: string;
}

export const AGGS = ['last', 'min', 'max', 'best'] as const;
export type Agg = (typeof AGGS)[number];

export type Column =
  | { id: string; kind: 'status' | 'name' | 'duration' | 'host' | 'tags' | 'created'; label: string; width: number }
  | { id: string; kind: 'feature'; key: string; label: string; width: number }
  | { id: string; kind: 'metric'; metric: string; agg: Agg; direction: 'minimize' | 'maximize'; label: string; width: number };

/** A heartbeat within this long marks a running run as live (the SDK beats every ~10–30 s). */
export const LIVE_MS = 60_000;

export function isLive(run: TableRun, now: number): boolean {
  return run.status === 'running' && !!run.last_heartbeat_at && now - new Date(run.last_heartbeat_at).getTime() < LIVE_MS;
}

export function durationMs(run: TableRun, now: number): number | null {
  const start = run.started_at ?? run.created_at;
  if (!start) return null;
  const end = run.finished_at ? new Date(run.finished_at).getTime() : run.status === 'running' ? now : run.last_heartbeat_at ? new Date(run.last_heartbeat_at).getTime() : null;
  return end === null ? null : end - new Date(start).getTime();
}

export function toRows(items: TableRun[]): Row[] {
  return items.map((run) => ({
    run,
    flat: flatten(run.features ?? {}),
    text: `${run.name}\n${run.host ?? ''}\n${(run.tags ?? []).join('\n')}`.toLowerCase(),
  }));
}

export const BASE_COLUMNS: Column[] = [
  { id: 'duration', kind: 'duration', label: 'Duration', width: 92 },
  { id: 'host', kind: 'host', label: 'Host', width: 120 },
  { id: 'tags', kind: 'tags', label: 'Tags', width: 130 },
  { id: 'created', kind: 'created', label: 'Created', width: 124 },
];

export function featureColumn(key: string): Column {
  return { id: `f:${key}`, kind: 'feature', key, label: key, width: 110 };
}

export function metricColumn(m: TableMetric, agg: Agg): Column {
  return { id: `metric:${m.name}:${agg}`, kind: 'metric', metric: m.name, agg, direction: m.direction, label: m.name, width: 104 };
}

/** Every column the chooser offers: base, each flattened feature key, each metric × aggregation. */
export function allColumns(rows: Row[], metrics: TableMetric[]): Column[] {
  const keys = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r.flat)) keys.add(k);
  return [
    ...BASE_COLUMNS,
    ...[...keys].sort().map(featureColumn),
    ...metrics.flatMap((m) => AGGS.map((a) => metricColumn(m, a))),
  ];
}

/**
 * Without a `col` choice in the URL: the base columns, the feature keys whose values differ
 * between runs (those are what a sweep varies; at most 12), and every metric's summaries.
 */
export function defaultColumnIds(rows: Row[], metrics: TableMetric[]): string[] {
  const seen = new Map<string, Set<string>>();
  for (const r of rows)
    for (const [k, v] of Object.entries(r.flat)) {
      let s = seen.get(k);
      if (!s) seen.set(k, (s = new Set()));
      if (s.size < 2) s.add(JSON.stringify(v));
    }
  const varying = [...seen.entries()].filter(([k, s]) => s.size > 1 || rows.some((r) => !(k in r.flat))).map(([k]) => k).sort().slice(0, 12);
  return [
    ...BASE_COLUMNS.map((c) => c.id),
    ...varying.map((k) => `f:${k}`),
    ...metrics.flatMap((m) => AGGS.map((a) => `metric:${m.name}:${a}`)),
  ];
}

/** Column ids the URL names → columns; ids of metrics/features no run has (yet) are kept as empty columns. */
export function resolveColumns(ids: string[], metrics: TableMetric[]): Column[] {
  const byName = new Map(metrics.map((m) => [m.name, m]));
  const out: Column[] = [];
  for (const id of ids) {
    const base = BASE_COLUMNS.find((c) => c.id === id);
    if (base) out.push(base);
    else if (id.startsWith('f:')) out.push(featureColumn(id.slice(2)));
    else if (id.startsWith('metric:')) {
      const agg = id.slice(id.lastIndexOf(':') + 1) as Agg;
      const name = id.slice(7, id.lastIndexOf(':'));
      if (!AGGS.includes(agg) || !name) continue;
      out.push(metricColumn(byName.get(name) ?? { name, direction: 'maximize', aggregation: 'last', configured: false }, agg));
    }
  }
  return out;
}

/** Raw value of a cell for sorting: numbers for numeric cells, strings otherwise, null when absent. */
export function sortValue(row: Row, col: Column, now: number): number | string | null {
  const r = row.run;
  switch (col.kind) {
    case 'status':
      return r.status;
    case 'name':
      return r.name;
    case 'duration':
      return durationMs(r, now);
    case 'host':
      return r.host;
    case 'tags':
      return r.tags.length ? r.tags.join(', ') : null;
    case 'created':
      return r.created_at;
    case 'feature': {
      const v = row.flat[col.key];
      if (v === undefined) return null;
      return typeof v === 'number' ? v : fmtFeature(v);
    }
    case 'metric': {
      const m = r.metrics[col.metric];
      return m ? toNumber(m[col.agg]) : null;
    }
  }
}

export function cellText(row: Row, col: Column, now: number): string {
  const r = row.run;
  switch (col.kind) {
    case 'duration':
      return fmtDuration(durationMs(r, now));
    case 'tags':
      return r.tags.join(', ');
    case 'created':
      return fmtDate(r.created_at);
    case 'feature':
      return fmtFeature(row.flat[col.key]);
    case 'metric': {
      const m = r.metrics[col.metric];
      return m ? fmtValue(m[col.agg]) : '';
    }
    default: {
      const v = sortValue(row, col, now);
      return v === null ? '' : String(v);
    }
  }
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/**
 * Numbers numerically, text with numeric-aware collation ("run-2" < "run-10"); missing values and
 * NaN always last, whatever the direction.
 */
export function sortRows(rows: Row[], col: Column | undefined, dir: 'asc' | 'desc', now: number): Row[] {
  if (!col) return rows;
  const keyed = rows.map((row) => ({ row, v: sortValue(row, col, now) }));
  const sign = dir === 'asc' ? 1 : -1;
  keyed.sort((a, b) => {
    const am = a.v === null || (typeof a.v === 'number' && Number.isNaN(a.v));
    const bm = b.v === null || (typeof b.v === 'number' && Number.isNaN(b.v));
    if (am || bm) return am === bm ? 0 : am ? 1 : -1;
    if (typeof a.v === 'number' && typeof b.v === 'number') return a.v === b.v ? 0 : a.v < b.v ? -sign : sign;
    return sign * collator.compare(String(a.v), String(b.v));
  });
  return keyed.map((k) => k.row);
}

export interface Filter {
  text: string[];
  features: { key: string; value: string }[];
  status: string;
}

/** `lr=0.001 resnet` → feature filter optimizer… `key=value` (dotted key) plus free-text words. */
export function parseFilter(q: string, status: string): Filter {
  const text: string[] = [];
  const features: { key: string; value: string }[] = [];
  for (const tok of q.trim().split(/\s+/).filter(Boolean)) {
    const eq = tok.indexOf('=');
    if (eq > 0) features.push({ key: tok.slice(0, eq), value: tok.slice(eq + 1) });
    else text.push(tok.toLowerCase());
  }
  return { text, features, status };
}

/** A feature filter matches the key exactly or as the last part(s) of the dotted key (`lr` matches `optimizer.lr`). */
function featureMatches(flat: Record<string, unknown>, key: string, value: string): boolean {
  for (const [k, v] of Object.entries(flat)) {
    if (k !== key && !k.endsWith(`.${key}`)) continue;
    const s = fmtFeature(v);
    if (s === value) return true;
    const n = Number(value);
    if (typeof v === 'number' && value.trim() !== '' && !Number.isNaN(n) && n === v) return true;
  }
  return false;
}

export function filterRows(rows: Row[], f: Filter): Row[] {
  if (!f.text.length && !f.features.length && !f.status) return rows;
  return rows.filter(
    (r) =>
      (!f.status || r.run.status === f.status) &&
      f.text.every((t) => r.text.includes(t)) &&
      f.features.every((ff) => featureMatches(r.flat, ff.key, ff.value)),
  );
}

export type DisplayRow = { kind: 'group'; key: string; label: string; count: number; collapsed: boolean } | { kind: 'run'; row: Row };

/** Groups keep the sort inside them; groups are ordered by their value (numeric-aware), absent last. */
export function groupRows(rows: Row[], groupKey: string, collapsed: Set<string>): DisplayRow[] {
  if (!groupKey) return rows.map((row) => ({ kind: 'run', row }));
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const v = row.flat[groupKey];
    const key = v === undefined ? '\u0000none' : fmtFeature(v);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(row);
  }
  const keys = [...groups.keys()].sort((a, b) => (a === '\u0000none' ? 1 : b === '\u0000none' ? -1 : collator.compare(a, b)));
  const out: DisplayRow[] = [];
  for (const key of keys) {
    const g = groups.get(key)!;
    const isCollapsed = collapsed.has(key);
    out.push({ kind: 'group', key, label: key === '\u0000none' ? '(not set)' : `${groupKey} = ${key}`, count: g.length, collapsed: isCollapsed });
    if (!isCollapsed) for (const row of g) out.push({ kind: 'run', row });
  }
  return out;
}

export function toCsv(rows: Row[], cols: Column[], now: number): string {
  const header = ['id', 'name', 'status', ...cols.map((c) => (c.kind === 'metric' ? `${c.metric} (${c.agg})` : c.kind === 'duration' ? 'duration_s' : c.label))];
  const lines = [header.map(csvCell).join(',')];
  for (const row of rows) {
    const raw = (c: Column) => {
      if (c.kind === 'metric') {
        const v = row.run.metrics[c.metric]?.[c.agg];
        return v === null || v === undefined ? '' : String(v);
      }
      if (c.kind === 'duration') {
        const d = durationMs(row.run, now);
        return d === null ? '' : String(Math.round(d / 1000));
      }
      return cellText(row, c, now);
    };
    lines.push([row.run.id, row.run.name, row.run.status, ...cols.map(raw)].map(csvCell).join(','));
  }
  return `${lines.join('\n')}\n`;
}
