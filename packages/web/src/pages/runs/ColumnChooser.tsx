import { useMemo, useState } from 'react';
import type { Column } from './model.ts';

interface Props {
  all: Column[];
  chosen: string[];
  onChange(ids: string[]): void;
  onReset(): void;
}

/** Checkbox list of every column (base, features, metric summaries) with a filter; order = the list's order. */
export function ColumnChooser({ all, chosen, onChange, onReset }: Props) {
  const [q, setQ] = useState('');
  const on = useMemo(() => new Set(chosen), [chosen]);
  const needle = q.trim().toLowerCase();
  const shown = all.filter((c) => !needle || c.id.toLowerCase().includes(needle));
  const groups: [string, Column[]][] = [
    ['Run', shown.filter((c) => c.kind !== 'feature' && c.kind !== 'metric')],
    ['Features', shown.filter((c) => c.kind === 'feature')],
    ['Metrics', shown.filter((c) => c.kind === 'metric')],
  ];
  // keep the chosen order for columns already there, append new ones in the list's order
  const set = (ids: Set<string>) => onChange([...chosen.filter((id) => ids.has(id)), ...all.map((c) => c.id).filter((id) => ids.has(id) && !on.has(id))]);
  const toggle = (id: string, v: boolean) => {
    const next = new Set(on);
    if (v) next.add(id);
    else next.delete(id);
    set(next);
  };
  const bulk = (cols: Column[], v: boolean) => {
    const next = new Set(on);
    for (const c of cols) if (v) next.add(c.id);
    else next.delete(c.id);
    set(next);
  };
  return (
    <div className="col-chooser" data-testid="column-chooser">
      <div className="row-gap">
        <input type="search" placeholder="Filter columns" value={q} onChange={(e) => setQ(e.target.value)} autoFocus />
        <span className="muted">{chosen.length} shown</span>
        <span className="spacer" />
        <button type="button" onClick={onReset}>
          Default columns
        </button>
      </div>
      <div className="col-groups">
        {groups.map(([title, cols]) =>
          cols.length === 0 ? null : (
            <section key={title}>
              <h3>
                {title} <span className="muted">({cols.length})</span>
                <button type="button" className="link" onClick={() => bulk(cols, true)}>
                  all
                </button>
                <button type="button" className="link" onClick={() => bulk(cols, false)}>
                  none
                </button>
              </h3>
              <ul>
                {cols.map((c) => (
                  <li key={c.id}>
                    <label>
                      <input type="checkbox" checked={on.has(c.id)} onChange={(e) => toggle(c.id, e.target.checked)} />
                      {c.kind === 'metric' ? `${c.metric} · ${c.agg}` : c.label}
                    </label>
                  </li>
                ))}
              </ul>
            </section>
          ),
        )}
      </div>
    </div>
  );
}
