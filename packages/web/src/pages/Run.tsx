import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { useParams, useSearchParams } from 'react-router';
import { api } from '../api.ts';
import { ErrorState, Loading } from '../components/states.tsx';
import { Artifacts } from './run/Artifacts.tsx';
import { CodeSnapshot } from './run/Code.tsx';
import { Features } from './run/Features.tsx';
import { RunHeader } from './run/Header.tsx';
import { Lineage } from './run/Lineage.tsx';
import { MetricCharts } from './run/MetricCharts.tsx';
import type { Experiment } from './run/types.ts';
import './run/run.css';

const TABS = [
  ['charts', 'Charts'],
  ['features', 'Features'],
  ['code', 'Code'],
  ['artifacts', 'Artifacts'],
  ['lineage', 'Lineage'],
] as const;
type Tab = (typeof TABS)[number][0];

interface MetricNames {
  items: { metric_name: string; total_points: number; last_logged_at: string | null }[];
}

export default function RunPage() {
  const { projectId = '', runId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const tab: Tab = (TABS.find(([t]) => t === params.get('tab'))?.[0] ?? 'charts') as Tab;
  const p = encodeURIComponent(projectId);
  const r = encodeURIComponent(runId);
  const run = useQuery({
    queryKey: ['experiment', projectId, runId],
    queryFn: ({ signal }) => api<Experiment>(`/projects/${p}/experiments/${r}`, { signal }),
    // status, heartbeat and finish time stay live while it runs
    refetchInterval: (q) => (q.state.data?.status === 'running' ? 2000 : false),
  });
  const running = run.data?.status === 'running';
  const names = useQuery({
    queryKey: ['metric-names', projectId, runId],
    queryFn: ({ signal }) => api<MetricNames>(`/metrics/names/${p}/${r}`, { signal }),
    enabled: run.isSuccess,
    // new metrics of a live run get their chart without a reload
    refetchInterval: running ? 5000 : false,
  });

  // a live run's names are re-read every 5 s: keep the list's identity while it is unchanged
  const joined = names.data?.items.map((i) => i.metric_name).join('\u0000') ?? '';
  const metricNames = useMemo(() => (joined ? joined.split('\u0000') : []), [joined]);

  if (run.isPending) return <Loading what="Loading run" />;
  if (run.isError) return <ErrorState error={run.error} retry={() => void run.refetch()} />;
  const exp = run.data;
  const setTab = (t: Tab) =>
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        if (t === 'charts') next.delete('tab');
        else next.set('tab', t);
        return next;
      },
      { replace: true },
    );

  return (
    <div className="run-page" data-testid="run-page">
      <RunHeader run={exp} />
      <div className="tabs" role="tablist">
        {TABS.map(([t, label]) => (
          <button key={t} type="button" role="tab" aria-selected={tab === t} className={tab === t ? 'tab active' : 'tab'} onClick={() => setTab(t)} data-testid={`tab-${t}`}>
            {label}
          </button>
        ))}
      </div>
      {tab === 'charts' &&
        (names.isPending ? (
          <Loading what="Loading metrics" />
        ) : names.isError ? (
          <ErrorState error={names.error} retry={() => void names.refetch()} />
        ) : (
          <MetricCharts run={exp} names={metricNames} />
        ))}
      {tab === 'features' && <Features features={exp.features ?? {}} />}
      {tab === 'code' && <CodeSnapshot git={exp.git} />}
      {tab === 'artifacts' && <Artifacts projectId={projectId} runId={exp.id} />}
      {tab === 'lineage' && <Lineage projectId={projectId} runId={exp.id} />}
    </div>
  );
}
