import type { ReactNode } from 'react';
import { ApiError } from '../api.ts';

/** Loading, empty and error states: every page shows one of these instead of a blank area. */
export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      {what}…
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

export function ErrorState({ error, retry }: { error: unknown; retry?: () => void }) {
  const msg = error instanceof Error ? error.message : String(error);
  if (error instanceof ApiError && error.status === 404) return <NotFound />;
  return (
    <div className="state state-error" role="alert">
      <p>Something went wrong: {msg}</p>
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function NotFound() {
  return (
    <div className="state state-error" role="alert" data-testid="not-found">
      <p>Not found — it does not exist, or it belongs to another team.</p>
    </div>
  );
}
