import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
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

/**
 * Projects deleted through MLflow's delete_experiment: in the trash, restorable. Their runs come
 * back as they were (the server derives a run's lifecycle from its project).
 */
function DeletedProjects({ canWrite, needle }: { canWrite: boolean; needle: string }) {
  const qc = useQueryClient();
  const deleted = useQuery({
    queryKey: ['projects', 'deleted'],
    queryFn: () => api<{ items: Project[] }>('/projects', { query: { limit: 1000, include_deleted: 'true' } }),
  });
  const restore = useMutation({
    mutationFn: (p: Project) => api<Project>(`/projects/${p.id}/restore`, { method: 'POST' }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['projects'] }),
  });
  const items = (deleted.data?.items ?? []).filter((p) => p.deleted_at && (!needle || p.name.toLowerCase().includes(needle)));
  return (
    <section className="deleted-projects" data-testid="deleted-projects">
      <h2>Deleted projects</h2>
      {deleted.isPending ? (
        <Loading what="Loading deleted projects" />
      ) : deleted.error ? (
        <ErrorState error={deleted.error} retry={() => void deleted.refetch()} />
      ) : items.length === 0 ? (
        <Empty>No deleted projects.</Empty>
      ) : (
        <table className="grid-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Description</th>
              <th>Deleted</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {items.map((p) => (
              <tr key={p.id} data-testid="deleted-project-row" data-name={p.name}>
                <td className="strong">{p.name}</td>
                <td className="muted clip">{p.description}</td>
                <td className="nowrap">{fmtDate(p.deleted_at!)}</td>
                <td className="nowrap">
                  {canWrite && (
                    <button type="button" onClick={() => restore.mutate(p)} disabled={restore.isPending}>
                      {restore.isPending && restore.variables?.id === p.id ? 'Restoring…' : 'Restore'}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {restore.error && <p className="inline-error" role="alert">{restore.error.message}</p>}
    </section>
  );
}

export default function ProjectsPage() {
  const { session } = useSession();
  const projects = useProjects();
  const [params, setParams] = useSearchParams();
  const [creating, setCreating] = useState(false);
  const q = params.get('q') ?? '';
  const showDeleted = params.get('deleted') === '1';
  const setParam = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };
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
          onChange={(e) => setParam('q', e.target.value)}
        />
        <label className="toggle">
          <input type="checkbox" data-testid="show-deleted" checked={showDeleted} onChange={(e) => setParam('deleted', e.target.checked ? '1' : '')} /> Show deleted
        </label>
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
      {showDeleted && <DeletedProjects canWrite={canWrite} needle={needle} />}
      {canWrite && (
        <Dialog open={creating} onClose={() => setCreating(false)} title="New project">
          <CreateProject onDone={() => setCreating(false)} />
        </Dialog>
      )}
    </div>
  );
}
