/** Minimal fetch-based HTTP client for the Assay API. Browser-safe. */
import { AssayApiError, AssayConfigError, AssayNetworkError } from './errors.ts';
import { classifyError, parseRetryAfter, retryDelay, sleep, type BackoffOptions } from './backoff.ts';

export type QueryValue = string | number | boolean | undefined | null | Array<string | number>;

export interface HttpClientOptions {
  /** Base URL of the server, e.g. http://localhost:8000 (a trailing `/api/v1` is tolerated). */
  apiUrl: string;
  /** API key, sent as `Authorization: Bearer <key>`. Optional in browsers using a session cookie. */
  apiKey?: string;
  /** Per-request timeout (ms). Default 30 000. */
  timeoutMs?: number;
  /** Custom fetch (tests, proxies). Defaults to globalThis.fetch. */
  fetch?: typeof fetch;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** `fetch` credentials mode (browsers). */
  credentials?: RequestCredentials;
}

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  /** JSON body (serialised here). */
  json?: unknown;
  /** Raw body; takes precedence over `json`. */
  body?: BodyInit | Uint8Array;
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Return the raw Response instead of parsing JSON (for downloads). */
  raw?: boolean;
}

export interface RetryOptions extends BackoffOptions {
  /** Give up after this many attempts (default 5). */
  maxAttempts?: number;
  /** Or once this much time has passed (ms) — including a request that hangs: it is cut off then. */
  deadlineMs?: number;
  /** Or at this time (epoch ms), shared by several calls (e.g. everything `Experiment.create` does). */
  deadlineAt?: number;
}

/** Encode one path segment (names may contain any Unicode, including `/`). */
export const seg = (s: string) => encodeURIComponent(s);

export function normalizeApiUrl(url: string): string {
  let u = url.trim().replace(/\/+$/, '');
  if (u.endsWith('/api/v1')) u = u.slice(0, -'/api/v1'.length);
  return u;
}

export class HttpClient {
  readonly apiUrl: string;
  readonly apiKey: string | undefined;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly extraHeaders: Record<string, string>;
  private readonly credentials: RequestCredentials | undefined;

  constructor(opts: HttpClientOptions) {
    if (!opts.apiUrl) throw new AssayConfigError('Assay API URL is not set (pass apiUrl or set ASSAY_API_URL)');
    this.apiUrl = normalizeApiUrl(opts.apiUrl);
    this.apiKey = opts.apiKey;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    const f = opts.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new AssayConfigError('no fetch implementation available');
    this.fetchImpl = f.bind(globalThis);
    this.extraHeaders = opts.headers ?? {};
    this.credentials = opts.credentials;
  }

  url(path: string, query?: Record<string, QueryValue>): string {
    let u = this.apiUrl + (path.startsWith('/api/') ? path : '/api/v1' + (path.startsWith('/') ? path : '/' + path));
    if (query) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null) continue;
        if (Array.isArray(v)) for (const x of v) qs.append(k, String(x));
        else qs.append(k, String(v));
      }
      const s = qs.toString();
      if (s) u += (u.includes('?') ? '&' : '?') + s;
    }
    return u;
  }

  /** One request, no retries. Throws AssayApiError (non-2xx) or AssayNetworkError. */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json', ...this.extraHeaders };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    let body: BodyInit | undefined;
    if (opts.body !== undefined) body = opts.body as BodyInit;
    else if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['Content-Type'] = 'application/json';
    }
    Object.assign(headers, opts.headers);
    const timeout = AbortSignal.timeout(Math.max(1, Math.ceil(opts.timeoutMs ?? this.timeoutMs)));
    const signal = opts.signal ? anySignal([opts.signal, timeout]) : timeout;
    const init: RequestInit & { duplex?: 'half' } = { method, headers, body, signal };
    if (this.credentials) init.credentials = this.credentials;
    if (body && typeof (body as ReadableStream).getReader === 'function') init.duplex = 'half';
    let res: Response;
    try {
      res = await this.fetchImpl(this.url(path, opts.query), init);
    } catch (cause) {
      throw new AssayNetworkError({ method, path, cause });
    }
    if (!res.ok) {
      let detail: unknown = res.statusText;
      try {
        const text = await res.text();
        try {
          const j = JSON.parse(text) as { detail?: unknown; message?: unknown };
          detail = j?.detail ?? j?.message ?? j;
        } catch {
          if (text) detail = text.slice(0, 500);
        }
      } catch {
        /* body unreadable: keep statusText */
      }
      throw new AssayApiError({ status: res.status, detail, method, path, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) });
    }
    if (opts.raw) return res as unknown as T;
    if (res.status === 204) return undefined as T;
    let text: string;
    try {
      text = await res.text();
    } catch (cause) {
      throw new AssayNetworkError({ method, path, cause });
    }
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as unknown as T;
    }
  }

  /**
   * `request` with retries on network errors / 408 / 429 / 5xx (honouring Retry-After). With a
   * deadline, no attempt outlives it: a server that accepts the connection and never answers
   * costs the remaining time, not the request timeout.
   */
  async requestWithRetry<T = unknown>(method: string, path: string, opts: RequestOptions = {}, retry: RetryOptions = {}): Promise<T> {
    const maxAttempts = retry.maxAttempts ?? 5;
    const end = Math.min(retry.deadlineAt ?? Infinity, retry.deadlineMs === undefined ? Infinity : Date.now() + retry.deadlineMs);
    for (let attempt = 0; ; attempt++) {
      const left = end - Date.now();
      if (left <= 0) throw new AssayNetworkError({ method, path, cause: new Error('deadline passed before the request could be sent') });
      try {
        return await this.request<T>(method, path, { ...opts, timeoutMs: Math.min(opts.timeoutMs ?? this.timeoutMs, left) });
      } catch (err) {
        if (classifyError(err) !== 'retry' || attempt + 1 >= maxAttempts) throw err;
        const delay = retryDelay(err, attempt, retry);
        if (Date.now() + delay >= end) throw err;
        await sleep(delay, { signal: opts.signal });
        if (opts.signal?.aborted) throw err;
      }
    }
  }
}

function anySignal(signals: AbortSignal[]): AbortSignal {
  const any = (AbortSignal as unknown as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (any) return any(signals);
  const c = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      c.abort(s.reason);
      break;
    }
    s.addEventListener('abort', () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}
