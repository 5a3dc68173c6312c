import uPlot from 'uplot';
import type { GroupCurve } from './aggregate.ts';
import { smooth, type Smoothing } from './smoothing.ts';
import type { Track } from './types.ts';

export type XAxis = 'step' | 'wall' | 'relative';

export const PALETTE = ['#2f6fde', '#e8590c', '#2b8a3e', '#c2255c', '#7048e8', '#0c8599', '#e67700', '#5c940d', '#862e9c', '#495057'];

export function alpha(hex: string, a: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

export interface LineInput {
  label: string;
  color: string;
  track?: Track;
  /** Run start (epoch ms) for the relative-time axis; default its first point. */
  startMs?: number;
}

export interface GroupInput {
  label: string;
  color: string;
  curve: GroupCurve;
}

/** One drawn line, pre-join: what the legend and the zoom mapping look up. */
export interface Plotted {
  label: string;
  color: string;
  x: number[];
  steps: number[];
  y: number[];
  lo: (number | null)[];
  hi: (number | null)[];
  smoothed: number[] | null;
  band: boolean;
  /** The series' whole step extent on the server (bucket x values sit at bucket ends). */
  extent: { min: number; max: number } | null;
}

export interface BuiltPlot {
  data: uPlot.AlignedData;
  series: uPlot.Series[];
  bands: uPlot.Band[];
  plotted: Plotted[];
  /** Points left out of a log-scale view because they are ≤ 0. */
  droppedNonPositive: number;
  /** Structure of the plot: a change needs a new uPlot instance, anything else is setData. */
  signature: string;
}

function xOf(axis: XAxis, t: Track, startMs?: number): number[] {
  if (axis === 'step') return t.steps;
  if (axis === 'wall') return t.ts;
  const t0 = startMs ?? t.ts[0] ?? 0;
  return t.ts.map((v) => (v - t0) / 1000);
}

/** Indices that order `x` ascending (uPlot needs sorted x; wall time of a resumed run may not be). */
function order(x: number[]): number[] | null {
  for (let i = 1; i < x.length; i++) if (x[i] < x[i - 1]) return x.map((_, k) => k).sort((a, b) => x[a] - x[b] || a - b);
  return null;
}

const pick = <T,>(a: T[], idx: number[] | null): T[] => (idx ? idx.map((i) => a[i]) : a);

/**
 * Up to this many lines on a chart are drawn 1.5 px wide, more are 1 px: Chromium strokes lines of
 * at most a pixel as hairlines, and compare's 10 runs × 900 points at 1.5 px took ~8 ms of canvas
 * raster per chart against ~1.5 ms at 1 px (headless, device pixel ratio 1), half of its drawing.
 */
const THICK_LINES_UP_TO = 4;

export function buildPlot(opts: { lines: LineInput[]; groups?: GroupInput[]; xAxis: XAxis; logY: boolean; smoothing: Smoothing }): BuiltPlot {
  const { xAxis, logY, smoothing } = opts;
  let dropped = 0;
  const clean = (v: number | null): number | null => {
    if (v === null || !Number.isFinite(v)) return null;
    if (logY && v <= 0) {
      dropped++;
      return null;
    }
    return v;
  };
  // a column with nothing to clean is drawn as it is: no copy per column of every chart
  const cleanCol = (a: (number | null)[]): (number | null)[] => {
    for (const v of a) if (v !== null && (!Number.isFinite(v) || (logY && v <= 0))) return a.map(clean);
    return a;
  };
  const plotted: Plotted[] = [];
  if (opts.groups) {
    for (const g of opts.groups) {
      const c = g.curve;
      plotted.push({ label: g.label, color: g.color, x: c.x, steps: c.x, y: c.mean, lo: c.lo, hi: c.hi, smoothed: null, band: c.n > 1, extent: c.x.length ? { min: c.x[0], max: c.x[c.x.length - 1] } : null });
    }
  } else {
    for (const l of opts.lines) {
      const t = l.track;
      if (!t) {
        plotted.push({ label: l.label, color: l.color, x: [], steps: [], y: [], lo: [], hi: [], smoothed: null, band: false, extent: null });
        continue;
      }
      const x0 = xOf(xAxis, t, l.startMs);
      const idx = order(x0);
      const x = pick(x0, idx);
      const y = pick(t.y, idx);
      const lo = pick(t.lo, idx);
      const hi = pick(t.hi, idx);
      let band = false;
      for (let i = 0; i < lo.length && !band; i++) band = lo[i] !== hi[i];
      const extent = t.firstStep !== null && t.lastStep !== null ? { min: t.firstStep, max: t.lastStep } : null;
      plotted.push({ label: l.label, color: l.color, x, steps: pick(t.steps, idx), y, lo, hi, smoothed: smooth(smoothing, x, y), band, extent });
    }
  }

  const tables: uPlot.AlignedData[] = [];
  const series: uPlot.Series[] = [];
  const bands: uPlot.Band[] = [];
  const sig: string[] = [xAxis, String(logY)];
  let col = 1;
  for (const p of plotted) {
    const cols: (number | null)[][] = [];
    const faint = p.smoothed !== null;
    if (p.band) {
      cols.push(cleanCol(p.lo), cleanCol(p.hi));
      series.push(
        // the band's edges are stroked too: a one-bucket spike is a line, visible at any width
        { label: `${p.label} min`, stroke: alpha(p.color, faint ? 0.2 : 0.35), width: 1, points: { show: false } },
        { label: `${p.label} max`, stroke: alpha(p.color, faint ? 0.2 : 0.35), width: 1, points: { show: false } },
      );
      bands.push({ series: [col + 1, col], fill: alpha(p.color, faint ? 0.1 : 0.18) });
      col += 2;
    }
    cols.push(cleanCol(p.y));
    series.push({ label: p.label, stroke: faint ? alpha(p.color, 0.3) : p.color, width: faint || plotted.length > THICK_LINES_UP_TO ? 1 : 1.5 });
    col++;
    if (p.smoothed) {
      cols.push(cleanCol(p.smoothed));
      series.push({ label: `${p.label} (smoothed)`, stroke: p.color, width: 1.75, points: { show: false } });
      col++;
    }
    sig.push(`${p.label}|${p.color}|${p.band}|${p.smoothed !== null}`);
    tables.push([p.x, ...cols] as uPlot.AlignedData);
  }
  let data: uPlot.AlignedData;
  if (tables.length === 0) data = [[]];
  else if (tables.length === 1) data = tables[0];
  else data = uPlot.join(tables, tables.map((t) => t.slice(1).map(() => 1 as const)));
  return { data, series, bands, plotted, droppedNonPositive: dropped, signature: sig.join('\u0001') };
}

/** Index of the point of `x` nearest to `at` (x ascending). */
export function nearest(x: number[], at: number): number {
  if (x.length === 0) return -1;
  let lo = 0;
  let hi = x.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x[mid] < at) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(x[lo - 1] - at) <= Math.abs(x[lo] - at)) return lo - 1;
  return lo;
}

