import { useMemo, useState } from 'react';
import { Empty } from '../../components/states.tsx';

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 0;
}

export function flatten(v: Json, prefix = '', out: [string, Json][] = []): [string, Json][] {
  if (isObject(v)) for (const [k, c] of Object.entries(v)) flatten(c, prefix ? `${prefix}.${k}` : k, out);
  else if (prefix) out.push([prefix, v]);
  return out;
}

export function valueText(v: Json): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function Node({ name, value }: { name: string; value: Json }) {
  if (isObject(value)) {
    return (
      <details open className="ftree-node">
        <summary>{name}</summary>
        {Object.entries(value).map(([k, c]) => (
          <Node key={k} name={k} value={c} />
        ))}
      </details>
    );
  }
  return (
    <div className="ftree-leaf">
      <span className="ftree-key">{name}</span>
      <span className="ftree-value mono">{valueText(value)}</span>
    </div>
  );
}

/** The run's features as a nested tree; a search shows the matching dotted keys flat. */
export function Features({ features }: { features: Record<string, unknown> }) {
  const [q, setQ] = useState('');
  const flat = useMemo(() => flatten(features), [features]);
  if (flat.length === 0) return <Empty>This run has no features. Log them with <code>exp.log_features({'{…}'})</code>.</Empty>;
  const needle = q.trim().toLowerCase();
  const hits = needle ? flat.filter(([k, v]) => k.toLowerCase().includes(needle) || valueText(v).toLowerCase().includes(needle)) : null;
  return (
    <section className="run-section" data-testid="features">
      <input data-search="" type="search" placeholder={`Search ${flat.length} features…`} value={q} onChange={(e) => setQ(e.target.value)} className="run-search" aria-label="Search features" />
      {hits ? (
        hits.length === 0 ? (
          <Empty>No feature matches “{q}”.</Empty>
        ) : (
          <div className="ftree">
            {hits.map(([k, v]) => (
              <div className="ftree-leaf" key={k}>
                <span className="ftree-key mono">{k}</span>
                <span className="ftree-value mono">{valueText(v)}</span>
              </div>
            ))}
          </div>
        )
      ) : (
        <div className="ftree">
          {Object.entries(features).map(([k, v]) => (
            <Node key={k} name={k} value={v} />
          ))}
        </div>
      )}
    </section>
  );
}
