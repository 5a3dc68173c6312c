import { useEffect, useLayoutEffect, useMemo, useReducer, useRef, useState, useSyncExternalStore, type KeyboardEvent } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './charts.css';
import { groupMeanBand } from './aggregate.ts';
import { buildPlot, nearest, stepExtent, stepsInX, xOfSteps, type BuiltPlot, type GroupInput, type LineInput } from './build.ts';
import { download } from '../components/format.ts';
import { tracksCsv } from './csv.ts';
import type { ChartSettings } from './settings.tsx';
import type { SeriesStore, View } from './store.ts';
import type { SeriesKey, StepRange } from './types.ts';

export interface ChartRun {
  key: SeriesKey;
  label: string;
  color: string;
  startMs?: number;
}

export interface ChartGroup {
  label: string;
  color: string;
  keys: SeriesKey[];
}

export interface ChartProps {
  metric: string;
  runs: ChartRun[];
  store: SeriesStore;
  settings: ChartSettings;
  onZoom(r: StepRange | null): void;
  /** Compare's group-by: one mean line ± band per group instead of a line per run. */
  groups?: ChartGroup[] | null;
  height?: number;
}

const PLOT_HEIGHT = 220;
/** Buckets asked for a plot this many pixels wide: one per pixel, within the server's bounds. */
export const bucketsFor = (width: number) => Math.max(100, Math.min(10_000, Math.round(width)));
/** Steps are integers: tick at 1, 2, 5 × 10^k only (no "step 1.5"). */
const STEP_INCRS = Array.from({ length: 16 }, (_, k) => [1, 2, 5].map((m) => m * 10 ** k)).flat();

function useViews(store: SeriesStore, keys: SeriesKey[], zoom: StepRange | null): View[] {
  const [version, bump] = useReducer((n: number) => n + 1, 0);
  const joined = keys.join('\u0001');
  useEffect(() => {
    const offs = keys.map((k) => store.subscribe(k, bump));
    return () => offs.forEach((off) => off());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [store, joined]);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  return useMemo(() => keys.map((k) => store.view(k, zoom)), [store, joined, zoom?.min, zoom?.max, version]);
}

export function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return String(Number(v.toPrecision(5)));
}

/**
 * One formatter for step numbers: Number#toLocaleString builds its formatter on every call, and the
 * x ticks (laid out several times while uPlot converges its axis sizes) and the legend call it per
 * label (bench:ui compare profile: ~27 ms of 10 charts' creation in toLocaleString).
 */
const STEP_FORMAT = new Intl.NumberFormat();
const fmtStep = (n: number) => STEP_FORMAT.format(n);

