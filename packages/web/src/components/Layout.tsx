import { useQuery } from '@tanstack/react-query';
import { Suspense, useEffect, useRef, useState } from 'react';
import { Link, Outlet, useMatch, useNavigate } from 'react-router';
import { api, ApiError } from '../api.ts';
import { useSession, type Session } from '../session.tsx';
import { Dialog } from './Dialog.tsx';
import { ChangePassword } from './ChangePassword.tsx';
import { Loading } from './states.tsx';
import type { Project } from './types.ts';
import '../pages/pages.css';

export function useProjects() {
  return useQuery({
    queryKey: ['projects'],
    queryFn: () => api<{ items: Project[] }>('/projects', { query: { limit: 1000 } }),
    staleTime: 30_000,
  });
}

export function useProject(projectId: string | undefined) {
  return useQuery({
    queryKey: ['project', projectId],
    queryFn: () => api<Project>(`/projects/${encodeURIComponent(projectId!)}`),
    enabled: !!projectId,
    staleTime: 60_000,
  });
}

const SHORTCUTS: [string, string][] = [
  ['/', 'Focus the search or filter box of the page'],
  ['g p', 'Go to the projects'],
  ['g r', 'Go to the runs table of the current project'],
  ['g h', 'Go to the hypotheses of the current project'],
  ['?', 'Show this help'],
  ['Esc', 'Leave a text box / close a dialog'],
];

function typingIn(t: EventTarget | null): boolean {
  const el = t as HTMLElement | null;
  return !!el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName));
}

/** `/`, `g p`, `g r`, `g h`, `?` — ignored while typing in a field. */
function useShortcuts(projectId: string | undefined, showHelp: () => void) {
  const navigate = useNavigate();
  const pending = useRef<number>(0);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (typingIn(e.target)) {
        if (e.key === 'Escape') (e.target as HTMLElement).blur();
        return;
      }
      const afterG = Date.now() - pending.current < 1200;
      pending.current = 0;
      if (e.key === '/') {
        const box = document.querySelector<HTMLInputElement>('[data-search]');
        if (box) {
          e.preventDefault();
          box.focus();
          box.select();
        }
      } else if (e.key === '?') {
        e.preventDefault();
        showHelp();
      } else if (e.key === 'g') {
        pending.current = Date.now();
      } else if (afterG && e.key === 'p') {
        navigate('/');
      } else if (afterG && e.key === 'r' && projectId) {
        navigate(`/p/${projectId}`);
      } else if (afterG && e.key === 'h' && projectId) {
        navigate(`/p/${projectId}/hypotheses`);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [navigate, projectId, showHelp]);
}

function ProjectSwitcher({ projectId }: { projectId: string | undefined }) {
  const navigate = useNavigate();
  const projects = useProjects();
  const items = projects.data?.items ?? [];
  return (
    <select
      className="project-switch"
      aria-label="Project"
      value={projectId ?? ''}
      onChange={(e) => navigate(e.target.value ? `/p/${e.target.value}` : '/')}
    >
      <option value="">{items.length ? 'All projects' : 'Projects'}</option>
      {items.map((p) => (
        <option key={p.id} value={p.id}>
          {p.name}
        </option>
      ))}
    </select>
  );
}

function Crumbs({ projectId }: { projectId: string | undefined }) {
  const run = useMatch('/p/:projectId/runs/:runId');
  const hyp = useMatch('/p/:projectId/hypotheses/:hypothesisId');
  const hyps = useMatch('/p/:projectId/hypotheses');
  const compare = useMatch('/p/:projectId/compare');
  const admin = useMatch('/admin');
  const project = useProject(projectId);
  const runId = run?.params.runId;
  const runQ = useQuery({
    queryKey: ['experiment', projectId, runId],
    queryFn: () => api<{ id: string; name: string }>(`/projects/${encodeURIComponent(projectId!)}/experiments/${encodeURIComponent(runId!)}`),
    enabled: !!projectId && !!runId,
    staleTime: 60_000,
  });
  const parts: { to?: string; label: string }[] = [{ to: '/', label: 'Projects' }];
  if (projectId) {
    // an unknown or foreign project: no name to show (the page shows not-found)
    const failed = project.error instanceof ApiError;
    parts.push({ to: `/p/${projectId}`, label: project.data?.name ?? (failed ? '—' : '…') });
    if (runId) parts.push({ label: runQ.data?.name ?? (runQ.error ? '—' : '…') });
    if (hyps || hyp) parts.push({ to: `/p/${projectId}/hypotheses`, label: 'Hypotheses' });
    if (hyp) parts.push({ label: decodeURIComponent(hyp.params.hypothesisId ?? '') });
    if (compare) parts.push({ label: 'Compare' });
  }
  if (admin) parts.push({ label: 'Admin' });
  return (
    <nav className="crumbs" aria-label="Breadcrumbs">
      {parts.map((p, i) => (
        <span key={i} className="crumb">
          {i > 0 && <span className="crumb-sep">/</span>}
          {p.to && i < parts.length - 1 ? <Link to={p.to}>{p.label}</Link> : <span>{p.label}</span>}
        </span>
      ))}
    </nav>
  );
}

