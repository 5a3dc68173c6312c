import { toNumber } from '../../api.ts';
import { fmt } from '../../charts/Chart.tsx';
import { Empty } from '../../components/states.tsx';

export interface Stat {
  last: number | string | null;
  min: number | string | null;
  max: number | string | null;
  count: number;
  best?: number | string | null;
  direction?: 'minimize' | 'maximize';
}
export type CompareStats = Record<string, Record<string, Stat>>;

export interface RunRef {
  id: string;
  name: string;
  color: string;
}

function Delta({ v, base, direction }: { v: number | null; base: number | null; direction?: string }) {
  if (v === null || base === null || !Number.isFinite(v) || !Number.isFinite(base)) return null;
  const d = v - base;
  if (d === 0) return <span className="delta">±0</span>;
  const better = direction === 'minimize' ? d < 0 : d > 0;
  const pct = base !== 0 ? ` (${d > 0 ? '+' : '−'}${Math.abs((d / Math.abs(base)) * 100).toFixed(1)}%)` : '';
  return (
    <span className={`delta ${better ? 'better' : 'worse'}`} data-testid="delta">
      {d > 0 ? '+' : '−'}
      {fmt(Math.abs(d))}
      {pct}
    </span>
  );
}

/** Last and best of every metric per run, with the difference to the baseline run. */
export function MetricTable({ runs, baseline, stats, metrics }: { runs: RunRef[]; baseline: string; stats: CompareStats; metrics: string[] }) {
  if (metrics.length === 0) return <Empty>None of these runs has logged a metric yet.</Empty>;
  const base = stats[baseline] ?? {};
  return (
    <div className="table-scroll">
      <table className="plain-table compare-table" data-testid="metric-table">
        <thead>
          <tr>
            <th rowSpan={2}>Metric</th>
            {runs.map((r) => (
              <th key={r.id} colSpan={2} className={r.id === baseline ? 'is-baseline' : ''}>
                <i className="swatch" style={{ background: r.color }} /> {r.name}
                {r.id === baseline && <span className="baseline-mark"> baseline</span>}
              </th>
            ))}
          </tr>
          <tr>
            {runs.map((r) => [
              <th key={`${r.id}-l`} className="num">
                last
              </th>,
              <th key={`${r.id}-b`} className="num">
                best
              </th>,
            ])}
          </tr>
        </thead>
        <tbody>
          {metrics.map((m) => {
            const b = base[m];
            const dir = runs.map((r) => stats[r.id]?.[m]?.direction).find(Boolean);
            return (
              <tr key={m} data-metric={m}>
                <td className="mono">
                  {m} {dir && <span className="dir">{dir === 'minimize' ? '↓' : '↑'}</span>}
                </td>
                {runs.map((r) => {
                  const s = stats[r.id]?.[m];
                  if (!s) return [<td key={`${r.id}-l`} className="num muted">—</td>, <td key={`${r.id}-b`} className="num muted">—</td>];
                  const last = toNumber(s.last);
                  const best = toNumber(s.best ?? null);
                  const isBase = r.id === baseline;
                  return [
                    <td key={`${r.id}-l`} className="num">
                      {fmt(last)} {!isBase && <Delta v={last} base={toNumber(b?.last ?? null)} direction={dir} />}
                    </td>,
                    <td key={`${r.id}-b`} className="num">
                      {fmt(best)} {!isBase && <Delta v={best} base={toNumber(b?.best ?? null)} direction={dir} />}
                    </td>,
                  ];
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
