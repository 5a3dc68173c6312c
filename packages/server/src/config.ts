import path from 'node:path';
import { z } from 'zod';

/**
 * The one environment schema. Every variable Assay reads is declared here and documented in the
 * README's configuration table; nothing else in the code base touches process.env.
 */
const optionalUrl = (protocols: string[]) =>
  z
    .string()
    .trim()
    .optional()
    .transform((v) => (v === '' ? undefined : v))
    .refine((v) => v === undefined || protocols.some((p) => v.startsWith(p)), {
      message: `must start with ${protocols.join(' or ')}`,
    });

const lower = (v: unknown) => (typeof v === 'string' ? v.trim().toLowerCase() : v);
const LOG_LEVEL_ALIASES: Record<string, string> = { warning: 'warn', critical: 'fatal' };

export const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8000),
  /** Loopback by default (this machine only); `0.0.0.0` serves other machines. */
  HOST: z.string().default('localhost'),
  /** Extra Host names to answer to (comma-separated). Bound to loopback, only loopback names pass otherwise (DNS rebinding). */
  ASSAY_ALLOWED_HOSTS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim().toLowerCase().replace(/\.$/, '')).filter(Boolean)),
  /** Origins allowed to call the API from a browser (comma-separated, e.g. https://lab.example.com); none by default. */
  ASSAY_CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim().replace(/\/$/, '')).filter(Boolean)),
  /**
   * Behind a reverse proxy: the proxies whose X-Forwarded-For to believe, so per-IP rate limits
   * see the client, not the proxy (every sign-in would share one bucket). Addresses, CIDRs or
   * proxy-addr's names `loopback`, `linklocal`, `uniquelocal` (private ranges: deploy/'s nginx),
   * comma-separated. Empty (default): none — a client reaching Assay directly could otherwise
   * choose its own address. No hop counts: Fastify treats them as "trust nothing".
   */
  ASSAY_TRUST_PROXY: z
    .string()
    .trim()
    .default('')
    .refine((v) => !/^(true|\*|\d+)$/i.test(v), { message: 'list the proxies (addresses, CIDRs, loopback, linklocal or uniquelocal), not true or a hop count' })
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
  ASSAY_DATA_DIR: z.string().min(1).default('./.assay'),
  DATABASE_URL: optionalUrl(['postgres://', 'postgresql://']),
  CLICKHOUSE_URL: optionalUrl(['http://', 'https://']),
  /**
   * The design document's form of a ClickHouse server: host and port instead of CLICKHOUSE_URL
   * (setting both is an error). Assay speaks HTTP; CLICKHOUSE_PORT=9000 (9440) is the native
   * protocol's port and is mapped to 8123 (8443) with a notice at start — CLICKHOUSE_HTTP_PORT
   * names the HTTP port explicitly when the server uses another one.
   */
  CLICKHOUSE_HOST: z.string().trim().optional().transform((v) => (v === '' ? undefined : v)),
  CLICKHOUSE_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  CLICKHOUSE_HTTP_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** With CLICKHOUSE_HOST: https instead of http. */
  CLICKHOUSE_SECURE: z.preprocess(lower, z.enum(['true', 'false', '1', '0'])).default('false').transform((v) => v === 'true' || v === '1'),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier').default('default'),
  CLICKHOUSE_CLUSTER: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier')
    .optional(),
  ARTIFACT_DIR: z.string().optional(),
  /** Case-insensitive (the design document writes INFO); Python's WARNING and CRITICAL are accepted too. */
  LOG_LEVEL: z
    .preprocess((v) => LOG_LEVEL_ALIASES[lower(v) as string] ?? lower(v), z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .default('info'),
  /**
   * `production` (case-insensitive): JSON log lines only, no store error text in responses, one
   * warning at start per insecure setting (`insecureSettings`); the session cookie is Secure.
   */
  ENVIRONMENT: z.preprocess(lower, z.enum(['development', 'production'])).default('development'),
  /** API worker processes (node:cluster). Only with both stores on servers; embedded stores belong to one process. */
  WORKERS: z.coerce.number().int().min(1).max(64).default(1),
  /** Largest accepted request body (bytes). Bigger bodies get 413. */
  ASSAY_BODY_LIMIT: z.coerce.number().int().positive().default(64 * 1024 * 1024),
  /** Group-commit writer: flush when this many points are buffered … */
  ASSAY_WRITER_MAX_ROWS: z.coerce.number().int().positive().default(200_000),
  /**
   * … or when the oldest buffered point has waited this long (ms) with no insert running. 0: an idle
   * writer flushes on the next tick — a synchronous client (MLflow's log_batch) paid the whole wait
   * on every call, and while an insert runs arrivals still form the next flush.
   */
  ASSAY_WRITER_MAX_DELAY_MS: z.coerce.number().int().min(0).default(0),
  /** Inserts in flight at once (one ClickHouse insert with its views keeps about one core busy). */
  ASSAY_WRITER_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(2),
  /**
   * ≥ 0: a flush is acknowledged once its points are in; their aggregates (summaries, rollups)
   * follow, waiting this long (ms) for later flushes' to share their inserts. Reads of aggregates in
   * this process wait for them; other API processes see them up to this much (+ one insert) later.
   * -1: the acknowledgement waits for the aggregates, so every process reads them at once (a small
   * batch then costs the server about twice the CPU). Unset: 500 with embedded PGlite (one process
   * owns the data), -1 with DATABASE_URL (other processes — WORKERS, replicas — may read).
   */
  ASSAY_AGGREGATE_DELAY_MS: z.coerce.number().int().min(-1).max(60_000).optional(),
  /** Back-pressure: above this many buffered + in-flight points, writes get 429. */
  ASSAY_WRITER_MAX_PENDING_ROWS: z.coerce.number().int().positive().default(2_000_000),
  /** Per-query limits for ClickHouse reads (chDB runs in our process: a runaway query must not OOM it). */
  ASSAY_QUERY_MAX_SECONDS: z.coerce.number().positive().default(30),
  ASSAY_QUERY_MAX_MEMORY_BYTES: z.coerce.number().int().positive().default(2 * 1024 * 1024 * 1024),
  /** An experiment whose heartbeats stop for this long is marked crashed. */
  ASSAY_HEARTBEAT_TIMEOUT_SECONDS: z.coerce.number().positive().default(300),
  /**
   * Embedded stores fsync every commit (PGlite) and every inserted part (chDB), so an acknowledged
   * write survives an OS crash or power loss; `off` keeps only kill -9 safety (README "Durability").
   */
  ASSAY_FSYNC: z.enum(['on', 'off']).default('on'),
  /**
   * Requests per minute per API key (429 + Retry-After beyond it; 0 = no limit). Far above what
   * SDKs send (batches, not a request per point; they honour Retry-After): it stops runaway loops.
   */
  ASSAY_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(30_000),
  /** Requests per minute per client IP on routes without an API key (the admin token route). */
  ASSAY_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: z.coerce.number().int().min(0).default(600),
  /** Share the rate-limit counters between replicas through this Redis (redis://…); in memory when unset. */
  REDIS_URL: optionalUrl(['redis://', 'rediss://']),
  /** Largest accepted artifact upload (bytes). Uploads stream to disk, so this bounds disk, not memory; bigger gets 413. */
  ASSAY_ARTIFACT_MAX_BYTES: z.coerce.number().int().positive().default(5 * 1024 * 1024 * 1024),
  /** Sign-in attempts (POST /auth/login, /auth/redeem, wrong HTTP Basic passwords) per client IP per minute (0 = no limit). */
  ASSAY_LOGIN_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(20),
  /** The URL browsers reach this server at, for sign-in and invite links; default http://localhost:<PORT>. */
  ASSAY_PUBLIC_URL: optionalUrl(['http://', 'https://']),
  /**
   * MLflow's `--default-artifact-root`: experiments created through the MLflow API without an
   * artifact_location get `<root>/<experiment_id>` (the client writes there itself: file:, s3:, …).
   * Unset: Assay's own artifact proxy (mlflow-artifacts:). A URI or an absolute path.
   */
  ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT: z
    .string()
    .trim()
    .optional()
    .transform((v) => (v === '' ? undefined : v))
    .refine((v) => v === undefined || ((/^[A-Za-z][A-Za-z0-9+.-]*:/.test(v) || v.startsWith('/')) && !/^runs:/i.test(v) && !v.includes('#') && !v.includes('?')), {
      message: 'must be a URI (file:///…, s3://…, mlflow-artifacts:/…) or an absolute path, without a query or fragment, not runs:/',
    }),
});

