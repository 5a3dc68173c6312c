import { csrfTokenReady } from '../../api.ts';
import { SeriesStore } from '../../charts/store.ts';

/**
 * A compare link opened directly: the charts' series request (the page's slowest) leaves from the
 * main bundle, before the Compare chunk and its styles have loaded (bench:ui trace: it left after
 * them, 480-790 ms from navigation, ~170 ms when sent from here). The page adopts it when it mounts
 * for the same runs at the same plot width; otherwise (a failed request, another width) it asks
 * again. Imports only the series store: no chart or page code in the main chunk.
 */

/** More runs than this on one chart stop being readable; the URL is cut here. */
export const MAX_RUNS = 50;

export const runIds = (params: URLSearchParams) => [...new Set((params.get('runs') ?? '').split(',').map((s) => s.trim()).filter(Boolean))].slice(0, MAX_RUNS);

export interface EarlySeries {
  projectId: string;
  ids: string;
  width: number;
  buckets: number;
  store: SeriesStore;
  result: Promise<{ metrics: string[]; truncated: boolean }>;
  at: number;
}

let early: EarlySeries | null = null;

/**
 * A chart's plot width before any CSS of the charts has loaded, from the layout's numbers: the page
 * column (`.page`, styles.css: 16 px padding), the grid (charts.css: `repeat(auto-fill, minmax(440px,
 * 1fr))`, 12 px gaps) and a chart's 1 px border and 8 px padding. Without a page scrollbar yet, as
 * the probe (charts/PlotWidth.tsx) measures it; if the two ever differ the page just asks again.
 */
export function estimatePlotWidth(viewport = document.documentElement.clientWidth): number {
  const column = viewport - 2 * 16;
  const cols = Math.max(1, Math.floor((column + 12) / (440 + 12)));
  return Math.floor((column - (cols - 1) * 12) / cols - 2 * (1 + 8));
}

/**
 * charts/Chart.tsx's `bucketsFor`, which cannot be imported here without uPlot: the page adopts the
 * request only when its own `bucketsFor` gives the same count, so a drift costs a request, never data.
 */
const bucketsFor = (width: number) => Math.max(100, Math.min(10_000, Math.round(width)));

/** Called by main.tsx at start-up. */
export function startEarlyCompare(): void {
  const m = /^\/p\/([^/]+)\/compare\/?$/.exec(window.location.pathname);
  const params = new URLSearchParams(window.location.search);
  const ids = runIds(params);
  if (!m || ids.length === 0 || (params.get('tab') ?? 'charts') !== 'charts') return;
  const width = estimatePlotWidth();
  if (width <= 0) return;
  let projectId: string;
  try {
    projectId = decodeURIComponent(m[1]);
  } catch {
    return; // a malformed link: the page shows its own error
  }
  const store = new SeriesStore(projectId);
  // the token is normally known at once (the assay_csrf cookie); else the session's answer brings it
  const signedIn = Promise.race([csrfTokenReady().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 3000))]);
  const buckets = bucketsFor(width);
  const result = signedIn.then((ok) => (ok ? store.prefetchRuns(ids, buckets) : Promise.reject(new Error('no session'))));
  const e: EarlySeries = { projectId, ids: ids.join(','), width, buckets, store, result, at: Date.now() };
  result.catch(() => {
    if (early === e) early = null;
  });
  early = e;
}

/** The early request, when it was for this page (same runs, asked moments ago). */
export function earlyFor(projectId: string, ids: string[]): EarlySeries | null {
  const e = early;
  return e && e.projectId === projectId && e.ids === ids.join(',') && Date.now() - e.at < 30_000 ? e : null;
}
