import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api, ApiError } from '../api.ts';
import { StatusBadge } from '../components/Badge.tsx';
import { fmtAgo, fmtPct, fmtValue } from '../components/format.ts';
import { ErrorState, Loading } from '../components/states.tsx';
import { useSession } from '../session.tsx';
import { Arms, EvidenceTable, History } from './hypotheses/Evidence.tsx';
import type { Evaluation, HypothesisDetail } from '@assay/contracts/hypotheses';

/** A 422's `detail[0].msg` (names the missing run, suggests near names), else the message. */
function errorText(err: unknown): string {
  if (err instanceof ApiError && Array.isArray(err.detail)) {
    const first = err.detail[0] as { msg?: string } | undefined;
    if (first?.msg) return first.msg;
  }
  return err instanceof Error ? err.message : String(err);
}

export default function HypothesisPage() {
  const { projectId = '', hypothesisId = '' } = useParams();
  const { session } = useSession();
  const qc = useQueryClient();
  const base = `/projects/${encodeURIComponent(projectId)}/hypotheses/${encodeURIComponent(hypothesisId)}`;
  const detail = useQuery({ queryKey: ['hypothesis', projectId, hypothesisId], queryFn: () => api<HypothesisDetail>(base) });
  const history = useQuery({
    queryKey: ['hypothesis', projectId, hypothesisId, 'evaluations'],
    queryFn: () => api<{ items: Evaluation[] }>(`${base}/evaluations`, { query: { limit: 50 } }),
    enabled: detail.isSuccess,
  });
  const evaluate = useMutation({
    mutationFn: () => api<Evaluation>(`${base}/evaluate`, { method: 'POST' }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['hypothesis', projectId, hypothesisId] });
      void qc.invalidateQueries({ queryKey: ['hypotheses', projectId] });
    },
  });
  if (detail.isPending) return <Loading what="Loading the hypothesis" />;
  if (detail.error) return <ErrorState error={detail.error} retry={() => void detail.refetch()} />;
  const h = detail.data;
  const ev = h.latest_evaluation;
  const viewer = session?.role === 'viewer';
  return (
    <div className="hypothesis-page">
      <div className="page-head">
        <h1>{h.key}</h1>
        <StatusBadge status={ev ? h.status : 'Pending'} />
        <span className="spacer" />
        <button
          type="button"
          className="primary"
          data-testid="evaluate-button"
          disabled={viewer || evaluate.isPending}
          title={viewer ? 'Viewers cannot evaluate: it writes a new evaluation' : 'Judge the hypothesis from the runs’ current metrics'}
          onClick={() => evaluate.mutate()}
        >
          {evaluate.isPending ? 'Evaluating…' : 'Evaluate now'}
        </button>
      </div>
      {evaluate.error && (
        <p className="inline-error" role="alert" data-testid="evaluate-error">
          {errorText(evaluate.error)}
        </p>
      )}
      {h.statement && <p className="statement">{h.statement}</p>}
      <section className="card definition">
        <dl>
          <dt>Baseline</dt>
          <dd>{h.baseline_experiment}</dd>
          <dt>Candidates</dt>
          <dd>
            {h.candidate_experiments?.join(', ') ??
              (h.candidate_filter
                ? Object.entries(h.candidate_filter)
                    .map(([k, v]) => `${k} ∈ ${JSON.stringify(v)}`)
                    .join(', ')
                : 'every other run of the project')}
          </dd>
          <dt>Target metrics</dt>
          <dd>{h.target_metrics.join(', ')}</dd>
          <dt>Confidence threshold</dt>
          <dd>{fmtPct(h.confidence_threshold, 2)}</dd>
          <dt>Minimum effect</dt>
          <dd>{fmtPct(h.min_effect, 1)}</dd>
          <dt>Last evaluated</dt>
          <dd>{h.last_evaluated_at ? fmtAgo(h.last_evaluated_at) : 'never'}</dd>
        </dl>
        {ev && (
          <div className="verdict" data-testid="verdict">
            <div className="big">{fmtValue(ev.evidence_score)}</div>
            <div className="muted small">evidence score</div>
            <div className="big">{fmtPct(ev.confidence)}</div>
            <div className="muted small">confidence{ev.leading_arm ? ` · ${ev.leading_arm}` : ''}</div>
          </div>
        )}
      </section>
      {ev ? (
        <>
          <p className="message" data-testid="evaluation-message">
            {ev.message}
          </p>
          <Arms projectId={projectId} ev={ev} />
          <EvidenceTable ev={ev} />
        </>
      ) : (
        <p className="muted">Not evaluated yet{viewer ? '.' : ': “Evaluate now” judges it from the runs’ current metrics.'}</p>
      )}
      {history.error ? <ErrorState error={history.error} /> : history.data ? <History items={history.data.items} /> : <Loading what="Loading history" />}
    </div>
  );
}
