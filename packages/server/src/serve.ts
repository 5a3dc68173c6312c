import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { describeStores, insecureSettings, workersRefusal, type Config } from './config.ts';
import { startCrashSweeper } from './services/crash-sweeper.ts';
import { recoverAggregateBacklog } from './services/aggregate-marks.ts';
import { batchLeaseMs, recoverPendingBatches } from './services/ingest.ts';
import { closeStores, openStores } from './stores.ts';
import type { AppContext } from './context.ts';
import { busyMessage, lockDataDir, removeServerFile, unlockDataDir, writeServerFile } from './server-file.ts';

type Level = 'info' | 'warn' | 'error';
const PINO_LEVEL: Record<Level, number> = { info: 30, warn: 40, error: 50 };

/**
 * The lines `serve` itself prints (banner, notices, warnings). ENVIRONMENT=production: one JSON
 * object per line in pino's shape, like Fastify's own logs, so a log shipper reads one format;
 * otherwise plain text for a person at a terminal.
 */
export interface StartupLog {
  (level: Level, msg: string, err?: unknown): void;
}

export function startupLog(config: Config): StartupLog {
  if (config.ENVIRONMENT !== 'production') {
    return (level, msg, err) => {
      if (err !== undefined) console.error(`${new Date().toISOString()} ${msg}:`, err);
      else if (level === 'info') console.log(msg);
      else console.error(`${level}: ${msg}`);
    };
  }
  const threshold = config.LOG_LEVEL === 'silent' ? Infinity : ({ fatal: 60, error: 50, warn: 40 } as Record<string, number>)[config.LOG_LEVEL] ?? 30;
  const hostname = os.hostname();
  return (level, msg, err) => {
    if (PINO_LEVEL[level] < threshold) return;
    const e = err instanceof Error ? { type: err.name, message: err.message, stack: err.stack } : err;
    process.stdout.write(JSON.stringify({ level: PINO_LEVEL[level], time: Date.now(), pid: process.pid, hostname, msg, ...(e === undefined ? {} : { err: e }) }) + '\n');
  };
}

/**
 * `assay serve`. WORKERS>1 with both stores on servers: a primary process migrates, settles
 * cut-off batches and runs the one crash sweeper, and node:cluster workers serve the API on the
 * shared port. Otherwise (the default, and always with embedded stores) one process does it all.
 */
export async function serve(config: Config): Promise<void> {
  const say = startupLog(config);
  if (cluster.isWorker) return serveWorker(config, say);
  for (const notice of config.notices) say('info', notice);
  if (config.ENVIRONMENT === 'production') for (const w of insecureSettings(config)) say('warn', `insecure setting: ${w}`);
  const refusal = workersRefusal(config);
  if (refusal) say('warn', refusal);
  if (config.WORKERS > 1 && !refusal) return servePrimary(config, say);
  return serveOne(config, say);
}

