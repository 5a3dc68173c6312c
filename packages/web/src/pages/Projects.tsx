import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api } from '../api.ts';
import { Dialog } from '../components/Dialog.tsx';
import { fmtDate } from '../components/format.ts';
import { useProjects } from '../components/Layout.tsx';
import { Empty, ErrorState, Loading } from '../components/states.tsx';
import type { Project } from '../components/types.ts';
import { useSession } from '../session.tsx';

function CreateProject({ onDone }: { onDone: () => void }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const create = useMutation({
    mutationFn: () => api<Project>('/projects', { method: 'POST', body: { name: name.trim(), ...(description.trim() ? { description: description.trim() } : {}) } }),
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: ['projects'] });
      onDone();
      navigate(`/p/${p.id}`);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <form className="form" onSubmit={submit}>
      <label>
        Name
        <input required maxLength={255} value={name} onChange={(e) => setName(e.target.value)} autoFocus />
      </label>
      <label>
        Description <span className="muted">(optional)</span>
        <textarea rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      {create.error && <p className="inline-error" role="alert">{create.error.message}</p>}
      <button type="submit" className="primary" disabled={create.isPending || !name.trim()}>
        {create.isPending ? 'Creating…' : 'Create project'}
      </button>
    </form>
  );
}

export default function ProjectsPage() {
  const { session } = useSession();
  const projects = useProjects();
  const [params, setParams] = useSearchParams();
  const [creating, setCreating] = useState(false);
  const q = params.get('q') ?? '';
  const canWrite = session?.role !== 'viewer';
  const needle = q.trim().toLowerCase();
  const items = (projects.data?.items ?? []).filter(
    (p) => !needle || p.name.toLowerCase().includes(needle) || (p.description ?? '').toLowerCase().includes(needle),
  );
  return (
    <div className="projects-page">
      <div className="page-head">
        <h1>Projects</h1>
        <input
          data-search
          type="search"
          placeholder="Filter projects  ( / )"
          value={q}
          onChange={(e) => setParams(e.target.value ? { q: e.target.value } : {}, { replace: true })}
        />
        <span className="spacer" />
        {canWrite && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New project
          </button>
        )}
      </div>
      {projects.isPending ? (
        <Loading what="Loading projects" />
      ) : projects.error ? (
        <ErrorState error={projects.error} retry={() => void projects.refetch()} />
      ) : items.length === 0 ? (
        <Empty>
          {needle ? (
            <>No project matches “{q}”.</>
          ) : (
            <>
              No projects yet. {canWrite ? 'Create one here, or' : 'A researcher can create one, or'} log a run with the SDK:{' '}
              <code>Experiment(project=&quot;my-project&quot;, name=&quot;run-1&quot;)</code>
            </>
          )}
        </Empty>
      ) : (
        <table className="grid-table" data-testid="projects-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Description</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {items.map((p) => (
              <tr key={p.id} data-testid="project-row">
                <td>
                  <Link to={`/p/${p.id}`} className="strong">
                    {p.name}
                  </Link>
                </td>
                <td className="muted clip">{p.description}</td>
                <td className="nowrap">{fmtDate(p.created_at)}</td>
                <td className="nowrap">
                  <Link to={`/p/${p.id}/hypotheses`}>Hypotheses</Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canWrite && (
        <Dialog open={creating} onClose={() => setCreating(false)} title="New project">
          <CreateProject onDone={() => setCreating(false)} />
        </Dialog>
      )}
    </div>
  );
}