export type Env = z.infer<typeof envSchema>;

export interface Config extends Env {
  dataDir: string;
  postgres: { kind: 'pglite'; path: string; fsync: boolean } | { kind: 'postgres'; url: string };
  clickhouse: { kind: 'chdb'; path: string; fsync: boolean } | { kind: 'http'; url: string };
  artifactDir: string;
  /** Said once at start: how a setting was interpreted (e.g. the native port mapped to HTTP). */
  notices: string[];
  /** ASSAY_PUBLIC_URL without a trailing slash, or http://localhost:<PORT>. */
  publicUrl: string;
  /** ASSAY_AGGREGATE_DELAY_MS, or its default for the metadata store. */
  aggregateDelayMs: number;
}

export class ConfigError extends Error {}

/** Parse once; overrides (CLI flags, tests) win over the environment. */
export function loadConfig(overrides: Partial<Record<keyof Env, string | number | undefined>> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = { ...env };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) raw[k] = v;
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`invalid configuration: ${issue.path.join('.')}: ${issue.message}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.ASSAY_DATA_DIR);
  const notices: string[] = [];
  const clickhouseUrl = clickhouseServerUrl(e, notices);
  return {
    ...e,
    dataDir,
    postgres: e.DATABASE_URL ? { kind: 'postgres', url: e.DATABASE_URL } : { kind: 'pglite', path: path.join(dataDir, 'postgres'), fsync: e.ASSAY_FSYNC === 'on' },
    clickhouse: clickhouseUrl ? { kind: 'http', url: clickhouseUrl } : { kind: 'chdb', path: path.join(dataDir, 'clickhouse'), fsync: e.ASSAY_FSYNC === 'on' },
    artifactDir: path.resolve(e.ARTIFACT_DIR ?? path.join(dataDir, 'artifacts')),
    notices,
    publicUrl: (e.ASSAY_PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    aggregateDelayMs: e.ASSAY_AGGREGATE_DELAY_MS ?? (e.DATABASE_URL ? -1 : 500),
  };
}

/** ClickHouse's native-protocol ports and the HTTP ports the same server listens on by default. */
const NATIVE_TO_HTTP: Record<number, number> = { 9000: 8123, 9440: 8443 };

/**
 * CLICKHOUSE_URL, or the URL built from CLICKHOUSE_HOST/PORT. @clickhouse/client speaks HTTP only;
 * the native protocol would need a second driver for no gain (our inserts are already Native
 * blocks over HTTP), so the native default port is mapped to the HTTP default and said so.
 */
function clickhouseServerUrl(e: Env, notices: string[]): string | undefined {
  if (!e.CLICKHOUSE_HOST) {
    const stray = (['CLICKHOUSE_PORT', 'CLICKHOUSE_HTTP_PORT'] as const).find((k) => e[k] !== undefined);
    if (stray) throw new ConfigError(`invalid configuration: ${stray}: needs CLICKHOUSE_HOST`);
    return e.CLICKHOUSE_URL;
  }
  if (e.CLICKHOUSE_URL) throw new ConfigError('invalid configuration: CLICKHOUSE_HOST: set CLICKHOUSE_URL or CLICKHOUSE_HOST, not both');
  const host = e.CLICKHOUSE_HOST;
  if (/[/@?#\s]/.test(host)) throw new ConfigError('invalid configuration: CLICKHOUSE_HOST: a host name or address, without scheme, path or credentials');
  let port = e.CLICKHOUSE_HTTP_PORT ?? e.CLICKHOUSE_PORT ?? (e.CLICKHOUSE_SECURE ? 8443 : 8123);
  if (e.CLICKHOUSE_HTTP_PORT === undefined && e.CLICKHOUSE_PORT !== undefined && NATIVE_TO_HTTP[e.CLICKHOUSE_PORT]) {
    port = NATIVE_TO_HTTP[e.CLICKHOUSE_PORT];
    notices.push(
      `CLICKHOUSE_PORT=${e.CLICKHOUSE_PORT} is ClickHouse's native-protocol port; Assay talks HTTP, so it uses port ${port} on ${host}. ` +
        'Set CLICKHOUSE_HTTP_PORT if your server serves HTTP on another port.',
    );
  }
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${e.CLICKHOUSE_SECURE ? 'https' : 'http'}://${bracketed}:${port}`;
}

