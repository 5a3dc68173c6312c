import { lazy, Suspense, type ReactNode } from 'react';
import { matchPath, Navigate, Route, Routes, useLocation } from 'react-router';
import { Layout } from './components/Layout.tsx';
import { Loading, NotFound } from './components/states.tsx';
import { useSession } from './session.tsx';

// One chunk per page: the sign-in page does not download the chart code.
const load = {
  signin: () => import('./pages/SignIn.tsx'),
  projects: () => import('./pages/Projects.tsx'),
  runs: () => import('./pages/Runs.tsx'),
  run: () => import('./pages/Run.tsx'),
  compare: () => import('./pages/Compare.tsx'),
  hypotheses: () => import('./pages/Hypotheses.tsx'),
  hypothesis: () => import('./pages/Hypothesis.tsx'),
  admin: () => import('./pages/Admin.tsx'),
};
const SignIn = lazy(load.signin);
const Projects = lazy(load.projects);
const Runs = lazy(load.runs);
const Run = lazy(load.run);
const Compare = lazy(load.compare);
const Hypotheses = lazy(load.hypotheses);
const Hypothesis = lazy(load.hypothesis);
const Admin = lazy(load.admin);

/**
 * The page a URL opens, fetched while the session is being checked rather than after it: a shared
 * compare link otherwise waits for the session, then for the chart code, one after the other.
 */
const PRELOAD: [string, keyof typeof load][] = [
  ['/signin', 'signin'],
  ['/admin', 'admin'],
  ['/p/:projectId/runs/:runId', 'run'],
  ['/p/:projectId/compare', 'compare'],
  ['/p/:projectId/hypotheses/:hypothesisId', 'hypothesis'],
  ['/p/:projectId/hypotheses', 'hypotheses'],
  ['/p/:projectId', 'runs'],
  ['/', 'projects'],
];
const first = PRELOAD.find(([pattern]) => matchPath(pattern, window.location.pathname));
if (first) void load[first[1]]().catch(() => undefined); // a failed preload is retried by lazy()

/** Pages behind sign-in: without a session, go to /signin and come back afterwards. */
function RequireSession({ children, admin = false }: { children: ReactNode; admin?: boolean }) {
  const { session, loading } = useSession();
  const loc = useLocation();
  if (loading) return <Loading />;
  if (!session) return <Navigate to={`/signin?next=${encodeURIComponent(loc.pathname + loc.search)}`} replace />;
  // A viewer or researcher sees no admin pages at all (not an empty one).
  if (admin && session.role !== 'admin') return <NotFound />;
  return <>{children}</>;
}

export function App() {
  return (
    <Suspense fallback={<Loading />}>
      <Routes>
        <Route path="/signin" element={<SignIn />} />
        <Route element={<RequireSession><Layout /></RequireSession>}>
          <Route index element={<Projects />} />
          <Route path="p/:projectId" element={<Runs />} />
          <Route path="p/:projectId/runs/:runId" element={<Run />} />
          <Route path="p/:projectId/compare" element={<Compare />} />
          <Route path="p/:projectId/hypotheses" element={<Hypotheses />} />
          <Route path="p/:projectId/hypotheses/:hypothesisId" element={<Hypothesis />} />
          <Route path="admin" element={<RequireSession admin><Admin /></RequireSession>} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </Suspense>
  );
}
