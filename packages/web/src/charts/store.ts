import { decodeSeriesBinary, SERIES_BINARY_TYPE } from '@assay/contracts/ui-data-binary';
import { api, toNumber } from '../api.ts';
import { seriesKey, splitKey, type BucketData, type RawData, type SeriesAnswer, type SeriesAnswerBody, type SeriesKey, type StepRange, type Track, type WireNumber } from './types.ts';

/** The server answers at most this many series per request. */
const MAX_SERIES = 500;
/** Live tails are asked in raw mode: the server only buckets above this many points. */
const TAIL_BUCKETS = 10_000;
/** Charts that become visible within this window share one request. */
const BATCH_MS = 16;
/**
 * The arrays normalize() reads: a bucket's step_start/step_end/count are never drawn, and leaving
 * them out cuts the compare page's answer by ~30% (bytes the server writes and the page parses).
 */
const FIELDS = ['steps', 'values', 'timestamps', 'min', 'max', 'last', 'last_step', 'last_timestamp'];

export function normalize(a: SeriesAnswer): Track {
  if (a.mode === 'raw') {
    const d = a.data as RawData;
    const y = numbers(d.values);
    const loHi = y.map(finiteOrNull);
    return { mode: 'raw', steps: d.steps, ts: d.timestamps, y, lo: loHi, hi: loHi, total: a.total_points, firstStep: a.first_step, lastStep: a.last_step };
  }
  const d = a.data as BucketData;
  return {
    mode: 'buckets',
    steps: d.last_step,
    ts: d.last_timestamp,
    y: numbers(d.last),
    lo: numbersOrNull(d.min),
    hi: numbersOrNull(d.max),
    total: a.total_points,
    firstStep: a.first_step,
    lastStep: a.last_step,
  };
}

/**
 * The binary answer's arrays are numbers already and are kept as they are (the plot draws them too,
 * see buildPlot's cleanCol); the JSON answer's "NaN"/"Infinity" strings are converted. Copies of
 * compare's 100 series here and in buildPlot were garbage made between its answer and the charts.
 */
function numbers(a: WireNumber[]): number[] {
  return a.every((v) => typeof v === 'number') ? (a as number[]) : a.map((v) => toNumber(v) ?? Number.NaN);
}
function numbersOrNull(a: WireNumber[]): (number | null)[] {
  return a.every((v) => v === null || typeof v === 'number') ? (a as (number | null)[]) : a.map(toNumber);
}

function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function slice(t: Track, keep: (step: number) => boolean): Track {
  const idx: number[] = [];
  for (let i = 0; i < t.steps.length; i++) if (keep(t.steps[i])) idx.push(i);
  return { ...t, steps: idx.map((i) => t.steps[i]), ts: idx.map((i) => t.ts[i]), y: idx.map((i) => t.y[i]), lo: idx.map((i) => t.lo[i]), hi: idx.map((i) => t.hi[i]) };
}

function concat(a: Track, b: Track): Track {
  return {
    mode: a.mode === 'raw' && b.mode === 'raw' ? 'raw' : 'buckets',
    steps: a.steps.concat(b.steps),
    ts: a.ts.concat(b.ts),
    y: a.y.concat(b.y),
    lo: a.lo.concat(b.lo),
    hi: a.hi.concat(b.hi),
    total: a.total + b.total,
    firstStep: a.firstStep ?? b.firstStep,
    lastStep: b.lastStep ?? a.lastStep,
  };
}

/** The coarse whole-run track with the zoomed range replaced by its full-resolution answer. */
function merge(coarse: Track, fine: Track, r: StepRange): Track {
  const before = slice(coarse, (s) => s < r.min);
  const after = slice(coarse, (s) => s > r.max);
  const m = concat(concat(before, fine), after);
  return { ...m, mode: fine.mode, total: coarse.total, firstStep: coarse.firstStep, lastStep: coarse.lastStep };
}

export interface Entry {
  coarse?: Track;
  coarseBuckets?: number;
  fine?: { range: StepRange; buckets: number; track: Track };
  loading: boolean;
  error?: unknown;
}

/** What a chart draws for one series: the merged track, and whether a finer answer is on its way. */
export interface View {
  track?: Track;
  loading: boolean;
  error?: unknown;
}

type Group = { buckets: number; range: StepRange | null; keys: Set<SeriesKey> };

/**
 * The page's series data: charts ask for (run, metric) pairs as they come into view; asks made
 * within one frame leave as one `POST /metrics/series` (per bucket width and range), not one per
 * chart. Zoomed ranges are fetched at full resolution and laid over the coarse whole-run answer,
 * which stays on screen until they arrive. Live polling appends only the steps after the last one seen.
 */