const LOOPBACK = /^(localhost|127(\.\d+){3}|::1|\[::1\])$/i;

/**
 * What ENVIRONMENT=production warns about at start, one line per setting: each is fine on a
 * laptop and a hole on a shared network. Returned, not logged, so tests can read it.
 */
export function insecureSettings(c: Config): string[] {
  const out: string[] = [];
  if (c.clickhouse.kind === 'http') {
    const u = new URL(c.clickhouse.url);
    if (!c.CLICKHOUSE_PASSWORD) out.push(`CLICKHOUSE_PASSWORD is empty: the ClickHouse user "${c.CLICKHOUSE_USER}" has no password`);
    if (u.protocol === 'http:' && !LOOPBACK.test(u.hostname)) {
      out.push(`ClickHouse at ${u.host} is reached over plain http: its password crosses the network unencrypted (use https:// or CLICKHOUSE_SECURE=true)`);
    }
  }
  if (c.postgres.kind === 'postgres' && !new URL(c.postgres.url).password) out.push('DATABASE_URL has no password');
  if (!LOOPBACK.test(c.HOST) && c.ASSAY_ALLOWED_HOSTS.length === 0) {
    out.push(`HOST=${c.HOST} serves other machines and ASSAY_ALLOWED_HOSTS is empty: any Host header is answered (DNS rebinding); list the names clients use`);
  }
  if (c.ASSAY_CORS_ORIGINS.includes('*')) out.push('ASSAY_CORS_ORIGINS contains "*": list the origins that may call the API instead');
  if (c.ASSAY_RATE_LIMIT_PER_MINUTE === 0) out.push('ASSAY_RATE_LIMIT_PER_MINUTE=0: no per-key rate limit');
  if (c.WORKERS > 1 && !c.REDIS_URL) {
    out.push(`WORKERS=${c.WORKERS} without REDIS_URL: each worker counts rate limits on its own, so a key gets ${c.WORKERS}× ASSAY_RATE_LIMIT_PER_MINUTE`);
  }
  return out;
}