/** The step range behind an x range (the axis may be time): min/max step of the points inside. */
export function stepsInX(plotted: Plotted[], xMin: number, xMax: number): { min: number; max: number } | null {
  let min = Infinity;
  let max = -Infinity;
  for (const p of plotted) {
    for (let i = 0; i < p.x.length; i++) {
      if (p.x[i] >= xMin && p.x[i] <= xMax) {
        if (p.steps[i] < min) min = p.steps[i];
        if (p.steps[i] > max) max = p.steps[i];
      }
    }
  }
  return min <= max ? { min: Math.floor(min), max: Math.ceil(max) } : null;
}

/** The x range showing a step range: from the first to the last point inside it. */
export function xOfSteps(plotted: Plotted[], axis: XAxis, r: { min: number; max: number }): { min: number; max: number } | null {
  if (axis === 'step') return r;
  let min = Infinity;
  let max = -Infinity;
  for (const p of plotted) {
    for (let i = 0; i < p.steps.length; i++) {
      if (p.steps[i] >= r.min && p.steps[i] <= r.max) {
        if (p.x[i] < min) min = p.x[i];
        if (p.x[i] > max) max = p.x[i];
      }
    }
  }
  return min < max ? { min, max } : null;
}

export function stepExtent(plotted: Plotted[]): { min: number; max: number } | null {
  let min = Infinity;
  let max = -Infinity;
  for (const p of plotted) {
    if (!p.extent) continue;
    min = Math.min(min, p.extent.min);
    max = Math.max(max, p.extent.max);
  }
  return min <= max ? { min, max } : null;
}
