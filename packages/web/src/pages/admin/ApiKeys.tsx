import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api } from '../../api.ts';
import { CopyField } from '../../components/Dialog.tsx';
import { fmtAgo, fmtDate } from '../../components/format.ts';
import { ErrorState, Loading } from '../../components/states.tsx';
import type { Role } from '../../components/types.ts';
import { MEMBERS_KEY, type Member } from './Members.tsx';

interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  role: Role;
  user_id: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}
const KEYS = ['api-keys'];

function CreateKey({ members }: { members: Member[] }) {
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role | ''>('');
  const [userId, setUserId] = useState('');
  const create = useMutation({
    mutationFn: () =>
      api<ApiKey & { api_key: string }>('/api-keys', {
        method: 'POST',
        body: { name: name.trim(), ...(role ? { role } : {}), ...(userId ? { user_id: userId } : {}) },
      }),
    onSuccess: () => {
      setName('');
      void qc.invalidateQueries({ queryKey: KEYS });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <form className="inline-form" onSubmit={submit} data-testid="create-key-form">
      <input required placeholder="Key name, e.g. training-cluster" aria-label="Key name" value={name} onChange={(e) => setName(e.target.value)} />
      <select aria-label="For member" value={userId} onChange={(e) => setUserId(e.target.value)}>
        <option value="">for me</option>
        {members.map((m) => (
          <option key={m.user_id} value={m.user_id}>
            for {m.email}
          </option>
        ))}
      </select>
      <select aria-label="Key role" value={role} onChange={(e) => setRole(e.target.value as Role | '')}>
        <option value="">the member’s role</option>
        <option value="viewer">viewer</option>
        <option value="researcher">researcher</option>
        <option value="admin">admin</option>
      </select>
      <button type="submit" className="primary" disabled={create.isPending || !name.trim()}>
        {create.isPending ? 'Creating…' : 'Create key'}
      </button>
      {create.error && <p className="inline-error" role="alert">{create.error.message}</p>}
      {create.data && (
        <div className="notice" data-testid="new-key">
          <p>
            Key <strong>{create.data.name}</strong> ({create.data.role}). Copy it now — it is shown only once:
          </p>
          <CopyField value={create.data.api_key} testid="new-key-value" />
        </div>
      )}
    </form>
  );
}

export function ApiKeys() {
  const qc = useQueryClient();
  const keys = useQuery({ queryKey: KEYS, queryFn: () => api<{ items: ApiKey[] }>('/api-keys') });
  const members = useQuery({ queryKey: MEMBERS_KEY, queryFn: () => api<{ items: Member[] }>('/members') });
  const [showRevoked, setShowRevoked] = useState(false);
  const revoke = useMutation({
    mutationFn: (id: string) => api<ApiKey>(`/api-keys/${id}`, { method: 'DELETE' }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: KEYS }),
  });
  const email = new Map((members.data?.items ?? []).map((m) => [m.user_id, m.email]));
  const items = (keys.data?.items ?? []).filter((k) => showRevoked || !k.revoked_at);
  return (
    <section className="card" data-testid="api-keys">
      <h2>API keys</h2>
      <CreateKey members={members.data?.items ?? []} />
      {revoke.error && <p className="inline-error" role="alert">{revoke.error.message}</p>}
      {keys.isPending ? (
        <Loading what="Loading keys" />
      ) : keys.error ? (
        <ErrorState error={keys.error} retry={() => void keys.refetch()} />
      ) : (
        <>
          <label className="check">
            <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} /> show revoked keys
          </label>
          <table className="grid-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Prefix</th>
                <th>Role</th>
                <th>Member</th>
                <th>Created</th>
                <th>Last used</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {items.map((k) => (
                <tr key={k.id} data-testid="key-row" className={k.revoked_at ? 'revoked' : undefined}>
                  <td>{k.name}</td>
                  <td>
                    <code>{k.prefix}…</code>
                  </td>
                  <td>{k.role}</td>
                  <td>{email.get(k.user_id) ?? k.user_id.slice(0, 8)}</td>
                  <td className="nowrap">{fmtDate(k.created_at)}</td>
                  <td className="nowrap">{k.last_used_at ? fmtAgo(k.last_used_at) : 'never'}</td>
                  <td>
                    {k.revoked_at ? (
                      <span className="muted">revoked {fmtDate(k.revoked_at)}</span>
                    ) : (
                      <button
                        type="button"
                        className="danger"
                        disabled={revoke.isPending}
                        onClick={() => window.confirm(`Revoke the key “${k.name}”? Clients using it stop working at once.`) && revoke.mutate(k.id)}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
