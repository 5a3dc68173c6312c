import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useMemo, type ReactNode } from 'react';
import { api, ApiError, setCsrfToken } from './api.ts';

/** `GET /api/v1/auth/session` and `POST /api/v1/auth/login` answer this. */
export interface Session {
  user_id: string;
  email: string;
  name: string | null;
  team_id: string;
  team_name: string;
  role: 'admin' | 'researcher' | 'viewer';
  csrf_token: string;
  teams: { team_id: string; team_name: string; role: string }[];
}

interface SessionState {
  session: Session | null;
  loading: boolean;
  /** Store a session the sign-in or redeem call returned. */
  signedIn(s: Session): void;
  signOut(): Promise<void>;
}

const Ctx = createContext<SessionState | null>(null);
export const SESSION_KEY = ['session'];

/** The signed-in session, or null (401). main.tsx starts it before the first render. */
export async function fetchSession(): Promise<Session | null> {
  try {
    const s = await api<Session>('/auth/session');
    setCsrfToken(s.csrf_token);
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      setCsrfToken(null);
      return null;
    }
    throw err;
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: SESSION_KEY, queryFn: fetchSession, staleTime: Infinity, retry: false });
  const signedIn = useCallback(
    (s: Session) => {
      setCsrfToken(s.csrf_token);
      // drop the other user's/team's data but keep the session query itself: after qc.clear() the
      // provider's observer still watches the removed query and would never see the new session
      qc.removeQueries({ predicate: (q) => q.queryKey[0] !== SESSION_KEY[0] });
      qc.setQueryData(SESSION_KEY, s);
    },
    [qc],
  );
  const signOut = useCallback(async () => {
    try {
      await api('/auth/logout', { method: 'POST' });
    } finally {
      setCsrfToken(null);
      qc.removeQueries({ predicate: (q) => q.queryKey[0] !== SESSION_KEY[0] });
      qc.setQueryData(SESSION_KEY, null);
    }
  }, [qc]);
  const value = useMemo(
    () => ({ session: q.data ?? null, loading: q.isPending, signedIn, signOut }),
    [q.data, q.isPending, signedIn, signOut],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useSession(): SessionState {
  const s = useContext(Ctx);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
