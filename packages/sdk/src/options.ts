/** `Experiment` options and their defaults from the environment (ASSAY_*). Node only. */
import os from 'node:os';
import { AssayConfigError } from './errors.ts';
import { HttpClient } from './http.ts';
import { consoleLogger, type Logger } from './logger.ts';
import { LIMITS } from './limits.ts';
import type { BackoffOptions } from './backoff.ts';
import type { CreateFields } from './spool.ts';
import { defaultSpoolDir } from './spool-dirs.ts';
import { validateHost } from './values.ts';
import type { Features } from './types.ts';

export interface ExperimentOptions {
  /** Project name or id (a name is created if missing). */
  project: string;
  /** Experiment name, unique in the project (created if missing, otherwise resumed). */
  name?: string;
  /** Resume this experiment id instead of getting-or-creating by name (`Experiment.resume`). */
  id?: string;
  /** Optional check: the key's team UUID or name. A different team → AssayConfigError. */
  teamId?: string;
  /** Default: ASSAY_API_URL. */
  apiUrl?: string;
  /** Default: ASSAY_API_KEY. */
  apiKey?: string;
  /** Features (nested config): stored on create, deep-merged into the stored ones on resume. */
  features?: Features;
  /** Tags: stored on create, added to the stored ones on resume (`setTags` replaces them). */
  tags?: string[];
  /** Parent experiment id (the "derived from" DAG). */
  parentId?: string;
  /** Notes (≤ 10 000 code points); replaces the stored description when resuming. */
  description?: string;
  /** Host recorded on the experiment. Default os.hostname(). */
  host?: string;
  /** Tag every point with `host` (multi-host / multi-rank runs, so ranks don't overwrite each other). */
  multiHost?: boolean;
  /** 'offline' (or ASSAY_MODE=offline): never contact the server; everything goes to the spool. */
  mode?: 'online' | 'offline';
  /** Spool directory. Default `$ASSAY_SPOOL_DIR/node` (~/.assay/spool/node); `false` disables spooling. */
  spoolDir?: string | false;
  /** Points per batch (default 10 000, at most LIMITS.batchPointsMax). */
  batchSize?: number;
  /** Batches in flight at once when they cannot touch the same (metric, step) (default 4; 1 = strictly serial). */
  maxInFlight?: number;
  /** A point waits at most this long before being sent (default 1000 ms). */
  flushIntervalMs?: number;
  /** Memory bound: above this many unsent points, spill to the spool (default 500 000). */
  maxBufferedPoints?: number;
  /**
   * The offline grace (default ASSAY_OFFLINE_GRACE seconds, or 5000 ms): no call waits longer for
   * a server that is down or never answers; after it the run spools and keeps probing.
   */
  offlineGraceMs?: number;
  /** @deprecated the old name of `offlineGraceMs`. */
  spoolAfterMs?: number;
  /** Heartbeat period (default ASSAY_HEARTBEAT_INTERVAL seconds, or 10 000 ms; 0 disables). */
  heartbeatIntervalMs?: number;
  /** When the experiment already exists, auto steps continue after its last logged step (default true). */
  resume?: boolean;
  /** Log `system/...` metrics (default true; a number sets the period in ms, default 10 000). */
  systemMetrics?: boolean | number;
  /** Gzip large metric batches (default true). */
  gzip?: boolean;
  requestTimeoutMs?: number;
  /** finish() never waits longer than this (default: no limit while the server makes progress). */
  finishTimeoutMs?: number;
  /**
   * finish() gives up when the server acknowledged nothing for this long and leaves the rest in the
   * spool for syncSpool() (default max(offline grace, 5000) ms).
   */
  finishPatienceMs?: number;
  /** finish('complete') when the event loop empties, spool + 'failed' on a crash exit (default true). */
  autoFinish?: boolean;
  backoff?: BackoffOptions;
  logger?: Logger;
  fetch?: typeof fetch;
}

