import { useQuery } from '@tanstack/react-query';
import { Link, useParams, useSearchParams } from 'react-router';
import { api } from '../api.ts';
import { StatusBadge } from '../components/Badge.tsx';
import { fmtAgo, fmtPct, fmtValue } from '../components/format.ts';
import { useProject } from '../components/Layout.tsx';
import { Empty, ErrorState, Loading } from '../components/states.tsx';
import type { Hypothesis } from '@assay/contracts/hypotheses';

const STATUSES = ['Testing', 'Supported', 'Refuted'];

export default function HypothesesPage() {
  const { projectId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const status = params.get('status') ?? '';
  const q = params.get('q') ?? '';
  const project = useProject(projectId);
  const list = useQuery({
    queryKey: ['hypotheses', projectId, status],
    queryFn: () => api<{ items: Hypothesis[] }>(`/projects/${encodeURIComponent(projectId)}/hypotheses`, { query: { status: status || undefined } }),
  });
  const set = (k: string, v: string) =>
    setParams(
      (prev) => {
        const n = new URLSearchParams(prev);
        if (v) n.set(k, v);
        else n.delete(k);
        return n;
      },
      { replace: true },
    );
  if (list.isPending) return <Loading what="Loading hypotheses" />;
  if (list.error) return <ErrorState error={list.error} retry={() => void list.refetch()} />;
  const needle = q.trim().toLowerCase();
  const items = list.data.items.filter((h) => !needle || h.key.toLowerCase().includes(needle) || (h.statement ?? '').toLowerCase().includes(needle));
  return (
    <div className="hypotheses-page">
      <div className="page-head">
        <h1>Hypotheses</h1>
        <span className="muted">{project.data?.name}</span>
        <input data-search type="search" placeholder="Filter  ( / )" value={q} onChange={(e) => set('q', e.target.value)} />
        <select aria-label="Status" value={status} onChange={(e) => set('status', e.target.value)}>
          <option value="">Any status</option>
          {STATUSES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <span className="spacer" />
        <Link to={`/p/${projectId}`}>Runs</Link>
      </div>
      {items.length === 0 ? (
        <Empty>
          {status || needle ? (
            'No hypothesis matches this filter.'
          ) : (
            <>
              No hypotheses yet. State one with the SDK (<code>HypothesisEvaluator(…).save()</code>) or <code>POST /api/v1/projects/…/hypotheses</code>: a
              baseline run, candidate runs and target metrics; Assay judges it from the runs’ metrics.
            </>
          )}
        </Empty>
      ) : (
        <table className="grid-table" data-testid="hypotheses-table">
          <thead>
            <tr>
              <th>Key</th>
              <th>Statement</th>
              <th>Status</th>
              <th className="num">Evidence</th>
              <th className="num">Confidence</th>
              <th>Targets</th>
              <th>Evaluated</th>
            </tr>
          </thead>
          <tbody>
            {items.map((h) => (
              <tr key={h.id} data-testid="hypothesis-row">
                <td className="nowrap">
                  <Link to={`/p/${projectId}/hypotheses/${encodeURIComponent(h.key)}`} className="strong">
                    {h.key}
                  </Link>
                </td>
                <td className="clip">{h.statement}</td>
                <td>
                  <StatusBadge status={h.last_evaluated_at ? h.status : 'Pending'} />
                </td>
                <td className="num">{h.evidence_score === null ? '' : fmtValue(h.evidence_score)}</td>
                <td className="num">{fmtPct(h.confidence)}</td>
                <td className="clip">{h.target_metrics.join(', ')}</td>
                <td className="nowrap muted">{h.last_evaluated_at ? fmtAgo(h.last_evaluated_at) : 'never'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
