import { useQuery } from '@tanstack/react-query';
import { api } from '../../api.ts';
import { Empty, ErrorState, Loading } from '../../components/states.tsx';
import { valueText } from '../run/Features.tsx';
import type { RunRef } from './MetricTable.tsx';

interface DiffAnswer {
  experiments: { ref: string; id: string; name: string }[];
  keys: { key: string; change: 'added' | 'removed' | 'changed' | 'same'; values: Record<string, unknown> }[];
}

/** Only the feature keys whose values differ, relative to the baseline (asked for first). */
export function FeatureDiff({ projectId, runs, baseline }: { projectId: string; runs: RunRef[]; baseline: string }) {
  const ordered = [...runs].sort((a, b) => (a.id === baseline ? -1 : b.id === baseline ? 1 : 0));
  const ids = ordered.map((r) => r.id);
  const q = useQuery({
    queryKey: ['feature-diff', projectId, ids],
    queryFn: ({ signal }) => api<DiffAnswer>(`/projects/${encodeURIComponent(projectId)}/feature-diff`, { query: { experiment_ids: ids }, signal }),
    enabled: ids.length >= 2,
  });
  if (ids.length < 2) return <Empty>Select at least two runs to see how their features differ.</Empty>;
  if (q.isPending) return <Loading what="Comparing features" />;
  if (q.isError) return <ErrorState error={q.error} retry={() => void q.refetch()} />;
  if (q.data.keys.length === 0) return <Empty>These runs have identical features.</Empty>;
  return (
    <div className="table-scroll">
      <table className="plain-table" data-testid="feature-diff">
        <thead>
          <tr>
            <th>Feature</th>
            <th>Change</th>
            {ordered.map((r) => (
              <th key={r.id}>
                <i className="swatch" style={{ background: r.color }} /> {r.name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {q.data.keys.map((k) => (
            <tr key={k.key}>
              <td className="mono">{k.key}</td>
              <td className={`change change-${k.change}`}>{k.change}</td>
              {ordered.map((r) => (
                <td key={r.id} className="mono">
                  {r.id in k.values ? valueText(k.values[r.id]) : <span className="muted">—</span>}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
