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
  ASSAY_DATA_DIR: z.string().min(1).default('./.assay'),
  DATABASE_URL: optionalUrl(['postgres://', 'postgresql://']),
  CLICKHOUSE_URL: optionalUrl(['http://', 'https://']),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier').default('default'),
  CLICKHOUSE_CLUSTER: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier')
    .optional(),
  ARTIFACT_DIR: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest accepted request body (bytes). Bigger bodies get 413. */
  ASSAY_BODY_LIMIT: z.coerce.number().int().positive().default(64 * 1024 * 1024),
  /** Group-commit writer: flush when this many points are buffered … */
  ASSAY_WRITER_MAX_ROWS: z.coerce.number().int().positive().default(200_000),
  /** … or when the oldest buffered point has waited this long (ms). */
  ASSAY_WRITER_MAX_DELAY_MS: z.coerce.number().int().min(0).default(20),
  /** Inserts in flight at once (one ClickHouse insert with its views keeps about one core busy). */
  ASSAY_WRITER_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(2),
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
});

export type Env = z.infer<typeof envSchema>;

export interface Config extends Env {
  dataDir: string;
  postgres: { kind: 'pglite'; path: string; fsync: boolean } | { kind: 'postgres'; url: string };
  clickhouse: { kind: 'chdb'; path: string; fsync: boolean } | { kind: 'http'; url: string };
  artifactDir: string;
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
  return {
    ...e,
    dataDir,
    postgres: e.DATABASE_URL ? { kind: 'postgres', url: e.DATABASE_URL } : { kind: 'pglite', path: path.join(dataDir, 'postgres'), fsync: e.ASSAY_FSYNC === 'on' },
    clickhouse: e.CLICKHOUSE_URL ? { kind: 'http', url: e.CLICKHOUSE_URL } : { kind: 'chdb', path: path.join(dataDir, 'clickhouse'), fsync: e.ASSAY_FSYNC === 'on' },
    artifactDir: path.resolve(e.ARTIFACT_DIR ?? path.join(dataDir, 'artifacts')),
  };
}

/** Where a store lives, for the startup banner — never prints credentials. */
export function describeStores(c: Config): { postgres: string; clickhouse: string } {
  const redact = (u: string) => u.replace(/\/\/[^@/]*@/, '//***@');
  return {
    postgres: c.postgres.kind === 'pglite' ? `embedded PGlite at ${c.postgres.path}` : `PostgreSQL ${redact(c.postgres.url)}`,
    clickhouse: c.clickhouse.kind === 'chdb' ? `embedded chDB at ${c.clickhouse.path}` : `ClickHouse ${redact(c.clickhouse.url)}`,
  };
}
