import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useRef } from 'react';
import { Link } from 'react-router';
import { StatusBadge } from '../../components/Badge.tsx';
import { cellText, isLive, type Column, type DisplayRow } from './model.ts';

export const ROW_H = 32;
const HEADER_H = 46;
const W_SELECT = 34;
const W_STATUS = 112;
const W_NAME = 210;
const PINNED_W = W_SELECT + W_STATUS + W_NAME;

export interface GridProps {
  projectId: string;
  rows: DisplayRow[];
  cols: Column[];
  sort: { id: string; dir: 'asc' | 'desc' } | null;
  onSort(id: string): void;
  selected: Set<string>;
  onSelect(id: string, on: boolean): void;
  allSelected: boolean;
  onSelectAll(on: boolean): void;
  onToggleGroup(key: string): void;
  now: number;
}

function HeaderLabel({ col }: { col: Column }) {
  if (col.kind !== 'metric') return <span className="hl">{col.label}</span>;
  return (
    <>
      <span className="hl" title={`${col.metric} — ${col.direction === 'minimize' ? 'lower is better' : 'higher is better'}`}>
        {col.metric}
      </span>
      <span className="hl-sub">
        {col.agg} <span className="dir">{col.direction === 'minimize' ? '↓' : '↑'}</span>
      </span>
    </>
  );
}

/**
 * The runs grid: rows and columns virtualized (only the cells in view are in the DOM), the
 * selection, status and name columns pinned at the left, the header pinned at the top.
 */
export const Grid = memo(function Grid(p: GridProps) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const rowV = useVirtualizer({
    count: p.rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_H,
    overscan: 6,
    paddingStart: HEADER_H,
  });
  const colV = useVirtualizer({
    horizontal: true,
    count: p.cols.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: (i) => p.cols[i].width,
    overscan: 3,
    paddingStart: PINNED_W,
    getItemKey: (i) => p.cols[i].id,
  });
  const width = colV.getTotalSize();
  const height = rowV.getTotalSize();
  const vcols = colV.getVirtualItems();
  const sortAttr = (id: string) => (p.sort?.id === id ? p.sort.dir : undefined);
  const arrow = (id: string) => (p.sort?.id === id ? (p.sort.dir === 'asc' ? ' ▲' : ' ▼') : '');

  return (
    <div className="rt-scroll" ref={scrollRef} data-testid="runs-table" role="grid" aria-rowcount={p.rows.length + 1} aria-colcount={p.cols.length + 3}>
      <div className="rt-inner" style={{ width, height }}>
        <div className="rt-header" style={{ width, height: HEADER_H }} role="row">
          <div className="rt-pinned" style={{ width: PINNED_W, height: HEADER_H }}>
            <div className="rt-cell rt-hcell" style={{ width: W_SELECT }}>
              <input type="checkbox" aria-label="Select all shown runs" checked={p.allSelected} onChange={(e) => p.onSelectAll(e.target.checked)} />
            </div>
            {(['status', 'name'] as const).map((id) => (
              <div
                key={id}
                className="rt-cell rt-hcell sortable"
                style={{ width: id === 'status' ? W_STATUS : W_NAME }}
                data-testid={`col:${id}`}
                data-sorted={sortAttr(id)}
                onClick={() => p.onSort(id)}
                role="columnheader"
              >
                <span className="hl">
                  {id === 'status' ? 'Status' : 'Name'}
                  {arrow(id)}
                </span>
              </div>
            ))}
          </div>
          {vcols.map((vc) => {
            const col = p.cols[vc.index];
            return (
              <div
                key={vc.key}
                className={`rt-cell rt-hcell sortable${col.kind === 'metric' ? ' num' : ''}`}
                style={{ left: vc.start, width: vc.size, height: HEADER_H, position: 'absolute' }}
                data-testid={`col:${col.id}`}
                data-sorted={sortAttr(col.id)}
                onClick={() => p.onSort(col.id)}
                role="columnheader"
                title={col.kind === 'feature' ? col.key : undefined}
              >
                <HeaderLabel col={col} />
                {arrow(col.id) && <span className="sort-arrow">{arrow(col.id)}</span>}
              </div>
            );
          })}
        </div>
        {/* rows are keyed by position, not run: after a sort React updates the rows in place
            instead of replacing every row element (halves the time to the sorted paint) */}
        {rowV.getVirtualItems().map((vr) => {
          const dr = p.rows[vr.index];
          if (dr.kind === 'group')
            return (
              <div key={vr.key} className="rt-row rt-group" style={{ top: vr.start, width, height: ROW_H }} role="row" data-testid="group-row" data-group={dr.key}>
                <button type="button" className="rt-group-label" onClick={() => p.onToggleGroup(dr.key)} aria-expanded={!dr.collapsed}>
                  {dr.collapsed ? '▸' : '▾'} {dr.label} <span className="muted">({dr.count})</span>
                </button>
              </div>
            );
          const run = dr.row.run;
          const sel = p.selected.has(run.id);
          return (
            <div
              key={vr.key}
              className={`rt-row${sel ? ' selected' : ''}`}
              style={{ top: vr.start, width, height: ROW_H }}
              role="row"
              data-testid="run-row"
              data-run-id={run.id}
            >
              <div className="rt-pinned" style={{ width: PINNED_W, height: ROW_H }}>
                <div className="rt-cell" style={{ width: W_SELECT }}>
                  <input type="checkbox" aria-label={`Select ${run.name}`} checked={sel} onChange={(e) => p.onSelect(run.id, e.target.checked)} />
                </div>
                <div className="rt-cell" style={{ width: W_STATUS }}>
                  <StatusBadge status={run.status} live={isLive(run, p.now)} />
                </div>
                <div className="rt-cell name" style={{ width: W_NAME }} title={run.description ?? run.name}>
                  <Link to={`/p/${p.projectId}/runs/${run.id}`}>{run.name}</Link>
                </div>
              </div>
              {vcols.map((vc) => {
                const col = p.cols[vc.index];
                const text = cellText(dr.row, col, p.now);
                return (
                  <div
                    key={vc.key}
                    className={`rt-cell${col.kind === 'metric' || col.kind === 'duration' ? ' num' : ''}`}
                    style={{ left: vc.start, width: vc.size, position: 'absolute' }}
                    data-col={col.id}
                    title={text}
                  >
                    {text}
                  </div>
                );
              })}
            </div>
          );
        })}
      </div>
    </div>
  );
});
