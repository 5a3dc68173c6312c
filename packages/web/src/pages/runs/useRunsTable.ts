import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { api } from '../../api.ts';
import type { RunsTable } from './model.ts';

export const POLL_MS = 2000;
/** A full reload now and then: `since` polling does not report deleted runs. */
const FULL_RELOAD_MS = 30_000;
/** `since` reaches back this far before the previous request, covering clock skew and writes in flight. */
const SINCE_MARGIN_MS = 10_000;

/** New or changed runs replace theirs (unchanged objects stay identical, so nothing re-renders needlessly). */
export function mergeTable(old: RunsTable | undefined, delta: RunsTable): RunsTable | undefined {
  if (!old) return old;
  if (!delta.items.length && delta.metrics.every((m) => old.metrics.some((o) => o.name === m.name && o.direction === m.direction))) return old;
  const changed = new Map(delta.items.map((r) => [r.id, r]));
  const known = new Set(old.items.map((r) => r.id));
  const added = delta.items.filter((r) => !known.has(r.id)).sort((a, b) => b.created_at.localeCompare(a.created_at));
  const metrics = new Map(old.metrics.map((m) => [m.name, m]));
  for (const m of delta.metrics) metrics.set(m.name, m);
  return {
    items: [...added, ...old.items.map((r) => changed.get(r.id) ?? r)],
    metrics: [...metrics.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    truncated: old.truncated,
  };
}

/**
 * The runs table, live: one full read, then every 2 s only the runs changed since the previous
 * read (`since`), merged in place — sort, filter, scroll and selection never reset, and the
 * previous answer stays on screen while the next loads.
 */
export function useRunsTable(projectId: string, includeDeleted: boolean) {
  const qc = useQueryClient();
  const key = ['runs-table', projectId, includeDeleted];
  const lastStart = useRef(0);
  const path = `/projects/${encodeURIComponent(projectId)}/runs-table`;
  const query = useQuery({
    queryKey: key,
    queryFn: ({ signal }) => {
      lastStart.current = Date.now();
      return api<RunsTable>(path, { query: { include_deleted: includeDeleted || undefined }, signal });
    },
    refetchInterval: (q) => (q.state.error ? false : FULL_RELOAD_MS),
    // keep the table while include_deleted flips, never show another project's runs
    placeholderData: (prev, prevQuery) => (prevQuery?.queryKey[1] === projectId ? keepPreviousData(prev) : undefined),
  });
  const ready = query.isSuccess && !query.isPlaceholderData;
  useEffect(() => {
    if (!ready) return;
    let busy = false;
    const ctl = new AbortController();
    const t = setInterval(async () => {
      if (busy || document.hidden || qc.isFetching({ queryKey: key }) > 0) return;
      busy = true;
      const started = Date.now();
      try {
        const since = new Date(lastStart.current - SINCE_MARGIN_MS).toISOString();
        const delta = await api<RunsTable>(path, { query: { include_deleted: includeDeleted || undefined, since }, signal: ctl.signal });
        lastStart.current = started;
        qc.setQueryData<RunsTable>(key, (old) => mergeTable(old, delta));
      } catch {
        /* the next tick or the full reload tries again; the table keeps its last answer */
      } finally {
        busy = false;
      }
    }, POLL_MS);
    return () => {
      clearInterval(t);
      ctl.abort();
    };
    // `key` is rebuilt each render from path and includeDeleted, which are the deps
  }, [ready, path, includeDeleted, qc]);
  return query;
}
