import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { DoctorReport } from '@assay/contracts';
import { describeStores, insecureSettings, workersRefusal, type Config } from '../config.ts';
import { clickhouseMigrationState, postgresMigrationState } from '../migration-state.ts';
import type { ClickHouseStore } from '../stores/clickhouse/query.ts';
import type { PostgresStore } from '../stores/postgres/db.ts';
import { aggregateMarks, pendingBatches } from '../stores/postgres/repos/operations.ts';

/** A store the caller opened, or why it could not. */
export type Opened<T> = { store: T } | { error: string };

export interface DoctorInputs {
  config: Config;
  pg: Opened<PostgresStore>;
  ch: Opened<ClickHouseStore>;
  via: 'server' | 'cli';
}

const CHECK_TIMEOUT_MS = 5000;
const PENDING_ITEMS = 20;
/** A batch pending this long is no insert in flight: its attempt died and nothing has settled it yet. */
const PENDING_WARN_SECONDS = 15 * 60;

const require = createRequire(import.meta.url);

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const message = (e: unknown): string => (e instanceof AggregateError && e.errors.length ? message(e.errors[0]) : ((e as Error)?.message || String(e)));

/** Reachable when one round trip answers; the latency is a second one's (the first may open a connection or warm a cache). */
async function timed(fn: () => Promise<void>, what: string): Promise<{ latency_ms: number | null; error: string | null }> {
  try {
    await withTimeout(fn(), what);
    const t0 = performance.now();
    await withTimeout(fn(), what);
    return { latency_ms: Math.round((performance.now() - t0) * 100) / 100, error: null };
  } catch (e) {
    return { latency_ms: null, error: message(e) };
  }
}

