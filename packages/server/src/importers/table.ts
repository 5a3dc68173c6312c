import fs from 'node:fs';
import readline from 'node:readline';
import { parse } from 'csv-parse';
import type { Progress } from './progress.ts';
import { parseValue, type RunWriter, type Sink, type Value } from './sink.ts';

/*
 * Generic tables, one experiment per file. The shape is read from the header (CSV) or the first
 * record (JSONL):
 *   long — columns metric (or metric_name, key), step, value (or metric_value), optional timestamp;
 *   wide — step (or _step, global_step), optional timestamp (or _timestamp, time, wall_time), and every
 *          other column a metric; empty cells are points that were not logged.
 * Timestamps: epoch seconds (< 1e11), epoch milliseconds, or ISO-8601 text (UTC when it has no zone).
 */

const METRIC = ['metric', 'metric_name', 'key'];
const VALUE = ['value', 'metric_value'];
const STEP = ['step', '_step', 'global_step'];
const TIME = ['timestamp', '_timestamp', 'time', 'wall_time'];
/** Columns of a wide table that are bookkeeping, not metrics (W&B's history has these). */
const NOT_METRICS = new Set(['_runtime', '_wandb']);

export type Shape =
  | { kind: 'long'; metric: string; step: string; value: string; timestamp?: string }
  | { kind: 'wide'; step?: string; timestamp?: string; metrics: string[] };

const pick = (cols: string[], names: string[]) => names.find((n) => cols.includes(n));

export function detectShape(columns: string[]): Shape {
  const cols = columns.map((c) => c.trim());
  const metric = pick(cols, METRIC);
  const value = pick(cols, VALUE);
  const step = pick(cols, STEP);
  const timestamp = pick(cols, TIME);
  if (metric && value) {
    if (!step) throw new Error(`a long table (columns ${metric}, ${value}) needs a step column`);
    return { kind: 'long', metric, step, value, timestamp };
  }
  const metrics = [...new Set(cols.filter((c) => c && c !== step && c !== timestamp && !NOT_METRICS.has(c)))];
  if (!metrics.length) throw new Error(`no metric columns in [${cols.join(', ')}]: expected step, timestamp and one column per metric, or metric, step, value[, timestamp]`);
  return { kind: 'wide', step, timestamp, metrics };
}

/** Epoch ms from seconds, milliseconds or ISO text; undefined for an empty cell. */
export function parseTime(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (Number.isFinite(n)) return Math.round(n < 1e11 ? n * 1000 : n);
  // a date and time without a zone is UTC (as Python's isoformat() of a UTC time writes it): read as
  // local time, the same file would import with other times on a machine in another zone
  const text = String(v).trim();
  const zoneless = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text);
  const t = Date.parse(zoneless ? `${text.replace(' ', 'T')}Z` : text);
  return Number.isNaN(t) ? undefined : t;
}

const cellValue = (v: unknown): Value | undefined => (typeof v === 'number' ? (Number.isFinite(v) ? v : undefined) : typeof v === 'boolean' ? Number(v) : typeof v === 'string' && v !== '' ? parseValue(v) : undefined);

/** Feeds one record of a table into the writer; returns the points it held and counts cells it could not read. */
export class RowReader {
  row = 0;
  unreadable = 0;
  private lastTs: number | undefined;
  first: number | undefined;
  last: number | undefined;
  constructor(private readonly w: RunWriter, private readonly shape: Shape) {}

  private stamp(raw: unknown): number | undefined {
    const ts = parseTime(raw);
    if (ts !== undefined) {
      if (this.first === undefined || ts < this.first) this.first = ts;
      if (this.last === undefined || ts > this.last) this.last = ts;
    }
    return ts ?? this.lastTs;
  }

  /**
   * A long row ({metric: "acc", step, value}) in a JSONL file whose first record was wide: read as
   * long, not as metrics named "metric" and "value". The metric's name must be text, so a wide row
   * that logs numbers under "key" and "value" stays wide.
   */
  private longRow(rec: Record<string, unknown>): Shape | undefined {
    const metric = METRIC.find((k) => typeof rec[k] === 'string');
    const value = metric && VALUE.find((k) => k in rec);
    if (!metric || !value) return undefined;
    return { kind: 'long', metric, value, step: STEP.find((k) => k in rec) ?? '', timestamp: TIME.find((k) => k in rec) };
  }

