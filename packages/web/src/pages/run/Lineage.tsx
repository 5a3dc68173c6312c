import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../../api.ts';
import { Empty, ErrorState, Loading } from '../../components/states.tsx';

interface LineageAnswer {
  root: string;
  nodes: { id: string; name: string; status: string; depth: number }[];
  edges: { from: string; to: string; kind: string }[];
  truncated: boolean;
}

const KIND: Record<string, [string, string]> = {
  derived_from: ['derived from', 'derived from this run'],
  resumes: ['resumes', 'resumes this run'],
  uses_checkpoint_of: ['uses a checkpoint of', 'uses a checkpoint of this run'],
  compares_to: ['compares to', 'compares to this run'],
};

/** Parents (what this run derives from) and children (what derives from it), one edge away. */
export function Lineage({ projectId, runId }: { projectId: string; runId: string }) {
  const q = useQuery({
    queryKey: ['lineage', projectId, runId],
    queryFn: ({ signal }) =>
      api<LineageAnswer>(`/projects/${encodeURIComponent(projectId)}/experiments/${encodeURIComponent(runId)}/lineage`, { query: { direction: 'both', depth: 1 }, signal }),
  });
  if (q.isPending) return <Loading what="Loading lineage" />;
  if (q.isError) return <ErrorState error={q.error} retry={() => void q.refetch()} />;
  const { root, nodes, edges } = q.data;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const parents = edges.filter((e) => e.from === root && e.to !== root);
  const children = edges.filter((e) => e.to === root && e.from !== root);
  if (parents.length === 0 && children.length === 0) return <Empty>No lineage: this run has no parent and nothing derives from it.</Empty>;
  const row = (id: string, kind: string, dir: 0 | 1) => {
    const n = byId.get(id);
    return (
      <li key={`${id}-${kind}`}>
        {dir === 0 && <span className="lineage-kind">{KIND[kind]?.[0] ?? kind} </span>}
        <Link to={`/p/${encodeURIComponent(projectId)}/runs/${encodeURIComponent(id)}`}>{n?.name ?? id}</Link>{' '}
        {dir === 1 && <span className="lineage-kind">{KIND[kind]?.[1] ?? kind} </span>}
        {n && <span className={`run-status run-status-${n.status}`}>{n.status}</span>}
      </li>
    );
  };
  return (
    <section className="run-section lineage" data-testid="lineage">
      <div>
        <h3>Parents</h3>
        {parents.length ? <ul>{parents.map((e) => row(e.to, e.kind, 0))}</ul> : <p className="diff-stat">None</p>}
      </div>
      <div>
        <h3>Children</h3>
        {children.length ? <ul>{children.map((e) => row(e.from, e.kind, 1))}</ul> : <p className="diff-stat">None</p>}
      </div>
    </section>
  );
}
