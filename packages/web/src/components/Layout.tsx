import { Link, Outlet } from 'react-router';
import { useSession } from '../session.tsx';

// Placeholder shell, replaced by the full header (team switch, search, shortcuts).
export function Layout() {
  const { session, signOut } = useSession();
  return (
    <div className="app">
      <header className="topbar">
        <Link to="/" className="brand">Assay</Link>
        <span className="spacer" />
        {session?.role === 'admin' && <Link to="/admin">Admin</Link>}
        <span className="who">{session?.email}</span>
        <button type="button" onClick={() => void signOut()}>Sign out</button>
      </header>
      <main className="page">
        <Outlet />
      </main>
    </div>
  );
}
