import { useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { Link, matchPath, useParams, useSearchParams } from 'react-router';
import { api, csrfTokenReady } from '../api.ts';
import { PALETTE } from '../charts/build.ts';
import { bucketsFor, Chart, type ChartGroup, type ChartRun } from '../charts/Chart.tsx';
import { InView } from '../charts/InView.tsx';
import { useLivePolling } from '../charts/live.ts';
import { measurePlotWidthNow, PlotWidthProbe } from '../charts/PlotWidth.tsx';
import { ChartToolbar, useChartSettings } from '../charts/settings.tsx';
import { SeriesStore } from '../charts/store.ts';
import { seriesKey } from '../charts/types.ts';
import { Empty, ErrorState, Loading } from '../components/states.tsx';
import { FeatureDiff } from './compare/FeatureDiff.tsx';
import { MetricTable, type CompareStats, type RunRef } from './compare/MetricTable.tsx';
import { flatten, valueText } from './run/Features.tsx';
import { StatusBadge } from './run/Header.tsx';
import { groupByPrefix } from './run/MetricCharts.tsx';
import type { Experiment } from './run/types.ts';
import '../charts/charts.css';
import './run/run.css';
import './compare/compare.css';

const TABS = [
  ['charts', 'Charts'],
  ['metrics', 'Metrics'],
  ['features', 'Feature diff'],
] as const;

/** More runs than this on one chart stop being readable; the URL is cut here. */
const MAX_RUNS = 50;

const runIds = (params: URLSearchParams) => [...new Set((params.get('runs') ?? '').split(',').map((s) => s.trim()).filter(Boolean))].slice(0, MAX_RUNS);

type Prefetched = { metrics: string[]; truncated: boolean };
interface EarlySeries {
  projectId: string;
  ids: string;
  width: number;
  store: SeriesStore;
  result: Promise<Prefetched>;
  at: number;
}

/**
 * A compare link opened directly: this chunk loads while main.tsx waits for the session check, and
 * the charts' series request (the page's slowest) leaves the moment the session's CSRF token is
 * known (it is a POST), before React's first render of the page, which took 130-400 ms before the
 * page's own request could leave (bench:ui traces). The page adopts it when it mounts for the same
 * runs; a failed one is forgotten and the page asks again; no session within 3 s: not sent.
 */
let early: EarlySeries | null = (() => {
  const m = matchPath('/p/:projectId/compare', window.location.pathname);
  const params = new URLSearchParams(window.location.search);
  const ids = runIds(params);
  if (!m?.params.projectId || ids.length === 0 || (params.get('tab') ?? 'charts') !== 'charts') return null;
  const width = measurePlotWidthNow();
  if (width <= 0) return null;
  const store = new SeriesStore(m.params.projectId);
  const signedIn = Promise.race([csrfTokenReady().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 3000))]);
  const result = signedIn.then((ok) => (ok ? store.prefetchRuns(ids, bucketsFor(width)) : Promise.reject(new Error('no session'))));
  const e: EarlySeries = { projectId: m.params.projectId, ids: ids.join(','), width, store, result, at: Date.now() };
  result.catch(() => {
    if (early === e) early = null;
  });
  return e;
})();

/** The early request, when it was for this page (same runs, asked moments ago). */
function earlyFor(projectId: string, ids: string[]): EarlySeries | null {
  const e = early;
  return e && e.projectId === projectId && e.ids === ids.join(',') && Date.now() - e.at < 30_000 ? e : null;
}

