/** Errors thrown by the Assay SDK. Browser-safe (no Node imports). */

export class AssayError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AssayError';
  }
}

/** Missing API URL / key, invalid option, team mismatch … — not retryable. */
export class AssayConfigError extends AssayError {
  constructor(message: string) {
    super(message);
    this.name = 'AssayConfigError';
  }
}

/** The server answered with a non-2xx status. `detail` is the FastAPI-style `detail` field. */
export class AssayApiError extends AssayError {
  readonly status: number;
  readonly detail: unknown;
  readonly method: string;
  readonly path: string;
  /** Milliseconds from a `Retry-After` header, when present. */
  readonly retryAfterMs: number | undefined;

  constructor(args: { status: number; detail: unknown; method: string; path: string; retryAfterMs?: number }) {
    super(`${args.method} ${args.path} → ${args.status}: ${formatDetail(args.detail)}`);
    this.name = 'AssayApiError';
    this.status = args.status;
    this.detail = args.detail;
    this.method = args.method;
    this.path = args.path;
    this.retryAfterMs = args.retryAfterMs;
  }
}

/** The request never got an HTTP answer (connection refused/reset, DNS, timeout). Retryable. */
export class AssayNetworkError extends AssayError {
  readonly method: string;
  readonly path: string;
  constructor(args: { method: string; path: string; cause: unknown }) {
    const c = args.cause as { message?: string; cause?: { code?: string; message?: string } } | undefined;
    const reason = c?.cause?.code ?? c?.cause?.message ?? c?.message ?? String(args.cause);
    super(`${args.method} ${args.path}: network error (${reason})`, { cause: args.cause });
    this.name = 'AssayNetworkError';
    this.method = args.method;
    this.path = args.path;
  }
}

export function formatDetail(detail: unknown): string {
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const e = d as { loc?: unknown[]; msg?: string };
        return e && typeof e === 'object' && 'msg' in e ? `${(e.loc ?? []).join('.')}: ${e.msg}` : JSON.stringify(d);
      })
      .join('; ');
  }
  try {
    return JSON.stringify(detail);
  } catch {
    return String(detail);
  }
}