export class SeriesStore {
  private entries = new Map<SeriesKey, Entry>();
  private listeners = new Map<SeriesKey, Set<() => void>>();
  private pending = new Map<string, Group>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private mounted = new Map<SeriesKey, number>();
  private prefetching: { runs: Set<string>; buckets: number; done: Promise<void> } | null = null;
  /** Requests sent, for tests and the benchmark (`window.__assaySeriesRequests`). */
  requests = 0;

  constructor(readonly projectId: string) {}

  get(key: SeriesKey): Entry | undefined {
    return this.entries.get(key);
  }

  view(key: SeriesKey, zoom: StepRange | null): View {
    const e = this.entries.get(key);
    if (!e) return { loading: true };
    let track = e.coarse;
    if (track && zoom && e.fine && e.fine.range.min === zoom.min && e.fine.range.max === zoom.max) track = merge(track, e.fine.track, zoom);
    return { track, loading: e.loading, error: e.error };
  }

  subscribe(key: SeriesKey, fn: () => void): () => void {
    let s = this.listeners.get(key);
    if (!s) this.listeners.set(key, (s = new Set()));
    s.add(fn);
    return () => s!.delete(fn);
  }

  private set(key: SeriesKey, e: Entry, notify = true): void {
    this.entries.set(key, e);
    if (notify) this.notify(key);
  }

  private notify(key: SeriesKey): void {
    for (const fn of this.listeners.get(key) ?? []) fn();
  }

  /** Series of the charts on screen: the ones live polling keeps up to date. */
  retain(keys: SeriesKey[]): () => void {
    for (const k of keys) this.mounted.set(k, (this.mounted.get(k) ?? 0) + 1);
    return () => {
      for (const k of keys) {
        const n = (this.mounted.get(k) ?? 1) - 1;
        if (n <= 0) this.mounted.delete(k);
        else this.mounted.set(k, n);
      }
    };
  }

  mountedKeys(): SeriesKey[] {
    return [...this.mounted.keys()];
  }

  /** After an error: ask again for the whole run. */
  reload(keys: SeriesKey[], buckets: number): void {
    for (const k of keys) this.enqueue(k, buckets, null);
  }

  /** Ask for the whole run at `buckets` and, when zoomed, the zoomed range at full resolution. */
  want(keys: SeriesKey[], buckets: number, zoom: StepRange | null): void {
    const p = this.prefetching;
    for (const key of keys) {
      const e = this.entries.get(key);
      if (!e && p && p.buckets >= buckets && p.runs.has(splitKey(key)[0])) {
        // the runs' prefetch is on its way and likely holds this series: asked again once it is here
        void p.done.then(() => this.want([key], buckets, null));
      } else if (!e || (e.coarseBuckets !== buckets && !e.loading && (e.coarseBuckets ?? 0) < buckets)) this.enqueue(key, buckets, null);
      if (zoom) {
        const f = e?.fine;
        if (!f || f.range.min !== zoom.min || f.range.max !== zoom.max || f.buckets !== buckets) this.enqueue(key, buckets, zoom);
      }
    }
  }

