/** Retry policy: which failures are retried, and how long to wait. Browser-safe. */
import { AssayApiError, AssayNetworkError } from './errors.ts';

export interface BackoffOptions {
  /** First delay (ms). Default 250. */
  baseMs?: number;
  /** Upper bound for one delay (ms). Default 10 000. */
  maxMs?: number;
  /** Multiplier per attempt. Default 2. */
  factor?: number;
}

/**
 * Exponential backoff with "equal jitter": the delay for attempt n (0-based) is uniformly drawn from
 * [d/2, d] where d = min(maxMs, baseMs·factor^n). Half the window is deterministic so retries never
 * hammer the server with ~0 ms delays; the other half de-synchronises many clients.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = opts.baseMs ?? 250;
  const max = opts.maxMs ?? 10_000;
  const factor = opts.factor ?? 2;
  const d = Math.min(max, base * Math.pow(factor, Math.max(0, attempt)));
  return Math.round(d / 2 + random() * (d / 2));
}

/**
 * `Retry-After` header → milliseconds. Accepts delta-seconds ("3", "0.5") or an HTTP date.
 * Returns undefined when absent or unparsable; never negative.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(parseFloat(v) * 1000);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/** 408, 429 and every 5xx are retried; other 4xx are not. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

export type FailureKind = 'retry' | 'fatal';

/** Classify an error thrown by HttpClient: network errors and retryable statuses → 'retry'. */
export function classifyError(err: unknown): FailureKind {
  if (err instanceof AssayNetworkError) return 'retry';
  if (err instanceof AssayApiError) return isRetryableStatus(err.status) ? 'retry' : 'fatal';
  return 'fatal';
}

/**
 * How long to wait before the next attempt: the server's Retry-After when given (capped at
 * `maxRetryAfterMs`, plus up to 10% jitter), otherwise exponential backoff with jitter.
 */
export function retryDelay(
  err: unknown,
  attempt: number,
  opts: BackoffOptions & { maxRetryAfterMs?: number } = {},
  random: () => number = Math.random,
): number {
  if (err instanceof AssayApiError && err.retryAfterMs !== undefined) {
    const ra = Math.min(err.retryAfterMs, opts.maxRetryAfterMs ?? 60_000);
    return Math.round(ra + random() * ra * 0.1);
  }
  return backoffDelay(attempt, opts, random);
}

/** A setTimeout promise; `unref` lets the process exit while waiting. */
export function sleep(ms: number, opts: { unref?: boolean; signal?: AbortSignal } = {}): Promise<void> {
  return new Promise((resolve) => {
    if (opts.signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      opts.signal?.removeEventListener('abort', done);
      clearTimeout(t);
      resolve();
    }
    opts.signal?.addEventListener('abort', done, { once: true });
    if (opts.unref) (t as unknown as { unref?: () => void }).unref?.();
  });
}

/** Unref'd backoff sleeps that `wake()` cuts short (someone waits: retry now). */
export class Sleeper {
  private wakers = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      (t as unknown as { unref?: () => void }).unref?.();
      this.wakers.add(done);
    });
  }

  wake(): void {
    for (const w of [...this.wakers]) w();
  }
}