/** Bytes a directory tree takes on disk (allocated blocks), or null when it does not exist. */
export async function diskUse(dir: string): Promise<number | null> {
  let total = 0;
  try {
    const root = await fs.promises.lstat(dir);
    total += root.blocks * 512;
    for (const e of await fs.promises.readdir(dir, { recursive: true, withFileTypes: true })) {
      const st = await fs.promises.lstat(path.join(e.parentPath, e.name)).catch(() => undefined); // a file removed meanwhile
      if (st) total += st.blocks * 512;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return total;
}

function packageVersion(file: string): string | null {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

function chdbVersion(): string | null {
  try {
    return packageVersion(path.join(path.dirname(require.resolve('chdb')), 'package.json'));
  } catch {
    return null; // not installed (a server-only deployment)
  }
}

async function redisCheck(url: string): Promise<DoctorReport['stores'][number]> {
  const { Redis } = await import('ioredis');
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: CHECK_TIMEOUT_MS, retryStrategy: () => null });
  let cause: unknown; // the socket's error (ECONNREFUSED…), which connect() only reports as "Connection is closed."
  r.on('error', (e) => (cause ??= e));
  let version: string | null = null;
  const where = url.replace(/\/\/[^@/]*@/, '//***@');
  try {
    await withTimeout(r.connect(), 'redis');
    const check = await timed(async () => void (await r.ping()), 'redis');
    version = /redis_version:(\S+)/.exec(await r.info('server'))?.[1] ?? null;
    return { name: 'redis', where, reachable: check.error === null, ...check, version };
  } catch (e) {
    return { name: 'redis', where, reachable: false, latency_ms: null, version, error: message(cause ?? e) };
  } finally {
    r.disconnect();
  }
}

/**
 * Everything `assay doctor` reports, from stores the caller opened (the server's own, or the CLI's
 * when no server runs). Reads only; each check has its own timeout, and a failed one is reported
 * as such instead of failing the report.
 */
export async function doctorReport({ config, pg, ch, via }: DoctorInputs): Promise<DoctorReport> {
  const where = describeStores(config);
  const warnings: string[] = [...config.notices, ...insecureSettings(config)];
  const refusal = workersRefusal(config);
  if (refusal) warnings.push(refusal);

  const report: DoctorReport = {
    ok: false,
    checked_by: { pid: process.pid, via },
    versions: { assay: packageVersion(require.resolve('../../package.json')) ?? 'unknown', node: process.version, postgres: null, clickhouse: null, chdb: chdbVersion() },
    stores: [],
    migrations: { postgres: null, clickhouse: null },
    pending_batches: null,
    aggregate_marks: null,
    disk: { data_dir: config.dataDir, postgres_bytes: null, clickhouse_bytes: null, artifacts_bytes: null, free_bytes: null, total_bytes: null },
    warnings,
  };

  // PostgreSQL
  if ('store' in pg) {
    const check = await timed(() => pg.store.ping(), 'postgres');
    report.stores.push({ name: 'postgres', where: where.postgres, reachable: check.error === null, ...check, version: null });
    if (check.error === null) {
      const s = report.stores[report.stores.length - 1];
      const r = (await pg.store.db.execute(sql`show server_version`)) as unknown as { rows: { server_version: string }[] };
      s.version = report.versions.postgres = r.rows[0]?.server_version ?? null;
      report.migrations.postgres = await postgresMigrationState(pg.store.db);
      const p = await pendingBatches(pg.store.db, PENDING_ITEMS);
      const age = (d: Date) => Math.round((Date.now() - d.getTime()) / 100) / 10;
      report.pending_batches = {
        count: p.count,
        oldest_age_seconds: p.oldest ? age(p.oldest) : null,
        items: p.items.map((b) => ({ team_id: b.teamId, experiment_id: b.experimentId, batch_id: b.batchId, age_seconds: age(b.createdAt) })),
      };
      if (report.pending_batches.oldest_age_seconds !== null && report.pending_batches.oldest_age_seconds > PENDING_WARN_SECONDS) {
        warnings.push(`${p.count} metric batch(es) pending, the oldest for ${Math.round(report.pending_batches.oldest_age_seconds / 60)} min: a client retry, the crash sweeper's pass or the next start settles them (services/ingest.ts recoverPendingBatches)`);
      }
      const marks = await aggregateMarks(pg.store.db);
      report.aggregate_marks = { count: marks.count, lease_expired: marks.leaseExpired };
      if (marks.leaseExpired) {
        warnings.push(`${marks.leaseExpired} experiment(s) owe aggregates a stopped writer left unwritten: the crash sweeper's pass or the next start rebuilds them from the points (services/aggregate-marks.ts recoverAggregateBacklog)`);
      }
    }
  } else {
    report.stores.push({ name: 'postgres', where: where.postgres, reachable: false, latency_ms: null, version: null, error: pg.error });
  }

  // ClickHouse
  const o = { database: config.CLICKHOUSE_DATABASE, cluster: config.CLICKHOUSE_CLUSTER };
  if ('store' in ch) {
    const check = await timed(() => ch.store.ping(), 'clickhouse');
    report.stores.push({ name: 'clickhouse', where: where.clickhouse, reachable: check.error === null, ...check, version: null });
    if (check.error === null) {
      const [[v]] = await ch.store.adminRows<[string]>('SELECT version()');
      report.stores[report.stores.length - 1].version = report.versions.clickhouse = v;
      report.migrations.clickhouse = await clickhouseMigrationState(ch.store, o);
      if (o.cluster) {
        const [[hosts]] = await ch.store.adminRows<[number]>('SELECT count() FROM system.clusters WHERE cluster = {c:String}', { c: o.cluster });
        if (Number(hosts) === 0) warnings.push(`CLICKHOUSE_CLUSTER=${o.cluster}: the ClickHouse server has no such cluster in remote_servers`);
      }
    }
  } else {
    report.stores.push({ name: 'clickhouse', where: where.clickhouse, reachable: false, latency_ms: null, version: null, error: ch.error });
  }

  if (config.REDIS_URL) report.stores.push(await redisCheck(config.REDIS_URL));

  for (const [name, m] of Object.entries(report.migrations)) {
    if (m?.pending.length) warnings.push(`${name}: ${m.pending.length} migration(s) pending (${m.pending.join(', ')}): run assay migrate, or restart the server`);
  }

  // Disk
  const d = report.disk;
  if (config.postgres.kind === 'pglite') d.postgres_bytes = await diskUse(config.postgres.path);
  if (config.clickhouse.kind === 'chdb') d.clickhouse_bytes = await diskUse(config.clickhouse.path);
  d.artifacts_bytes = await diskUse(config.artifactDir);
  try {
    const st = await fs.promises.statfs(fs.existsSync(config.dataDir) ? config.dataDir : path.dirname(config.dataDir));
    d.free_bytes = st.bavail * st.bsize;
    d.total_bytes = st.blocks * st.bsize;
    if (d.free_bytes < 0.1 * d.total_bytes) warnings.push(`the data dir's file system has ${Math.round((100 * d.free_bytes) / d.total_bytes)}% free`);
  } catch (e) {
    warnings.push(`free space of ${config.dataDir}: ${message(e)}`);
  }

  report.ok = report.stores.every((s) => s.reachable);
  return report;
}