function TeamSwitch({ session }: { session: Session }) {
  const { signedIn } = useSession();
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
  if (session.teams.length < 2) return <span className="team" data-testid="team-name">{session.team_name}</span>;
  return (
    <span className="team">
      <select
        aria-label="Team"
        data-testid="team-switch"
        value={session.team_id}
        onChange={async (e) => {
          try {
            setError(null);
            signedIn(await api<Session>('/auth/switch-team', { method: 'POST', body: { team: e.target.value } }));
            navigate('/');
          } catch (err) {
            setError((err as Error).message);
          }
        }}
      >
        {session.teams.map((t) => (
          <option key={t.team_id} value={t.team_id}>
            {t.team_name} ({t.role})
          </option>
        ))}
      </select>
      {error && <span className="inline-error">{error}</span>}
    </span>
  );
}

function UserMenu({ session, onPassword }: { session: Session; onPassword: () => void }) {
  const { signOut } = useSession();
  const navigate = useNavigate();
  const ref = useRef<HTMLDetailsElement>(null);
  const close = () => ref.current?.removeAttribute('open');
  return (
    <details className="user-menu" ref={ref}>
      <summary data-testid="user-menu">{session.name || session.email}</summary>
      <div className="menu">
        <div className="menu-head">
          {session.email}
          <br />
          <span className="muted">
            {session.role} in {session.team_name}
          </span>
        </div>
        <button type="button" onClick={() => (close(), onPassword())}>
          Change password
        </button>
        <button
          type="button"
          data-testid="sign-out"
          onClick={async () => {
            close();
            await signOut();
            navigate('/signin');
          }}
        >
          Sign out
        </button>
      </div>
    </details>
  );
}

export function Layout() {
  const { session } = useSession();
  const pm = useMatch('/p/:projectId/*');
  const projectId = pm?.params.projectId;
  const [help, setHelp] = useState(false);
  const [pw, setPw] = useState(false);
  const showHelp = useRef(() => setHelp(true)).current;
  useShortcuts(projectId, showHelp);
  if (!session) return null;
  return (
    <div className="app">
      <header className="topbar">
        <Link to="/" className="brand">
          Assay
        </Link>
        <ProjectSwitcher projectId={projectId} />
        <Crumbs projectId={projectId} />
        <span className="spacer" />
        {projectId && (
          <Link to={`/p/${projectId}/hypotheses`} className="top-link">
            Hypotheses
          </Link>
        )}
        {session.role === 'admin' && (
          <Link to="/admin" className="top-link" data-testid="admin-link">
            Admin
          </Link>
        )}
        <TeamSwitch session={session} />
        <button type="button" className="ghost" title="Keyboard shortcuts (?)" onClick={() => setHelp(true)}>
          ?
        </button>
        <UserMenu session={session} onPassword={() => setPw(true)} />
      </header>
      <main className="page">
        {/* a page whose chunk is still loading: the header and navigation stay */}
        <Suspense fallback={<Loading />}>
          <Outlet />
        </Suspense>
      </main>
      <Dialog open={help} onClose={() => setHelp(false)} title="Keyboard shortcuts">
        <table className="shortcuts" data-testid="shortcuts-help">
          <tbody>
            {SHORTCUTS.map(([k, d]) => (
              <tr key={k}>
                <td>
                  {k.split(' ').map((x) => (
                    <kbd key={x}>{x}</kbd>
                  ))}
                </td>
                <td>{d}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Dialog>
      <Dialog open={pw} onClose={() => setPw(false)} title="Change password">
        <ChangePassword onDone={() => setPw(false)} />
      </Dialog>
    </div>
  );
}
