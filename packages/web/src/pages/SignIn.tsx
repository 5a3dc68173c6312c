import { useState, type FormEvent } from 'react';
import { Navigate, useNavigate, useSearchParams } from 'react-router';
import { api } from '../api.ts';
import { Loading } from '../components/states.tsx';
import { useSession, type Session } from '../session.tsx';
import './pages.css';

/** Only same-origin paths: `next=https://evil.example` must not become an open redirect. */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

function PasswordForm({ next }: { next: string }) {
  const { signedIn } = useSession();
  const navigate = useNavigate();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      signedIn(await api<Session>('/auth/login', { method: 'POST', body: { email: email.trim(), password } }));
      navigate(next, { replace: true });
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <form className="form signin-form" onSubmit={submit} data-testid="signin-form">
      <h1>Sign in to Assay</h1>
      <label>
        Email
        <input name="email" type="email" autoComplete="username" required autoFocus value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      {error && (
        <p className="inline-error" role="alert" data-testid="signin-error">
          {error}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
      <p className="muted small">
        No account yet? An admin of your team invites you; the first admin comes from <code>assay team create</code>.
      </p>
    </form>
  );
}

/**
 * `/signin?token=…`: a one-time sign-in link (`assay team create` without `--password`) signs in
 * as it is; an invite needs a password first. Redeeming waits for the click, so a link previewer
 * fetching the URL does not use the link up.
 */
function RedeemForm({ token, next }: { token: string; next: string }) {
  const { signedIn } = useSession();
  const navigate = useNavigate();
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (password && password.length < 8) return setError('The password needs at least 8 characters');
    if (password !== again) return setError('The two passwords differ');
    setBusy(true);
    try {
      signedIn(await api<Session>('/auth/redeem', { method: 'POST', body: { token, ...(password ? { password } : {}) } }));
      navigate(next, { replace: true });
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <form className="form signin-form" onSubmit={submit} data-testid="redeem-form">
      <h1>Welcome to Assay</h1>
      <p className="muted">
        Choose a password to accept an invite. A one-time sign-in link works without one — you can set it later from the user menu.
      </p>
      <label>
        Password
        <input name="password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      <label>
        Password again
        <input name="password2" type="password" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} />
      </label>
      {error && (
        <p className="inline-error" role="alert" data-testid="signin-error">
          {error}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Signing in…' : password ? 'Set password and sign in' : 'Sign in'}
      </button>
    </form>
  );
}

export default function SignInPage() {
  const [params] = useSearchParams();
  const { session, loading } = useSession();
  const next = safeNext(params.get('next'));
  const token = params.get('token');
  if (loading) return <Loading />;
  if (session && !token) return <Navigate to={next} replace />;
  return <div className="signin-page">{token ? <RedeemForm token={token} next={next} /> : <PasswordForm next={next} />}</div>;
}