export default function ComparePage() {
  const { projectId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const [settings, update] = useChartSettings();
  const ids = useMemo(() => runIds(params), [params]);
  const baseline = ids.includes(params.get('baseline') ?? '') ? params.get('baseline')! : ids[0];
  const groupKey = params.get('group') || null;
  const tab = TABS.find(([t]) => t === params.get('tab'))?.[0] ?? 'charts';
  const p = encodeURIComponent(projectId);
  const setParam = (k: string, v: string | null) =>
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        if (v === null) next.delete(k);
        else next.set(k, v);
        return next;
      },
      { replace: true },
    );

  // One request for every compared run: ten GETs queued behind each other in the embedded
  // PostgreSQL and held the metrics reads back (bench:ui trace: ~550 ms).
  const listed = useQuery({
    queryKey: ['experiments-by-id', projectId, ids],
    queryFn: ({ signal }) => api<{ items: Experiment[] }>(`/projects/${p}/experiments`, { query: { ids: ids.join(','), limit: 1000 }, signal }),
    enabled: ids.length > 0,
    refetchInterval: (q) => (q.state.data?.items.some((e) => e.status === 'running') ? 5000 : false),
  });
  const expOf = useMemo(() => {
    const m = new Map<string, Experiment>();
    for (const e of listed.data?.items ?? []) m.set(e.name, e);
    for (const e of listed.data?.items ?? []) m.set(e.id, e);
    return m;
  }, [listed.data]);
  const missing = listed.data ? ids.find((id) => !expOf.has(id)) : undefined;
  const anyRunning = (listed.data?.items ?? []).some((e) => e.status === 'running');
  const withBest = useQuery({
    queryKey: ['compare-best', projectId, ids],
    queryFn: ({ signal }) =>
      api<{ experiments: CompareStats }>('/metrics/compare', { method: 'POST', query: { project_id: projectId, experiment_ids: ids, include: 'best' }, signal }),
    enabled: ids.length > 0 && tab === 'metrics',
    refetchInterval: anyRunning && tab === 'metrics' ? 5000 : false,
  });
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const adopted = useMemo(() => earlyFor(projectId, ids), [projectId]);
  const store = useMemo(() => adopted?.store ?? new SeriesStore(projectId), [adopted, projectId]);
  useLivePolling(store, anyRunning);
  // The charts' data leaves with the page's first requests, for every metric of the runs at the
  // plots' width, instead of after the metric names came back (bench:ui: the series request started
  // ~600 ms later). The names for the charts come from its answer, or from compare's if first.
  const [plotWidth, setPlotWidth] = useState(() => adopted?.width ?? 0);
  const prefetched = useQuery({
    queryKey: ['compare-series', projectId, ids, plotWidth],
    queryFn: () => (adopted && adopted === earlyFor(projectId, ids) && adopted.width === plotWidth ? adopted.result : store.prefetchRuns(ids, bucketsFor(plotWidth))),
    enabled: ids.length > 0 && tab === 'charts' && plotWidth > 0,
    staleTime: Infinity,
    retry: false,
  });

  // The metric names (and last values) come cheap from the summaries; `best` scans every point of
  // every run (seconds for 10 runs × 1M points), so it is asked only for the metric table.
  const compare = useQuery({
    queryKey: ['compare', projectId, ids],
    queryFn: ({ signal }) => api<{ experiments: CompareStats }>('/metrics/compare', { method: 'POST', query: { project_id: projectId, experiment_ids: ids }, signal }),
    // The charts take their names from the prefetch; compare's are needed when it could not give
    // them all (failed, truncated) and while a run is live (metrics logged after it).
    enabled: ids.length > 0 && (tab !== 'charts' || anyRunning || prefetched.isError || prefetched.data?.truncated === true),
    refetchInterval: anyRunning ? 5000 : false,
  });
  const runs: (RunRef & { startMs?: number; exp?: Experiment })[] = ids.map((id, i) => {
    const e = expOf.get(id);
    return { id, name: e?.name ?? id.slice(0, 8), color: PALETTE[i % PALETTE.length], startMs: e ? Date.parse(e.started_at ?? e.created_at) : undefined, exp: e };
  });
  const runsSig = runs.map((r) => `${r.id}:${r.name}:${r.startMs}`).join(',');
  const metricsJoined = useMemo(() => {
    const s = new Set<string>(prefetched.data?.metrics);
    for (const m of Object.values(compare.data?.experiments ?? {})) for (const k of Object.keys(m)) s.add(k);
    return [...s].sort((a, b) => a.localeCompare(b)).join('\u0000');
  }, [compare.data, prefetched.data]);
  // re-read every 5 s while a run is live: same names, same array (the charts keep their state)
  const metrics = useMemo(() => (metricsJoined ? metricsJoined.split('\u0000') : []), [metricsJoined]);
  const featureKeys = useMemo(() => {
    const s = new Set<string>();
    for (const e of listed.data?.items ?? []) for (const [k] of flatten(e.features ?? {})) s.add(k);
    return [...s].sort();
  }, [listed.data]);
  const groups = useMemo<ChartGroup[] | null>(() => {
    if (!groupKey) return null;
    const by = new Map<string, string[]>();
    runs.forEach((r) => {
      const v = r.exp ? flatten(r.exp.features ?? {}).find(([k]) => k === groupKey)?.[1] : undefined;
      const label = v === undefined ? '(missing)' : valueText(v);
      (by.get(label) ?? by.set(label, []).get(label)!).push(r.id);
    });
    return [...by.entries()].map(([value, rs], i) => ({ label: `${groupKey}=${value} (n=${rs.length})`, color: PALETTE[i % PALETTE.length], keys: rs }));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [groupKey, runsSig, listed.data]);
  const chartRuns = useMemo(() => {
    const m = new Map<string, { runs: ChartRun[]; groups: ChartGroup[] | null }>();
    for (const metric of metrics)
      m.set(metric, {
        runs: runs.map((r) => ({ key: seriesKey(r.id, metric), label: r.name, color: r.color, startMs: r.startMs })),
        groups: groups?.map((g) => ({ ...g, keys: g.keys.map((id) => seriesKey(id, metric)) })) ?? null,
      });
    return m;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [metrics, runsSig, groups]);

  if (ids.length === 0)
    return (
      <Empty>
        No runs selected. Pick runs in the <Link to={`/p/${p}`}>runs table</Link> and press Compare.
      </Empty>
    );
  if (listed.isError) return <ErrorState error={listed.error} retry={() => void listed.refetch()} />;
  if (missing !== undefined) return <ErrorState error={new Error(`Run ${missing} not found`)} />;
  // The charts do not wait for the runs: their names and start times fill in when they arrive.
  const probe = plotWidth === 0 && <PlotWidthProbe onWidth={setPlotWidth} />;
  if (listed.isPending && compare.isPending && !prefetched.data)
    return (
      <>
        {probe}
        <Loading what="Loading runs" />
      </>
    );
  // Charts draw from whichever names came first; a failed prefetch leaves them to compare's names.
  const namesPending = compare.isPending && !prefetched.data;

  const remove = (id: string) => setParam('runs', ids.filter((x) => x !== id).join(',') || null);
  return (
    <div className="compare-page" data-testid="compare-page">
      {probe}
      <h1 className="run-title" style={{ fontSize: 20, margin: 0 }}>
        Compare {ids.length} run{ids.length === 1 ? '' : 's'}
      </h1>
      <div className="compare-runs">
        {runs.map((r) => (
          <span className="run-chip" key={r.id} data-testid="compare-run">
            <i className="swatch" style={{ background: r.color }} />
            <Link to={`/p/${p}/runs/${encodeURIComponent(r.id)}`}>{r.name}</Link>
            {r.exp && <StatusBadge status={r.exp.status} />}
            <button type="button" onClick={() => remove(r.id)} aria-label={`Remove ${r.name} from the comparison`} title="Remove">
              ×
            </button>
          </span>
        ))}
      </div>
      <div className="compare-controls">
        <label>
          Baseline{' '}
          <select value={baseline} onChange={(e) => setParam('baseline', e.target.value)} data-testid="baseline">
            {runs.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Group by{' '}
          <select value={groupKey ?? ''} onChange={(e) => setParam('group', e.target.value || null)} data-testid="group-by">
            <option value="">— each run —</option>
            {featureKeys.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div className="tabs" role="tablist">
        {TABS.map(([t, label]) => (
          <button key={t} type="button" role="tab" aria-selected={tab === t} className={tab === t ? 'tab active' : 'tab'} onClick={() => setParam('tab', t === 'charts' ? null : t)}>
            {label}
          </button>
        ))}
      </div>
      {tab === 'features' && <FeatureDiff projectId={projectId} runs={runs} baseline={baseline} />}
      {tab !== 'features' &&
        ((tab === 'metrics' ? compare.isPending : namesPending) ? (
          <Loading what="Loading metrics" />
        ) : compare.isError && (tab === 'metrics' || !prefetched.data) ? (
          <ErrorState error={compare.error} retry={() => void compare.refetch()} />
        ) : tab === 'metrics' ? (
          withBest.isPending ? (
            <Loading what="Computing best values" />
          ) : withBest.isError ? (
            <ErrorState error={withBest.error} retry={() => void withBest.refetch()} />
          ) : (
            <MetricTable runs={runs} baseline={baseline} stats={withBest.data.experiments} metrics={metrics} />
          )
        ) : metrics.length === 0 ? (
          <Empty>None of these runs has logged a metric yet.</Empty>
        ) : (
          <>
            <div className="charts-bar">
              <ChartToolbar settings={settings} update={update} />
            </div>
            {groups && <p className="group-legend">Mean ± standard deviation across the runs of each group, on aligned steps (x axis: step).</p>}
            {groupByPrefix(metrics).map((s) => (
              <details key={s.title} className="chart-section" open>
                <summary>
                  {s.title}
                  <span className="count">{s.names.length}</span>
                </summary>
                <div className="chart-grid">
                  {s.names.map((m) => (
                    <InView key={m}>
                      {() => <Chart metric={m} runs={chartRuns.get(m)!.runs} groups={chartRuns.get(m)!.groups} store={store} settings={settings} onZoom={(zoom) => update({ zoom })} />}
                    </InView>
                  ))}
                </div>
              </details>
            ))}
          </>
        ))}
    </div>
  );
}