/** Why WORKERS>1 cannot apply, or undefined when it can: the embedded stores are files one process owns. */
export function workersRefusal(c: Config): string | undefined {
  if (c.WORKERS <= 1) return undefined;
  const embedded = [
    c.postgres.kind === 'pglite' ? 'PGlite (no DATABASE_URL)' : '',
    c.clickhouse.kind === 'chdb' ? 'chDB (no CLICKHOUSE_URL or CLICKHOUSE_HOST)' : '',
  ].filter(Boolean);
  if (!embedded.length) return undefined;
  return (
    `WORKERS=${c.WORKERS} ignored: the embedded ${embedded.join(' and ')} belong to one process (the data dir lock), so Assay serves from one process. ` +
    'Set DATABASE_URL and CLICKHOUSE_URL (or CLICKHOUSE_HOST) to run several API workers.'
  );
}

/** Where a store lives, for the startup banner — never prints credentials. */
export function describeStores(c: Config): { postgres: string; clickhouse: string } {
  const redact = (u: string) => u.replace(/\/\/[^@/]*@/, '//***@');
  return {
    postgres: c.postgres.kind === 'pglite' ? `embedded PGlite at ${c.postgres.path}` : `PostgreSQL ${redact(c.postgres.url)}`,
    clickhouse: c.clickhouse.kind === 'chdb' ? `embedded chDB at ${c.clickhouse.path}` : `ClickHouse ${redact(c.clickhouse.url)}`,
  };
}
