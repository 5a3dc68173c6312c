import { useQuery } from '@tanstack/react-query';
import { api, apiUrl } from '../../api.ts';
import { Empty, ErrorState, Loading } from '../../components/states.tsx';

interface Artifact {
  id: string;
  path: string;
  size: number;
  sha256: string;
  content_type: string | null;
  created_at: string;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${u[i]}`;
}

export function Artifacts({ projectId, runId }: { projectId: string; runId: string }) {
  const base = `/projects/${encodeURIComponent(projectId)}/experiments/${encodeURIComponent(runId)}/artifacts`;
  const q = useQuery({ queryKey: ['artifacts', projectId, runId], queryFn: ({ signal }) => api<{ items: Artifact[] }>(base, { signal }) });
  if (q.isPending) return <Loading what="Loading artifacts" />;
  if (q.isError) return <ErrorState error={q.error} retry={() => void q.refetch()} />;
  const items = q.data.items;
  if (items.length === 0) return <Empty>No artifacts. The SDKs upload files with <code>exp.log_artifacts(path=…)</code>.</Empty>;
  const total = items.reduce((a, x) => a + x.size, 0);
  return (
    <section className="run-section" data-testid="artifacts">
      <p className="diff-stat">
        {items.length} file{items.length === 1 ? '' : 's'}, {bytes(total)}
      </p>
      <table className="plain-table">
        <thead>
          <tr>
            <th>Path</th>
            <th className="num">Size</th>
            <th>SHA-256</th>
            <th>Uploaded</th>
          </tr>
        </thead>
        <tbody>
          {items.map((a) => (
            <tr key={a.id}>
              <td>
                <a href={apiUrl(`${base}/${encodeURIComponent(a.id)}`)} download={a.path.split('/').pop()} data-testid="artifact-link">
                  {a.path}
                </a>
              </td>
              <td className="num">{bytes(a.size)}</td>
              <td className="mono" title={a.sha256}>
                {a.sha256.slice(0, 12)}
              </td>
              <td>{new Date(a.created_at).toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
