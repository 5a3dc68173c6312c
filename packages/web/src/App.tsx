import { lazy, Suspense, type ComponentType, type ReactNode } from 'react';
import { matchPath, Navigate, Route, Routes, useLocation } from 'react-router';
import { Layout } from './components/Layout.tsx';
import { Loading, NotFound } from './components/states.tsx';
import { useSession } from './session.tsx';

// One chunk per page: the sign-in page does not download the chart code.
const imports = {
  signin: () => import('./pages/SignIn.tsx'),
  projects: () => import('./pages/Projects.tsx'),
  runs: () => import('./pages/Runs.tsx'),
  run: () => import('./pages/Run.tsx'),
  compare: () => import('./pages/Compare.tsx'),
  hypotheses: () => import('./pages/Hypotheses.tsx'),
  hypothesis: () => import('./pages/Hypothesis.tsx'),
  admin: () => import('./pages/Admin.tsx'),
};
type PageName = keyof typeof imports;

/**
 * Pages whose chunk has arrived render directly. A lazy() page suspends on its first render even
 * when its chunk is already here, and React holds back a Suspense reveal for ~300 ms after the
 * fallback showed: a shared compare link lost that much before its first request.
 */
const ready: Partial<Record<PageName, ComponentType>> = {};
const load = (name: PageName) =>
  imports[name]().then((m) => {
    ready[name] = m.default;
    return m;
  });

function page(name: PageName): ComponentType {
  const Lazy = lazy(() => load(name));
  return function Page() {
    const Ready = ready[name];
    return Ready ? <Ready /> : <Lazy />;
  };
}
const SignIn = page('signin');
const Projects = page('projects');
const Runs = page('runs');
const Run = page('run');
const Compare = page('compare');
const Hypotheses = page('hypotheses');
const Hypothesis = page('hypothesis');
const Admin = page('admin');

const PRELOAD: [string, PageName][] = [
  ['/signin', 'signin'],
  ['/admin', 'admin'],
  ['/p/:projectId/runs/:runId', 'run'],
  ['/p/:projectId/compare', 'compare'],
  ['/p/:projectId/hypotheses/:hypothesisId', 'hypothesis'],
  ['/p/:projectId/hypotheses', 'hypotheses'],
  ['/p/:projectId', 'runs'],
  ['/', 'projects'],
];

/**
 * The chunk of the page the URL opens, fetched while the session is checked (main.tsx renders once
 * both are in, so the first render is the page itself). Never rejects: a failed chunk is retried
 * by lazy() on render, which shows the error state.
 */
export function preloadFirstPage(): Promise<void> {
  const first = PRELOAD.find(([pattern]) => matchPath(pattern, window.location.pathname));
  return first ? load(first[1]).then(() => undefined, () => undefined) : Promise.resolve();
}

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
