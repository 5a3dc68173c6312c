import { useState, type FormEvent } from 'react';
import { api } from '../api.ts';

/** PUT /auth/password; the server ends the user's other sessions. */
export function ChangePassword({ onDone }: { onDone: () => void }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (next.length < 8) return setError('The new password needs at least 8 characters');
    if (next !== again) return setError('The two new passwords differ');
    setBusy(true);
    try {
      await api('/auth/password', { method: 'PUT', body: { new_password: next, ...(current ? { current_password: current } : {}) } });
      setDone(true);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  if (done)
    return (
      <div className="form">
        <p>Password changed. Your other sessions were signed out.</p>
        <button type="button" onClick={onDone}>
          Close
        </button>
      </div>
    );
  return (
    <form className="form" onSubmit={submit}>
      <label>
        Current password <span className="muted">(empty if you have none yet)</span>
        <input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />
      </label>
      <label>
        New password
        <input type="password" autoComplete="new-password" required value={next} onChange={(e) => setNext(e.target.value)} />
      </label>
      <label>
        New password again
        <input type="password" autoComplete="new-password" required value={again} onChange={(e) => setAgain(e.target.value)} />
      </label>
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Saving…' : 'Change password'}
      </button>
    </form>
  );
}