  add(rec: Record<string, unknown>): void {
    let s = this.shape;
    if (s.kind === 'wide' && !s.metrics.length) s = this.longRow(rec) ?? s;
    const stepRaw = s.step ? rec[s.step] : this.row;
    this.row++;
    // only a number or a numeral: Number(null), Number(true) and Number([]) are steps too
    const step = typeof stepRaw === 'number' ? stepRaw : typeof stepRaw === 'string' && stepRaw.trim() !== '' ? Number(stepRaw) : NaN;
    if (!Number.isSafeInteger(step) || step < 0) {
      this.unreadable++;
      return;
    }
    const ts = s.timestamp ? this.stamp(rec[s.timestamp]) : undefined;
    if (ts !== undefined) this.lastTs = ts;
    if (s.kind === 'long') {
      const v = cellValue(rec[s.value]);
      const name = String(rec[s.metric] ?? '');
      if (v === undefined || !name) this.unreadable++;
      else this.w.add(name, step, v, s.timestamp ? ts : undefined);
      return;
    }
    const names = s.metrics.length ? s.metrics : Object.keys(rec).filter((k) => k !== s.step && k !== s.timestamp && !k.startsWith('_'));
    for (const m of names) {
      const raw = rec[m];
      if (raw === undefined || raw === '' || raw === null || typeof raw === 'object') continue;
      const v = cellValue(raw);
      if (v === undefined) this.unreadable++;
      else this.w.add(m, step, v, s.timestamp ? ts : undefined);
    }
  }
}

/** Python's json.dumps writes NaN, Infinity and -Infinity bare (W&B's history does): as the strings parseValue reads. */
const quoteNonFinite = (text: string) => text.replace(/"(?:[^"\\]|\\.)*"|(-?)\b(NaN|Infinity)\b/g, (m, sign: string, word?: string) => (word ? `"${sign}${word}"` : m));

/** One JSONL line as an object, or undefined when it is none. */
function jsonRecord(text: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    try {
      v = JSON.parse(quoteNonFinite(text));
    } catch {
      return undefined;
    }
  }
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** CSV or JSONL records of a file, with the shape from its header / first record; damage is a warning and the rest goes on. */
async function* records(file: string, format: 'csv' | 'jsonl', onBytes: (n: number) => void, warn: (msg: string) => void): AsyncGenerator<{ shape: Shape } | { rec: Record<string, unknown> }> {
  const stream = fs.createReadStream(file);
  stream.on('data', (c) => onBytes(c.length));
  if (format === 'csv') {
    let header: string[] | undefined;
    const parser = stream.pipe(parse({ relax_column_count: true, skip_empty_lines: true, trim: true, bom: true }));
    try {
      for await (const row of parser as AsyncIterable<string[]>) {
        if (!header) {
          header = row;
          const dups = [...new Set(row.filter((c, i) => row.indexOf(c) !== i))];
          if (dups.length) warn(`${file}: column${dups.length > 1 ? 's' : ''} ${dups.map((c) => JSON.stringify(c)).join(', ')} more than once in the header; the last of each is read`);
          yield { shape: detectShape(header) };
          continue;
        }
        const rec: Record<string, unknown> = {};
        for (let i = 0; i < header.length; i++) rec[header[i]] = row[i];
        yield { rec };
      }
    } catch (e) {
      if (!(e instanceof Error) || !('code' in e) || !String(e.code).startsWith('CSV_')) throw e;
      warn(`${file}: line ${parser.info.lines}: ${e.message}; the rest of the file is skipped`);
    }
    if (!header) warn(`${file}: no header row (empty file); nothing imported`);
    return;
  }
  let shaped = false;
  let line = 0;
  let bad = 0;
  for await (const raw of readline.createInterface({ input: stream, crlfDelay: Infinity })) {
    line++;
    const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (!text.trim()) continue;
    const rec = jsonRecord(text);
    if (!rec) {
      if (!bad++) warn(`${file}: line ${line}: not a JSON object; skipped`);
      continue;
    }
    if (!shaped) {
      const s = detectShape(Object.keys(rec));
      // JSONL rows need not share keys: a wide table's metrics are read per row
      yield { shape: s.kind === 'wide' ? { ...s, metrics: [] } : s };
      shaped = true;
    }
    yield { rec };
  }
  if (bad > 1) warn(`${file}: ${bad} lines were not JSON objects`);
  if (!shaped) warn(`${file}: no JSON record (empty file); nothing imported`);
}

export async function readTable(w: RunWriter, file: string, format: 'csv' | 'jsonl', sink: Sink, progress: Progress): Promise<RowReader | undefined> {
  let reader: RowReader | undefined;
  for await (const r of records(file, format, (n) => progress.advance(n), (msg) => sink.warn(msg))) {
    if ('shape' in r) reader = new RowReader(w, r.shape);
    else {
      reader!.add(r.rec);
      if (reader!.row % 100_000 === 0) await w.drain();
    }
  }
  if (reader?.unreadable) sink.warn(`${file}: ${reader.unreadable} rows or cells without a readable step or value skipped`);
  return reader;
}

export async function importTable(file: string, format: 'csv' | 'jsonl', sink: Sink, progress: Progress, o: { project: string; experiment: string }): Promise<void> {
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist`);
  progress.start(fs.statSync(file).size, 'bytes');
  const w = await sink.run({ project: o.project, name: o.experiment, sourceKey: `${format}:${o.project}/${o.experiment}` });
  const r = await readTable(w, file, format, sink, progress);
  await w.finish({ status: 'complete', startedAt: r?.first, finishedAt: r?.last });
  progress.stop();
}
