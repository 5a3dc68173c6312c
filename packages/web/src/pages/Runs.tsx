import { useCallback, useEffect, useMemo, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { Dialog } from '../components/Dialog.tsx';
import { download } from '../components/format.ts';
import { useProject } from '../components/Layout.tsx';
import { Empty, ErrorState, Loading } from '../components/states.tsx';
import { ColumnChooser } from './runs/ColumnChooser.tsx';
import { Grid } from './runs/Grid.tsx';
import { POLL_MS, useRunsTable } from './runs/useRunsTable.ts';
import { useUrlState } from './runs/useUrlState.ts';
import {
  allColumns,
  defaultColumnIds,
  filterRows,
  groupRows,
  parseFilter,
  resolveColumns,
  sortRows,
  toCsv,
  toRows,
  type Column,
  type RunsTable,
} from './runs/model.ts';

const STATUSES = ['running', 'complete', 'failed', 'crashed'];
const PINNED: Record<string, Column> = {
  status: { id: 'status', kind: 'status', label: 'Status', width: 0 },
  name: { id: 'name', kind: 'name', label: 'Name', width: 0 },
};

/** A clock for live durations: ticks each second only while something is running. */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

export default function RunsPage() {
  const { projectId = '' } = useParams();
  const navigate = useNavigate();
  const [params, update] = useUrlState();
  const [chooser, setChooser] = useState(false);
  const project = useProject(projectId);
  const includeDeleted = params.get('deleted') === '1';

  const table = useRunsTable(projectId, includeDeleted);


  const rows = useMemo(() => toRows(table.data?.items ?? []), [table.data?.items]);
  const metrics = useMemo(() => table.data?.metrics ?? [], [table.data?.metrics]);
  const anyRunning = rows.some((r) => r.run.status === 'running');
  const now = useNow(anyRunning);

  const colParam = params.getAll('col');
  const colKey = colParam.join('\u0000');
  const defaultIds = useMemo(() => defaultColumnIds(rows, metrics), [rows, metrics]);
  const chosenIds = colParam.length ? colParam : defaultIds;
  // keyed by the joined ids: getAll() returns a new array on every render
  const cols = useMemo(() => resolveColumns(chosenIds, metrics), [colKey, defaultIds, metrics]);
  const everyColumn = useMemo(() => allColumns(rows, metrics), [rows, metrics]);

  const q = params.get('q') ?? '';
  const status = params.get('status') ?? '';
  const groupKey = params.get('group') ?? '';
  const sortId = params.get('sort');
  const dir = params.get('dir') === 'desc' ? 'desc' : 'asc';
  const collapsedList = params.getAll('collapsed');
  const collapsed = useMemo(() => new Set(collapsedList), [collapsedList.join('\u0000')]);
  const selectedList = (params.get('sel') ?? '').split(',').filter(Boolean);
  const selected = useMemo(() => new Set(selectedList), [selectedList.join(',')]);

  const sortCol = sortId ? (PINNED[sortId] ?? cols.find((c) => c.id === sortId) ?? resolveColumns([sortId], metrics)[0]) : undefined;
  const sortNow = sortCol?.kind === 'duration' ? now : 0;
  const filtered = useMemo(() => filterRows(rows, parseFilter(q, status)), [rows, q, status]);
  const sorted = useMemo(() => sortRows(filtered, sortCol, dir, sortNow), [filtered, sortCol?.id, dir, sortNow]);
  const display = useMemo(() => groupRows(sorted, groupKey, collapsed), [sorted, groupKey, collapsed]);

  const featureKeys = useMemo(() => everyColumn.filter((c) => c.kind === 'feature').map((c) => (c.kind === 'feature' ? c.key : '')), [everyColumn]);

  const onSort = useCallback(
    (id: string) =>
      update((p) => {
        if (p.get('sort') === id) p.set('dir', p.get('dir') === 'desc' ? 'asc' : 'desc');
        else {
          p.set('sort', id);
          p.set('dir', 'asc');
        }
      }),
    [update],
  );
  const onSelect = useCallback(
    (id: string, on: boolean) =>
      update((p) => {
        const cur = (p.get('sel') ?? '').split(',').filter(Boolean);
        const next = on ? [...cur.filter((x) => x !== id), id] : cur.filter((x) => x !== id);
        if (next.length) p.set('sel', next.join(','));
        else p.delete('sel');
      }),
    [update],
  );
  const shownIds = sorted.map((r) => r.run.id);
  const allSelected = shownIds.length > 0 && shownIds.every((id) => selected.has(id));
  const onSelectAll = (on: boolean) =>
    update((p) => {
      const cur = (p.get('sel') ?? '').split(',').filter(Boolean);
      const shown = new Set(shownIds);
      const next = on ? [...cur, ...shownIds.filter((id) => !cur.includes(id))] : cur.filter((id) => !shown.has(id));
      if (next.length) p.set('sel', next.join(','));
      else p.delete('sel');
    });
  const onToggleGroup = useCallback(
    (key: string) =>
      update((p) => {
        const cur = p.getAll('collapsed');
        p.delete('collapsed');
        for (const k of cur.includes(key) ? cur.filter((k) => k !== key) : [...cur, key]) p.append('collapsed', k);
      }),
    [update],
  );
  const setCols = (ids: string[]) =>
    update((p) => {
      p.delete('col');
      for (const id of ids) p.append('col', id);
    });
  const setParam = (k: string, v: string) => update((p) => (v ? p.set(k, v) : p.delete(k)));

  if (table.isPending) return <Loading what="Loading runs" />;
  if (table.error && !table.data) return <ErrorState error={table.error} retry={() => void table.refetch()} />;
  const total = rows.length;
  const name = project.data?.name ?? '';
  const existing = selectedList.filter((id) => rows.some((r) => r.run.id === id));

  return (
    <div className="runs-page">
      <div className="page-head">
        <h1 title={project.data?.description ?? undefined}>{name || 'Runs'}</h1>
        <span className="muted" data-testid="run-count">
          {filtered.length === total ? `${total} runs` : `${filtered.length} of ${total} runs`}
        </span>
        {anyRunning && (
          <span className="live-note" title={`Refreshing every ${POLL_MS / 1000} s`}>
            <span className="live-dot" /> live
          </span>
        )}
        {table.error && <span className="inline-error">Refresh failed: {table.error.message} — showing the last answer</span>}
        <span className="spacer" />
        <button
          type="button"
          className="primary"
          data-testid="compare-button"
          disabled={existing.length < 1}
          onClick={() => navigate(`/p/${projectId}/compare?runs=${existing.join(',')}`)}
        >
          Compare ({existing.length})
        </button>
      </div>
      <div className="toolbar">
        <input
          data-search
          data-testid="runs-filter"
          type="search"
          className="grow"
          placeholder="Filter: words in name/tags/host, key=value for features  ( / )"
          value={q}
          onChange={(e) => setParam('q', e.target.value)}
        />
        <select aria-label="Status" data-testid="status-filter" value={status} onChange={(e) => setParam('status', e.target.value)}>
          <option value="">Any status</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <select aria-label="Group by" data-testid="group-by" value={groupKey} onChange={(e) => update((p) => (p.delete('collapsed'), e.target.value ? p.set('group', e.target.value) : p.delete('group')))}>
          <option value="">No grouping</option>
          {featureKeys.map((k) => (
            <option key={k} value={k}>
              Group by {k}
            </option>
          ))}
        </select>
        <button type="button" onClick={() => setChooser(true)} data-testid="columns-button">
          Columns ({cols.length})
        </button>
        <button type="button" onClick={() => download(`${name || projectId}-runs.csv`, toCsv(sorted, cols, now))} disabled={!sorted.length}>
          Export CSV
        </button>
        <label className="check">
          <input type="checkbox" checked={includeDeleted} onChange={(e) => setParam('deleted', e.target.checked ? '1' : '')} /> deleted
        </label>
      </div>
      {table.data?.truncated && <p className="warn-note">Only the newest runs are shown: the project has more than the table loads at once.</p>}
      {total === 0 ? (
        <Empty>
          No runs in this project yet. Log one with the Python SDK:{' '}
          <code>Experiment(project=&quot;{name || 'project'}&quot;, name=&quot;run-1&quot;)</code>
        </Empty>
      ) : sorted.length === 0 ? (
        <Empty>
          No run matches this filter.{' '}
          <button type="button" onClick={() => update((p) => (p.delete('q'), p.delete('status')))}>
            Clear the filter
          </button>
        </Empty>
      ) : (
        <Grid
          projectId={projectId}
          rows={display}
          cols={cols}
          sort={sortCol ? { id: sortCol.id, dir } : null}
          onSort={onSort}
          selected={selected}
          onSelect={onSelect}
          allSelected={allSelected}
          onSelectAll={onSelectAll}
          onToggleGroup={onToggleGroup}
          now={now}
        />
      )}
      <Dialog open={chooser} onClose={() => setChooser(false)} title="Columns">
        <ColumnChooser all={everyColumn} chosen={chosenIds} onChange={setCols} onReset={() => setCols([])} />
      </Dialog>
    </div>
  );
}
