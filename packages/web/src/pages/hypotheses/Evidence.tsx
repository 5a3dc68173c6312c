import { Link } from 'react-router';
import { StatusBadge } from '../../components/Badge.tsx';
import { fmtDate, fmtPct, fmtValue } from '../../components/format.ts';
import type { Evaluation } from '@assay/contracts/hypotheses';

function Runs({ projectId, names, ids }: { projectId: string; names: string[]; ids: string[] }) {
  if (!names.length) return <span className="muted">no runs</span>;
  return (
    <span className="run-list">
      {names.map((n, i) => (
        <Link key={`${n}-${i}`} to={`/p/${projectId}/runs/${ids[i] ?? encodeURIComponent(n)}`}>
          {n}
        </Link>
      ))}
    </span>
  );
}

function signed(v: number | null): string {
  if (v === null) return '';
  const s = fmtValue(v);
  return v > 0 ? `+${s}` : s;
}

/** Baseline and candidate arms of one evaluation, with the runs each holds. */
export function Arms({ projectId, ev }: { projectId: string; ev: Evaluation }) {
  return (
    <section className="card" data-testid="arms">
      <h2>Arms</h2>
      <table className="grid-table">
        <thead>
          <tr>
            <th>Arm</th>
            <th>Status</th>
            <th className="num">n</th>
            <th className="num">Running</th>
            <th className="num">Evidence</th>
            <th className="num">Confidence</th>
            <th>Runs</th>
          </tr>
        </thead>
        <tbody>
          <tr data-testid="arm-baseline">
            <td className="strong">baseline</td>
            <td />
            <td className="num">{ev.baseline.n}</td>
            <td className="num">{ev.baseline.running}</td>
            <td />
            <td />
            <td>
              <Runs projectId={projectId} names={ev.baseline.experiments} ids={ev.baseline.experiment_ids} />
            </td>
          </tr>
          {ev.arms.map((a) => (
            <tr key={a.arm} data-testid="arm-candidate" className={a.arm === ev.leading_arm ? 'leading' : undefined}>
              <td className="strong" title={JSON.stringify(a.features)}>
                {a.arm}
                {a.arm === ev.leading_arm && <span className="muted small"> (leading)</span>}
                {a.reasons.length > 0 && <div className="muted small">{a.reasons.join('; ')}</div>}
              </td>
              <td>
                <StatusBadge status={a.status} />
              </td>
              <td className="num">{a.n}</td>
              <td className="num">{a.running}</td>
              <td className="num">{fmtValue(a.evidence_score)}</td>
              <td className="num">{fmtPct(a.confidence)}</td>
              <td>
                <Runs projectId={projectId} names={a.experiments} ids={a.experiment_ids} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Per target metric × candidate arm: the numbers behind the verdict. */
export function EvidenceTable({ ev }: { ev: Evaluation }) {
  return (
    <section className="card">
      <h2>Evidence per metric</h2>
      <p className="muted small">
        An improvement counts at confidence ≥ {fmtPct(ev.support_threshold, 2)}, a worsening at ≥ {fmtPct(ev.refute_threshold, 2)} (threshold{' '}
        {fmtPct(ev.confidence_threshold, 1)}, corrected for the number of arms and metrics); minimum effect {fmtPct(ev.min_effect, 1)}.
      </p>
      {ev.metrics.length === 0 ? (
        <p className="muted">No metric evidence: the arms have no values for the target metrics yet.</p>
      ) : (
        <div className="table-scroll">
          <table className="grid-table" data-testid="evidence-table">
            <thead>
              <tr>
                <th>Metric</th>
                <th>Arm</th>
                <th className="num">Baseline</th>
                <th className="num">Candidate</th>
                <th className="num">Δ</th>
                <th className="num">Δ %</th>
                <th className="num">n (base / cand)</th>
                <th>Method</th>
                <th className="num">p</th>
                <th className="num">Confidence</th>
                <th>Verdict</th>
              </tr>
            </thead>
            <tbody>
              {ev.metrics.map((m) => (
                <tr key={`${m.metric_name}\u0000${m.candidate_arm}`} data-testid="evidence-row">
                  <td className="strong">
                    {m.metric_name} <span className="dir">{m.direction === 'minimize' ? '↓' : '↑'}</span>
                    <div className="muted small">{m.aggregation}</div>
                  </td>
                  <td>{m.candidate_arm}</td>
                  <td className="num">{fmtValue(m.baseline_value)}</td>
                  <td className="num">{fmtValue(m.candidate_value)}</td>
                  <td className="num">{signed(m.delta)}</td>
                  <td className="num">{m.relative_delta === null ? '' : `${m.relative_delta > 0 ? '+' : ''}${fmtPct(m.relative_delta)}`}</td>
                  <td className="num">
                    {m.n_baseline} / {m.n_candidate}
                  </td>
                  <td>{m.method}</td>
                  <td className="num">{m.p_value === null ? '' : fmtValue(m.p_value)}</td>
                  <td className="num">{fmtPct(m.confidence)}</td>
                  <td>
                    <StatusBadge status={m.verdict} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function History({ items }: { items: Evaluation[] }) {
  return (
    <section className="card">
      <h2>Evaluation history</h2>
      {items.length === 0 ? (
        <p className="muted">Not evaluated yet.</p>
      ) : (
        <table className="grid-table" data-testid="evaluation-history">
          <thead>
            <tr>
              <th>Evaluated</th>
              <th>Status</th>
              <th className="num">Evidence</th>
              <th className="num">Confidence</th>
              <th>Leading arm</th>
              <th>Message</th>
            </tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.id} data-testid="evaluation-row">
                <td className="nowrap">{fmtDate(e.evaluated_at)}</td>
                <td>
                  <StatusBadge status={e.status} />
                </td>
                <td className="num">{fmtValue(e.evidence_score)}</td>
                <td className="num">{fmtPct(e.confidence)}</td>
                <td>{e.leading_arm}</td>
                <td className="clip" title={e.message}>
                  {e.message}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
