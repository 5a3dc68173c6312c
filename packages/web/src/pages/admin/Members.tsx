import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api } from '../../api.ts';
import { CopyField } from '../../components/Dialog.tsx';
import { fmtDate } from '../../components/format.ts';
import { ErrorState, Loading } from '../../components/states.tsx';
import type { Role } from '../../components/types.ts';
import { useSession } from '../../session.tsx';

export interface Member {
  user_id: string;
  email: string;
  name: string | null;
  role: Role;
  created_at: string;
}
const ROLES: Role[] = ['viewer', 'researcher', 'admin'];
export const MEMBERS_KEY = ['members'];

function Invite() {
  const qc = useQueryClient();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('researcher');
  const invite = useMutation({
    mutationFn: () =>
      api<Member & { invite_url: string | null }>('/members', { method: 'POST', body: { email: email.trim(), role, ...(name.trim() ? { name: name.trim() } : {}) } }),
    onSuccess: () => {
      setEmail('');
      setName('');
      void qc.invalidateQueries({ queryKey: MEMBERS_KEY });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    invite.mutate();
  };
  const done = invite.data;
  return (
    <form className="inline-form" onSubmit={submit} data-testid="invite-form">
      <input type="email" required placeholder="email@example.com" aria-label="Email" value={email} onChange={(e) => setEmail(e.target.value)} />
      <input placeholder="Name (optional)" aria-label="Name" value={name} onChange={(e) => setName(e.target.value)} />
      <select aria-label="Role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
        {ROLES.map((r) => (
          <option key={r}>{r}</option>
        ))}
      </select>
      <button type="submit" className="primary" disabled={invite.isPending}>
        {invite.isPending ? 'Inviting…' : 'Invite'}
      </button>
      {invite.error && <p className="inline-error" role="alert">{invite.error.message}</p>}
      {done && (
        <div className="notice" data-testid="invite-result">
          {done.invite_url ? (
            <>
              <p>
                Send this one-time link to <strong>{done.email}</strong> (valid 7 days): they choose a password and are signed in as{' '}
                <strong>{done.role}</strong>.
              </p>
              <CopyField value={done.invite_url} testid="invite-url" />
            </>
          ) : (
            <p>
              <strong>{done.email}</strong> already has a password: they are a <strong>{done.role}</strong> of this team now and can sign in.
            </p>
          )}
        </div>
      )}
    </form>
  );
}

export function Members() {
  const qc = useQueryClient();
  const { session } = useSession();
  const members = useQuery({ queryKey: MEMBERS_KEY, queryFn: () => api<{ items: Member[] }>('/members') });
  const [error, setError] = useState<string | null>(null);
  const refresh = () => void qc.invalidateQueries({ queryKey: MEMBERS_KEY });
  const setRole = useMutation({
    mutationFn: (m: { email: string; role: Role }) => api('/members', { method: 'POST', body: m }),
    // The select is controlled by the cached list: without this it snaps back to the old role
    // until the refetch lands, and a quick second change would start from the stale value.
    onMutate: async (m) => {
      await qc.cancelQueries({ queryKey: MEMBERS_KEY });
      const before = qc.getQueryData<{ items: Member[] }>(MEMBERS_KEY);
      if (before) qc.setQueryData(MEMBERS_KEY, { items: before.items.map((x) => (x.email === m.email ? { ...x, role: m.role } : x)) });
      return { before };
    },
    onError: (e, _m, ctx) => {
      if (ctx?.before) qc.setQueryData(MEMBERS_KEY, ctx.before);
      setError(e.message);
    },
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: (id: string) => api(`/members/${id}`, { method: 'DELETE' }),
    onSuccess: () => {
      refresh();
      void qc.invalidateQueries({ queryKey: ['api-keys'] });
    },
    onError: (e) => setError(e.message),
  });
  return (
    <section className="card" data-testid="members">
      <h2>Members</h2>
      <Invite />
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      {members.isPending ? (
        <Loading what="Loading members" />
      ) : members.error ? (
        <ErrorState error={members.error} retry={() => void members.refetch()} />
      ) : (
        <table className="grid-table">
          <thead>
            <tr>
              <th>Email</th>
              <th>Name</th>
              <th>Role</th>
              <th>Member since</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {members.data.items.map((m) => {
              const me = m.user_id === session?.user_id;
              return (
                <tr key={m.user_id} data-testid="member-row" data-email={m.email}>
                  <td>
                    {m.email}
                    {me && <span className="muted"> (you)</span>}
                  </td>
                  <td>{m.name}</td>
                  <td>
                    <select
                      aria-label={`Role of ${m.email}`}
                      value={m.role}
                      disabled={setRole.isPending}
                      onChange={(e) => {
                        setError(null);
                        setRole.mutate({ email: m.email, role: e.target.value as Role });
                      }}
                    >
                      {ROLES.map((r) => (
                        <option key={r}>{r}</option>
                      ))}
                    </select>
                  </td>
                  <td className="nowrap">{fmtDate(m.created_at)}</td>
                  <td>
                    <button
                      type="button"
                      className="danger"
                      disabled={remove.isPending}
                      onClick={() => {
                        setError(null);
                        if (window.confirm(`Remove ${m.email} from the team? Their API keys, sessions and links for this team stop working.`)) remove.mutate(m.user_id);
                      }}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
