import { lazy, Suspense, type ReactNode } from 'react';
import { Navigate, Route, Routes, useLocation } from 'react-router';
import { Layout } from './components/Layout.tsx';
import { Loading, NotFound } from './components/states.tsx';
import { useSession } from './session.tsx';

// One chunk per page: the sign-in page does not download the chart code.
const SignIn = lazy(() => import('./pages/SignIn.tsx'));
const Projects = lazy(() => import('./pages/Projects.tsx'));
const Runs = lazy(() => import('./pages/Runs.tsx'));
const Run = lazy(() => import('./pages/Run.tsx'));
const Compare = lazy(() => import('./pages/Compare.tsx'));
const Hypotheses = lazy(() => import('./pages/Hypotheses.tsx'));
const Hypothesis = lazy(() => import('./pages/Hypothesis.tsx'));
const Admin = lazy(() => import('./pages/Admin.tsx'));

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