/** One process: the data-dir lock (embedded stores), stores, recovery, API and crash sweeper. */
async function serveOne(config: Config, say: StartupLog): Promise<void> {
  const t0 = performance.now();
  const embedded = config.postgres.kind === 'pglite' || config.clickhouse.kind === 'chdb';
  // The embedded stores belong to one process: hold the data dir's kernel lock (server-file.ts)
  // before opening them. A server killed just before is waited for, briefly.
  const holder = embedded ? await lockDataDir(config.dataDir, 'serve') : undefined;
  if (holder) throw new Error(busyMessage(config.dataDir, holder));
  const log = (err: unknown, msg: string) => say('error', msg, err);
  // Written at once (URL empty: starting), so a CLI started meanwhile waits for us instead of
  // trusting a file a killed server left behind.
  const adminToken = randomBytes(32).toString('base64url');
  if (embedded) writeServerFile(config.dataDir, { pid: process.pid, url: '', admin_token: adminToken });
  const held: Held = { dataDir: config.dataDir };
  let app: FastifyInstance;
  let ctx: AppContext;
  try {
    ctx = held.ctx = await openStores(config, log);
    // A pending batch id still under lease may be another API replica's write in progress (a
    // shared PostgreSQL). Embedded metadata has one writer — us, holding the lock — so every
    // pending batch is a cut-off one: settle them all now (services/ingest.ts).
    const recovered = await recoverPendingBatches(ctx, { all: config.postgres.kind === 'pglite' });
    if (recovered.landed + recovered.dropped > 0) {
      say('info', `recovered ${recovered.landed + recovered.dropped} batch(es) cut off by the last stop: ${recovered.landed} had landed, ${recovered.dropped} will be re-sent by clients`);
    }
    // the same for aggregates that were still to follow their acknowledged points (services/aggregate-marks.ts)
    const rebuilt = await recoverAggregateBacklog(ctx, batchLeaseMs(config), { all: config.postgres.kind === 'pglite' });
    if (rebuilt) say('info', `rebuilt the aggregates of ${rebuilt} experiment(s) the last stop left unwritten`);
    ({ app } = await buildApp(ctx, { logger: config.LOG_LEVEL !== 'silent', adminToken }));
    held.app = app;
    await app.listen({ port: config.PORT, host: config.HOST });
  } catch (e) {
    await shutdown(held).catch((err) => say('error', 'closing after the failed start failed', err));
    throw e;
  }
  const port = (app.server.address() as { port: number }).port;
  // PORT=0 picks the port at listen: sign-in and invite links must name the one we got
  if (!config.ASSAY_PUBLIC_URL) ctx.config.publicUrl = `http://localhost:${port}`;
  // which replica sweeps (a lease change) is a notice like the banner's; marks and failures go to the app log
  held.sweeper = startCrashSweeper(ctx, { info: (_o, msg) => say('info', msg), warn: (o, msg) => app.log.warn(o, msg), error: (o, msg) => app.log.error(o, msg) });
  const url = `http://localhost:${port}`;
  writeServerFile(config.dataDir, { pid: process.pid, url, admin_token: adminToken });
  const stores = describeStores(config);
  say('info', `Assay listening on ${url}  (API ${url}/api/v1, docs ${url}/docs) — started in ${Math.round(performance.now() - t0)} ms`);
  say('info', `  metadata: ${stores.postgres}`);
  say('info', `  metrics:  ${stores.clickhouse}`);

  onStopSignal(say, held, (signal) => `${signal}: closing — no new requests, flushing buffered metrics`);
}

/**
 * What a serving process holds, each part set once it exists: `shutdown` releases it in the one
 * order every way out uses (a signal, a start that failed half-way, a worker told to stop).
 */
interface Held {
  /** The API; on the primary of WORKERS>1, `drain` stops the workers instead. */
  app?: FastifyInstance;
  drain?: () => Promise<void>;
  ctx?: AppContext;
  sweeper?: { stop(): Promise<void> };
  /** serveOne: server.json is ours, and with embedded stores the data-dir lock (lockDataDir). */
  dataDir?: string;
}

/**
 * 1. stop accepting and let the requests in flight finish (their points are in the writer);
 * 2. flush the writer: every acknowledged point is stored;
 * 3. stop the crash sweeper and hand its lease on (the next replica sweeps at once);
 * 4. close the stores;
 * 5. remove server.json and release the data-dir lock — last, so no other process opens the
 *    embedded stores while ours are still open.
 * A failed step does not skip the later ones (the lock is released whatever happened); the first
 * failure is thrown at the end.
 */
async function shutdown(h: Held): Promise<void> {
  const failures: unknown[] = [];
  const step = async (fn: () => Promise<void> | void) => {
    try {
      await fn();
    } catch (e) {
      failures.push(e);
    }
  };
  const app = h.app;
  if (app) {
    // A keep-alive connection whose request was still running when close() began goes idle later
    // and would hold close() until its keep-alive timeout (measured: 63 s); close those as they go idle.
    await step(async () => {
      const idle = setInterval(() => app.server.closeIdleConnections(), 50);
      await app.close().finally(() => clearInterval(idle));
    });
  }
  if (h.drain) await step(h.drain);
  const ctx = h.ctx;
  if (ctx) await step(() => ctx.writer.close());
  const sweeper = h.sweeper;
  if (sweeper) await step(() => sweeper.stop());
  if (ctx) await step(() => closeStores(ctx));
  const dataDir = h.dataDir;
  if (dataDir !== undefined) await step(() => (removeServerFile(dataDir), unlockDataDir()));
  if (failures.length) throw failures[0];
}