  private enqueue(key: SeriesKey, buckets: number, range: StepRange | null): void {
    const gk = `${buckets}|${range ? `${range.min}-${range.max}` : ''}`;
    let g = this.pending.get(gk);
    if (!g) this.pending.set(gk, (g = { buckets, range, keys: new Set() }));
    if (g.keys.has(key)) return;
    g.keys.add(key);
    const e = this.entries.get(key) ?? { loading: false };
    this.set(key, { ...e, loading: true, error: undefined });
    this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  private flush(): void {
    this.timer = null;
    const groups = [...this.pending.values()];
    this.pending.clear();
    for (const g of groups) {
      const keys = [...g.keys];
      for (let i = 0; i < keys.length; i += MAX_SERIES) void this.load(keys.slice(i, i + MAX_SERIES), g.buckets, g.range);
    }
  }

  private async fetch(keys: SeriesKey[], body: Record<string, unknown>): Promise<SeriesAnswer[]> {
    const series = keys.map((k) => {
      const [experiment_id, metric_name] = splitKey(k);
      return { experiment_id, metric_name };
    });
    return (await this.post({ series, ...body })).series;
  }

  /**
   * The answer in its binary form (float64 arrays, no JSON.parse of ~3 MB for compare's 100 series),
   * decoded to the JSON answer's shape with numbers; a server that answers JSON is read as before.
   */
  private post(body: Record<string, unknown>): Promise<SeriesAnswerBody> {
    this.requests++;
    return api('/metrics/series', { method: 'POST', body: { project_id: this.projectId, fields: FIELDS, ...body }, binary: { type: SERIES_BINARY_TYPE, decode: decodeSeriesBinary } });
  }

  /**
   * Compare: every metric of these runs at `buckets` in one request, before the page knows the
   * metric names (asking for the names first put a round trip in front of every chart). The charts
   * that mount with this bucket count (or fewer) find their data here and ask for nothing.
   * Resolves to the metric names found; `truncated` when the runs have more series than one answer holds.
   */
  async prefetchRuns(experimentIds: string[], buckets: number): Promise<{ metrics: string[]; truncated: boolean }> {
    let settle = () => {};
    const p = { runs: new Set(experimentIds), buckets, done: new Promise<void>((r) => (settle = r)) };
    this.prefetching = p;
    try {
      const res = await this.post({ experiment_ids: experimentIds, buckets });
      const metrics = new Set<string>();
      const done: SeriesKey[] = [];
      for (const a of res.series) {
        metrics.add(a.metric_name);
        const key = seriesKey(a.experiment_id, a.metric_name);
        const e = this.entries.get(key);
        if (e?.coarse || e?.loading) continue;
        this.set(key, { ...e, loading: false, coarse: normalize(a), coarseBuckets: buckets }, false);
        done.push(key);
      }
      void this.redrawPaced(done);
      return { metrics: [...metrics], truncated: res.truncated === true };
    } finally {
      if (this.prefetching === p) this.prefetching = null;
      // the charts that waited: served from the entries above, or (not in the answer, or it failed) they ask now
      settle();
    }
  }

  /**
   * One chart redrawn per task, once: a batch of 10 charts × 10 runs drawn in one go is one long
   * task that freezes input, and a redraw per series drew each chart 10 times (1.8 s of redraws
   * before compare's charts were complete). A chart's listener covers all its series.
   */
  private async redrawPaced(keys: SeriesKey[]): Promise<void> {
    const charts = new Set(keys.flatMap((key) => [...(this.listeners.get(key) ?? [])]));
    for (const redraw of charts) {
      redraw();
      await new Promise((r) => setTimeout(r, 0));
    }
  }

  private async load(keys: SeriesKey[], buckets: number, range: StepRange | null): Promise<void> {
    try {
      const answers = await this.fetch(keys, { buckets, ...(range ? { step_min: range.min, step_max: range.max } : {}) });
      const done = answers.map((a, i) => {
        const key = keys[i] ?? seriesKey(a.experiment_id, a.metric_name);
        const e = this.entries.get(key) ?? { loading: false };
        const track = normalize(a);
        if (range) this.set(key, { ...e, loading: false, fine: { range, buckets, track } }, false);
        else this.set(key, { ...e, loading: false, coarse: track, coarseBuckets: buckets }, false);
        return key;
      });
      await this.redrawPaced(done);
    } catch (error) {
      for (const key of keys) this.set(key, { ...(this.entries.get(key) ?? {}), loading: false, error });
    }
  }

  /**
   * Live: fetch the steps after the last one seen for these series (one request) and append them.
   * Returns how many points arrived. Series still loading are left to their load.
   */
  async poll(keys: SeriesKey[]): Promise<number> {
    const ready = keys.filter((k) => {
      const e = this.entries.get(k);
      return e?.coarse && !e.loading;
    });
    if (ready.length === 0) return 0;
    const last = (k: SeriesKey) => this.entries.get(k)!.coarse!.lastStep ?? -1;
    const stepMin = Math.min(...ready.map(last)) + 1;
    let added = 0;
    for (let i = 0; i < ready.length; i += MAX_SERIES) {
      const chunk = ready.slice(i, i + MAX_SERIES);
      const answers = await this.fetch(chunk, { buckets: TAIL_BUCKETS, step_min: stepMin });
      answers.forEach((a, j) => {
        const key = chunk[j];
        const e = this.entries.get(key);
        if (!e?.coarse || e.loading || a.total_points === 0) return;
        const seen = e.coarse.lastStep ?? -1;
        const tail = slice(normalize(a), (s) => s > seen);
        if (tail.steps.length === 0) return;
        added += tail.steps.length;
        const coarse = concat(e.coarse, tail);
        coarse.total = e.coarse.total + tail.steps.length;
        coarse.mode = e.coarse.mode;
        this.set(key, { ...e, coarse });
      });
    }
    return added;
  }
}