export interface LogMetricOptions {
  /** Default: one more than the last step of this metric (0 first). */
  step?: number | bigint;
  /** Default: now (client clock, at the call). A Date, epoch ms or ISO-8601 with a zone. */
  timestamp?: Date | number | string;
}

export interface LogArtifactsOptions {
  /**
   * Prefix for the stored artifact paths. Default: the directory's own name, as the Python SDK
   * stores it (`./checkpoints` → `checkpoints/epoch1.pt`); `''` stores paths relative to `path`.
   */
  prefix?: string;
}

/** The options with every default applied. */
export interface ResolvedOptions extends ExperimentOptions {
  name: string;
  offlineGraceMs: number;
  heartbeatIntervalMs: number;
  batchSize: number;
  logger: Logger;
  offline: boolean;
  spoolDirResolved: string | null;
  http: HttpClient | null;
  create: CreateFields;
}

function envStr(name: string): string | undefined {
  const v = process.env[name];
  return v && v.trim() ? v.trim() : undefined;
}

function envSeconds(name: string): number | undefined {
  const v = envStr(name);
  const x = v === undefined ? NaN : parseFloat(v);
  return Number.isFinite(x) && x >= 0 ? Math.round(x * 1000) : undefined;
}

/** Check the options and fill in the defaults (environment variables included). */
export function resolveOptions(o: ExperimentOptions): ResolvedOptions {
  if (!o || typeof o.project !== 'string' || !o.project) throw new AssayConfigError('Experiment: `project` is required');
  if (o.id !== undefined && (typeof o.id !== 'string' || !o.id)) throw new AssayConfigError('Experiment: `id` must be a non-empty string');
  if (!o.id && (typeof o.name !== 'string' || !o.name)) throw new AssayConfigError('Experiment: `name` (or `id` to resume) is required');
  const clean = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as ExperimentOptions;
  const offline = (clean.mode ?? envStr('ASSAY_MODE')) === 'offline';
  const apiUrl = clean.apiUrl ?? envStr('ASSAY_API_URL');
  const apiKey = clean.apiKey ?? envStr('ASSAY_API_KEY');
  if (!offline) {
    if (!apiUrl) throw new AssayConfigError('Assay API URL is not set (pass apiUrl or set ASSAY_API_URL)');
    if (!apiKey) throw new AssayConfigError('Assay API key is not set (pass apiKey or set ASSAY_API_KEY)');
  }
  const batchSize = clean.batchSize ?? 10_000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > LIMITS.batchPointsMax) {
    throw new AssayConfigError(`batchSize must be an integer 1 … ${LIMITS.batchPointsMax}`);
  }
  const host = validateHost(clean.host ?? os.hostname());
  const create: CreateFields = { features: clean.features, tags: clean.tags, parent_id: clean.parentId, description: clean.description, host };
  for (const k of Object.keys(create) as Array<keyof CreateFields>) if (create[k] === undefined) delete create[k];
  return {
    ...clean,
    name: clean.name ?? clean.id!,
    offlineGraceMs: clean.offlineGraceMs ?? clean.spoolAfterMs ?? envSeconds('ASSAY_OFFLINE_GRACE') ?? 5000,
    heartbeatIntervalMs: clean.heartbeatIntervalMs ?? envSeconds('ASSAY_HEARTBEAT_INTERVAL') ?? 10_000,
    batchSize,
    logger: clean.logger ?? consoleLogger(),
    offline,
    spoolDirResolved: clean.spoolDir === false ? null : (clean.spoolDir ?? defaultSpoolDir()),
    http: apiUrl ? new HttpClient({ apiUrl, apiKey, fetch: clean.fetch, timeoutMs: clean.requestTimeoutMs }) : null,
    create,
  };
}

/** Deep merge (objects recursively, everything else replaced), like the server's features merge. */
export function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)) {
      deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>);
    } else into[k] = v;
  }
  return into;
}
