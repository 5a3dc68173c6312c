import { useMemo, useState } from 'react';
import { PALETTE } from '../../charts/build.ts';
import { Chart, type ChartRun } from '../../charts/Chart.tsx';
import { InView } from '../../charts/InView.tsx';
import { useLivePolling } from '../../charts/live.ts';
import { ChartToolbar, useChartSettings } from '../../charts/settings.tsx';
import { SeriesStore } from '../../charts/store.ts';
import { seriesKey } from '../../charts/types.ts';
import { Empty } from '../../components/states.tsx';
import type { Experiment } from './types.ts';

const ORDER = ['train', 'val', 'system'];

/** Sections by the name's prefix: train/, val/, system/ first, other prefixes, then the rest. */
export function groupByPrefix(names: string[]): { title: string; names: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const n of names) {
    const i = n.indexOf('/');
    const p = i > 0 ? n.slice(0, i) : '';
    (groups.get(p) ?? groups.set(p, []).get(p)!).push(n);
  }
  const keys = [...groups.keys()].sort((a, b) => {
    const ra = a === '' ? 1e9 : ORDER.includes(a) ? ORDER.indexOf(a) : 100;
    const rb = b === '' ? 1e9 : ORDER.includes(b) ? ORDER.indexOf(b) : 100;
    return ra - rb || a.localeCompare(b);
  });
  return keys.map((k) => ({ title: k ? `${k}/` : 'Other', names: groups.get(k)!.sort((a, b) => a.localeCompare(b)) }));
}

/** The run's charts: one per metric, mounted only in view, one series request per visible batch. */
export function MetricCharts({ run, names }: { run: Experiment; names: string[] }) {
  const store = useMemo(() => new SeriesStore(run.project_id), [run.project_id, run.id]);
  const [settings, update] = useChartSettings();
  const [filter, setFilter] = useState('');
  const [closed, setClosed] = useState<Set<string>>(new Set());
  useLivePolling(store, run.status === 'running');

  const startMs = Date.parse(run.started_at ?? run.created_at);
  const runsByMetric = useMemo(() => {
    const m = new Map<string, ChartRun[]>();
    for (const n of names) m.set(n, [{ key: seriesKey(run.id, n), label: run.name, color: PALETTE[0], startMs }]);
    return m;
  }, [names, run.id, run.name, startMs]);
  const needle = filter.trim().toLowerCase();
  const shown = needle ? names.filter((n) => n.toLowerCase().includes(needle)) : names;
  const sections = groupByPrefix(shown);
  const onZoom = (zoom: typeof settings.zoom) => update({ zoom });

  return (
    <section data-testid="run-charts">
      <div className="charts-bar">
        {/* data-search: the shell's "/" shortcut focuses it */}
        <input data-search="" type="search" className="run-search" placeholder={`Filter ${names.length} metrics… ( / )`} value={filter} onChange={(e) => setFilter(e.target.value)} aria-label="Filter metrics" />
        <ChartToolbar settings={settings} update={update} />
      </div>
      {names.length === 0 ? (
        <Empty>No metrics logged yet{run.status === 'running' ? ' — charts appear as soon as the first point arrives.' : '.'}</Empty>
      ) : shown.length === 0 ? (
        <Empty>No metric matches “{filter}”.</Empty>
      ) : (
        sections.map((s) => (
          <details
            key={s.title}
            className="chart-section"
            open={!closed.has(s.title)}
            onToggle={(e) => {
              const open = (e.currentTarget as HTMLDetailsElement).open;
              setClosed((prev) => {
                const next = new Set(prev);
                if (open) next.delete(s.title);
                else next.add(s.title);
                return next;
              });
            }}
          >
            <summary>
              {s.title}
              <span className="count">{s.names.length}</span>
            </summary>
            {!closed.has(s.title) && (
              <div className="chart-grid">
                {s.names.map((n) => (
                  <InView key={n}>{() => <Chart metric={n} runs={runsByMetric.get(n)!} store={store} settings={settings} onZoom={onZoom} />}</InView>
                ))}
              </div>
            )}
          </details>
        ))
      )}
    </section>
  );
}
