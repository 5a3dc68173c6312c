/**
 * The one way the UI talks to the server: JSON over `/api/v1` with the session cookie. Writes carry
 * the session's CSRF token (the server rejects cookie-authenticated writes without it).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
  ) {
    super(typeof detail === 'string' ? detail : status === 0 ? 'the server cannot be reached' : JSON.stringify(detail));
  }
}

let csrfToken: string | null = null;
/** Set by the session provider whenever it learns the session (sign-in, restore, switch). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
  if (token) for (const ready of csrfWaiters.splice(0)) ready();
}
const csrfWaiters: (() => void)[] = [];
/** Resolves once a session's CSRF token is known: a page's first POST can leave before React renders. */
export function csrfTokenReady(): Promise<void> {
  return csrfToken ? Promise.resolve() : new Promise((r) => csrfWaiters.push(r));
}

export type Query = Record<string, string | number | boolean | undefined | null | (string | number)[]>;

export function apiUrl(path: string, query?: Query): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null) continue;
    for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item));
  }
  const s = qs.toString();
  return `/api/v1${path}${s ? `?${s}` : ''}`;
}

export interface ApiInit {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** A binary answer the server may give instead of JSON: asked for in Accept, decoded when it comes. */
  binary?: { type: string; decode: (body: ArrayBuffer) => unknown };
}

export async function api<T>(path: string, init: ApiInit = {}): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { Accept: init.binary ? `${init.binary.type}, application/json;q=0.5` : 'application/json' };
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(apiUrl(path, init.query), {
      method,
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      credentials: 'same-origin',
      signal: init.signal,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'the server cannot be reached');
  }
  if (res.status === 204) return undefined as T;
  if (res.ok && init.binary && res.headers.get('Content-Type')?.startsWith(init.binary.type)) return init.binary.decode(await res.arrayBuffer()) as T;
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (!res.ok) throw new ApiError(res.status, (body as { detail?: unknown } | undefined)?.detail ?? res.statusText);
  return body as T;
}

/** Metric values cross the wire as numbers or the strings "NaN", "Infinity", "-Infinity". */
export function toNumber(v: number | string | null | undefined): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return v;
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  return Number(v);
}