/** SIGTERM and SIGINT (Ctrl-C reaches the whole process group) run `shutdown` once, then exit 0, or 1 if it failed. */
function onStopSignal(say: StartupLog, held: Held, announce?: (signal: string) => string): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    if (announce) say('info', announce(signal));
    try {
      await shutdown(held);
      if (announce) say('info', 'stopped cleanly');
      process.exit(0);
    } catch (e) {
      say('error', 'shutdown failed', e);
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/**
 * The primary of WORKERS>1 (both stores are servers: no data-dir lock, no server.json). It does
 * once what must happen once — migrations, settling batches a previous stop cut off, the crash
 * sweeper (one sweeper for the deployment's processes here; replicas on other machines each run
 * one too, which is safe: a sweep is one idempotent UPDATE) — then forks the workers and replaces
 * any that dies. It serves no requests itself.
 */
async function servePrimary(config: Config, say: StartupLog): Promise<void> {
  const t0 = performance.now();
  const ctx = await openStores(config, (err, msg) => say('error', msg, err));
  const held: Held = { ctx };
  try {
    const recovered = await recoverPendingBatches(ctx, {});
    if (recovered.landed + recovered.dropped > 0) {
      say('info', `recovered ${recovered.landed + recovered.dropped} batch(es) cut off by the last stop: ${recovered.landed} had landed, ${recovered.dropped} will be re-sent by clients`);
    }
    const rebuilt = await recoverAggregateBacklog(ctx, batchLeaseMs(config));
    if (rebuilt) say('info', `rebuilt the aggregates of ${rebuilt} experiment(s) a stopped process left unwritten`);
    held.sweeper = startCrashSweeper(ctx, {
      info: (_obj, msg) => say('info', msg),
      warn: (_obj, msg) => say('warn', msg),
      error: (obj, msg) => say('error', msg, (obj as { err?: unknown }).err),
    });
  } catch (e) {
    await shutdown(held).catch((err) => say('error', 'closing after the failed start failed', err));
    throw e;
  }
  let stopping = false;
  const listening = new Set<number>();
  let announced = false;
  const fork = () => cluster.fork();
  cluster.on('message', (worker, msg: { listening?: number }) => {
    if (typeof msg?.listening !== 'number') return;
    listening.add(worker.process.pid ?? 0);
    if (announced || listening.size < config.WORKERS) return;
    announced = true;
    const url = `http://localhost:${msg.listening}`;
    const stores = describeStores(config);
    say('info', `Assay listening on ${url}  (API ${url}/api/v1, docs ${url}/docs) — ${config.WORKERS} workers (pids ${[...listening].join(', ')}), started in ${Math.round(performance.now() - t0)} ms`);
    say('info', `  metadata: ${stores.postgres}`);
    say('info', `  metrics:  ${stores.clickhouse}`);
  });
  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker.process.pid ?? 0);
    if (stopping) return;
    say('error', `worker pid ${worker.process.pid} exited (${signal ?? code}); starting another in 1 s`);
    setTimeout(() => !stopping && fork(), 1000).unref();
  });
  for (let i = 0; i < config.WORKERS; i++) fork();

  // the workers serve the requests: each runs the same shutdown for its own (serveWorker)
  held.drain = async () => {
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) return resolve();
      w.once('exit', () => resolve());
      w.process.kill('SIGTERM');
    })));
  };
  onStopSignal(say, held, (signal) => `${signal}: stopping ${Object.keys(cluster.workers ?? {}).length} workers — each finishes its requests and flushes its metrics`);
}

/** A worker of WORKERS>1: stores (already migrated by the primary), the API on the shared port; no sweeper, no recovery. */
async function serveWorker(config: Config, say: StartupLog): Promise<void> {
  const ctx = await openStores(config, (err, msg) => say('error', msg, err));
  const held: Held = { ctx };
  let app: FastifyInstance;
  try {
    ({ app } = await buildApp(ctx, { logger: config.LOG_LEVEL !== 'silent' }));
    held.app = app;
    await app.listen({ port: config.PORT, host: config.HOST });
  } catch (e) {
    await shutdown(held).catch((err) => say('error', 'closing after the failed start failed', err));
    throw e;
  }
  process.send?.({ listening: (app.server.address() as { port: number }).port });
  // Ctrl-C reaches the whole process group and the primary also sends SIGTERM: shut down once, silently
  onStopSignal(say, held);
}