function fmtDuration(sec: number): string {
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** uPlot paints axis and grid colours into its canvas once: a theme switch must rebuild the plot. */
const DARK = '(prefers-color-scheme: dark)';
const onSchemeChange = (cb: () => void) => {
  const m = matchMedia(DARK);
  m.addEventListener('change', cb);
  return () => m.removeEventListener('change', cb);
};
const useDarkScheme = () => useSyncExternalStore(onSchemeChange, () => matchMedia(DARK).matches);

/**
 * uPlot instances are created in tasks of at most CREATE_BUDGET_MS: ten charts whose data is already
 * there mount in one commit, and building and drawing all ten there was one long task (input frozen
 * meanwhile), while one chart per task put a frame (style, layout, paint: ~10-15 ms) between every
 * two charts (bench:ui compare: ~420 ms from the first chart built to the tenth). Returns a cancel
 * for an unmounted chart.
 */
const CREATE_BUDGET_MS = 70;
const creations: { run: () => void; live: boolean }[] = [];
let draining = false;
function createSoon(run: () => void): () => void {
  const job = { run, live: true };
  creations.push(job);
  if (!draining) {
    draining = true;
    setTimeout(() => void drainCreations(), 0);
  }
  return () => {
    job.live = false;
  };
}
/** The longest creation seen: a task stops before one more would likely cross the budget (a busy machine doubles them). */
let longestCreation = 0;
async function drainCreations(): Promise<void> {
  const t0 = performance.now();
  let n = 0;
  try {
    // at least one per task, then more while they fit
    while (creations.length > 0 && (n === 0 || performance.now() - t0 + longestCreation <= CREATE_BUDGET_MS)) {
      const job = creations.shift()!;
      if (!job.live) continue;
      const t = performance.now();
      job.run();
      // uPlot draws in a microtask its constructor queued: awaited here, still in this task, so a
      // creation's time counts its drawing (about half of it) and the draws are not all left to the end
      await Promise.resolve();
      n++;
      longestCreation = Math.max(longestCreation * 0.8, performance.now() - t);
    }
  } finally {
    if (creations.length > 0) setTimeout(() => void drainCreations(), 0);
    else draining = false;
  }
}

/**
 * A metric chart on uPlot at full fidelity: it asks for as many buckets as it has pixels, draws
 * each bucket's min/max as a band under the line of its last values (raw points when they fit),
 * and re-asks at full resolution for a zoomed range while the coarse data stays on screen.
 */
export function Chart({ metric, runs, store, settings, onZoom, groups, height = PLOT_HEIGHT }: ChartProps) {
  const wrapRef = useRef<HTMLDivElement>(null);
  const plotRef = useRef<HTMLDivElement>(null);
  const legendRef = useRef<HTMLDivElement>(null);
  const uRef = useRef<uPlot | null>(null);
  /** The data the instance last drew: a new instance draws its data, and setData again drew each chart twice. */
  const drawnData = useRef<uPlot.AlignedData | null>(null);
  const [width, setWidth] = useState(0);
  const { zoom, xAxis, logY, smoothing } = settings;
  const dark = useDarkScheme();
  const keys = useMemo(() => runs.map((r) => r.key), [runs]);
  const buckets = bucketsFor(width);

  // The first width is read at mount, in the same commit: the observer's first callback came a
  // task later, after a frame, and every chart of compare waited for it before being built.
  useLayoutEffect(() => setWidth(Math.floor(plotRef.current!.getBoundingClientRect().width)), []);
  useEffect(() => {
    const el = plotRef.current!;
    const ro = new ResizeObserver(([e]) => setWidth(Math.floor(e.contentRect.width)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(() => store.retain(keys), [store, keys]);
  useEffect(() => {
    if (width > 0) store.want(keys, buckets, zoom);
  }, [store, keys, buckets, zoom, width]);

  const views = useViews(store, keys, zoom);
  const built = useMemo<BuiltPlot>(() => {
    if (groups && groups.length) {
      const byKey = new Map(keys.map((k, i) => [k, views[i]]));
      const gs: GroupInput[] = groups.map((g) => ({
        label: g.label,
        color: g.color,
        curve: groupMeanBand(g.keys.flatMap((k) => (byKey.get(k)?.track ? [{ x: byKey.get(k)!.track!.steps, y: byKey.get(k)!.track!.y }] : []))),
      }));
      return buildPlot({ lines: [], groups: gs, xAxis: 'step', logY, smoothing: { kind: 'none' } });
    }
    const lines: LineInput[] = runs.map((r, i) => ({ label: r.label, color: r.color, track: views[i]?.track, startMs: r.startMs }));
    return buildPlot({ lines, xAxis, logY, smoothing });
  }, [views, runs, groups, keys, xAxis, logY, smoothing]);
  const axis = groups && groups.length ? 'step' : xAxis;

  // Hooks read the latest props through refs: the uPlot instance outlives renders.
  const latest = useRef({ built, onZoom, axis, zoom, width });
  latest.current = { built, onZoom, axis, zoom, width };

  const updateLegend = (u: uPlot) => {
    const el = legendRef.current;
    if (!el) return;
    const { built: b, axis: ax } = latest.current;
    const idx = u.cursor.idx;
    const at = idx === null || idx === undefined ? null : (u.data[0][idx] as number);
    const head = el.querySelector('[data-at]');
    if (head) head.textContent = at === null ? '' : ax === 'step' ? `step ${fmtStep(at)}` : ax === 'wall' ? new Date(at).toLocaleString() : fmtDuration(at);
    b.plotted.forEach((p, k) => {
      const span = el.querySelector(`[data-v="${k}"]`);
      if (!span) return;
      const i = at === null ? p.x.length - 1 : nearest(p.x, at);
      if (i < 0) {
        span.textContent = '—';
        return;
      }
      const main = p.smoothed ? `${fmt(p.smoothed[i])} (raw ${fmt(p.y[i])})` : fmt(p.y[i]);
      const range = p.band ? ` [${fmt(p.lo[i])} … ${fmt(p.hi[i])}]` : '';
      span.textContent = `${main}${range} @ ${fmtStep(p.steps[i])}`;
    });
  };

  const markAttrs = (u: uPlot) => {
    const el = wrapRef.current;
    if (!el) return;
    const y = u.scales.y;
    el.dataset.yMax = y.max === undefined || y.max === null ? '' : String(y.max);
    el.dataset.yMin = y.min === undefined || y.min === null ? '' : String(y.min);
    el.dataset.xMin = String(u.scales.x.min ?? '');
    el.dataset.xMax = String(u.scales.x.max ?? '');
    el.dataset.rows = String(u.data[0].length);
  };

  useEffect(() => {
    const el = plotRef.current;
    if (!el || width === 0) return;
    const fg2 = cssVar('--fg-2', '#5b6472');
    const grid = cssVar('--border', '#d9dde3');
    if (wrapRef.current) wrapRef.current.dataset.axisStroke = fg2;
    const { built: b } = latest.current;
    const xValues: uPlot.Axis['values'] = axis === 'relative' ? (_u, ticks) => ticks.map(fmtDuration) : axis === 'step' ? (_u, ticks) => {
      // "k" only when the ticks are whole thousands apart: zoomed in, 307,850 and 307,900 must differ
      const gap = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
      return ticks.map((t) => (gap >= 1000 && Math.abs(t) >= 1e4 ? `${t / 1000}k` : fmtStep(t)));
    } : undefined;
    const opts: uPlot.Options = {
      width,
      height,
      ms: 1,
      scales: { x: { time: axis === 'wall' }, y: { distr: logY ? 3 : 1 } },
      series: [{}, ...b.series],
      bands: b.bands,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false }, bind: { dblclick: () => () => null } },
      axes: [
        { stroke: fg2, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, values: xValues, ...(axis === 'step' ? { incrs: STEP_INCRS } : {}) },
        { stroke: fg2, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, size: 56, values: (_u, ticks) => ticks.map((t) => fmt(t)) },
      ],
      hooks: {
        setSelect: [
          (u) => {
            const s = u.select;
            if (s.width < 3) return;
            const x0 = u.posToVal(s.left, 'x');
            const x1 = u.posToVal(s.left + s.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            const { built: cur, axis: ax, onZoom: z } = latest.current;
            const r = ax === 'step' ? { min: Math.max(0, Math.floor(x0)), max: Math.ceil(x1) } : stepsInX(cur.plotted, x0, x1);
            if (r) z(r);
          },
        ],
        setCursor: [updateLegend],
        draw: [markAttrs],
      },
    };
    const onDbl = () => latest.current.onZoom(null);
    let u: uPlot | null = null;
    const cancel = createSoon(() => {
      // built when its turn comes: the data and size of then, not of the render that asked
      const { built: now, zoom: z, axis: ax, width: w } = latest.current;
      u = new uPlot({ ...opts, width: w }, now.data, el);
      uRef.current = u;
      drawnData.current = now.data;
      const xr = z ? xOfSteps(now.plotted, ax, z) : null;
      if (xr) u.setScale('x', xr);
      updateLegend(u);
      u.over.addEventListener('dblclick', onDbl);
    });
    return () => {
      cancel();
      u?.over.removeEventListener('dblclick', onDbl);
      u?.destroy();
      uRef.current = null;
    };
    // a new instance only when the plot's structure changes; data and size go through setData/setSize
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [built.signature, logY, axis, height, width === 0, dark]);

  useEffect(() => {
    const u = uRef.current;
    if (!u) return;
    u.batch(() => {
      if (u.width !== width) u.setSize({ width, height });
      if (drawnData.current !== built.data || zoom) u.setData(built.data, !zoom);
      drawnData.current = built.data;
      if (zoom) {
        const xr = xOfSteps(built.plotted, axis, zoom);
        if (xr) u.setScale('x', xr);
      }
    });
    updateLegend(u);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [built, width, zoom, axis]);

  const tracks = views.map((v) => v.track);
  const loaded = tracks.filter(Boolean).length;
  const total = tracks.reduce((a, t) => a + (t?.total ?? 0), 0);
  const allRaw = loaded > 0 && tracks.every((t) => !t || t.mode === 'raw');
  const lastStep = tracks.reduce<number | null>((a, t) => (t?.lastStep != null && (a === null || t.lastStep > a) ? t.lastStep : a), null);
  const error = views.find((v) => v.error)?.error;
  const refining = zoom && views.some((v) => v.loading);

  const onKey = (e: KeyboardEvent) => {
    const ext = stepExtent(built.plotted);
    if (!ext) return;
    const cur = zoom ?? ext;
    const span = Math.max(1, cur.max - cur.min);
    let next: StepRange | null = null;
    if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
      const d = Math.max(1, Math.round(span / 4)) * (e.key === 'ArrowLeft' ? -1 : 1);
      const min = Math.max(ext.min, Math.min(ext.max - span, cur.min + d));
      next = { min, max: min + span };
    } else if (e.key === '+' || e.key === '=') {
      const mid = (cur.min + cur.max) / 2;
      const half = Math.max(1, Math.round(span / 4));
      next = { min: Math.round(mid - half), max: Math.round(mid + half) };
    } else if (e.key === '-' || e.key === '_') {
      const mid = (cur.min + cur.max) / 2;
      next = { min: Math.max(ext.min, Math.round(mid - span)), max: Math.min(ext.max, Math.round(mid + span)) };
      if (next.min <= ext.min && next.max >= ext.max) next = null;
      if (!zoom) return;
    } else return;
    e.preventDefault();
    onZoom(next);
  };

  const exportCsv = () => {
    const rows = runs.flatMap((r, i) => (views[i]?.track ? [{ run: r.label, metric, track: views[i].track! }] : []));
    download(`${metric.replace(/[^\w.-]+/g, '_')}.csv`, tracksCsv(rows, zoom));
  };

  return (
    <div
      ref={wrapRef}
      className="chart"
      data-testid="chart"
      data-metric={metric}
      data-mode={loaded ? (allRaw ? 'raw' : 'buckets') : 'loading'}
      data-last-step={lastStep ?? ''}
      data-total={total}
      tabIndex={0}
      onKeyDown={onKey}
      aria-label={`Chart of ${metric}`}
    >
      <div className="chart-head">
        <span className="chart-title" title={metric}>
          {metric}
        </span>
        <span className="chart-meta">
          {loaded === 0 ? '' : `${total.toLocaleString()} pts${allRaw ? '' : ' · min/max band'}`}
          {refining ? ' · refining…' : ''}
          {built.droppedNonPositive > 0 ? ` · ${built.droppedNonPositive.toLocaleString()} values ≤ 0 hidden (log)` : ''}
        </span>
        <button type="button" className="chart-btn" onClick={exportCsv} disabled={loaded === 0} title="Download this chart's data as CSV">
          CSV
        </button>
      </div>
      <div className="chart-plot" ref={plotRef} style={{ height }}>
        {error ? (
          <div className="chart-overlay chart-error" role="alert">
            Could not load: {error instanceof Error ? error.message : String(error)}{' '}
            <button type="button" onClick={() => store.reload(keys, buckets)}>
              Retry
            </button>
          </div>
        ) : loaded < runs.length ? (
          <div className="chart-overlay">Loading…</div>
        ) : total === 0 ? (
          <div className="chart-overlay">No points logged yet</div>
        ) : null}
      </div>
      <div className="chart-legend" ref={legendRef}>
        <span className="chart-at" data-at />
        {built.plotted.map((p, k) => (
          <span className="chart-legend-item" key={k} data-testid="legend-item">
            <i style={{ background: p.color }} />
            <b>{p.label}</b> <span data-v={k} />
          </span>
        ))}
      </div>
    </div>
  );
}
