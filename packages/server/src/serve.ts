import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { describeStores, type Config } from './config.ts';
import { startCrashSweeper } from './services/crash-sweeper.ts';
import { recoverPendingBatches } from './services/ingest.ts';
import { closeStores, openStores } from './stores.ts';
import { busyMessage, lockDataDir, removeServerFile, writeServerFile } from './server-file.ts';

/** `assay serve`: open stores, listen, and shut down cleanly on SIGTERM/SIGINT. */
export async function serve(config: Config): Promise<void> {
  const t0 = performance.now();
  const embedded = config.postgres.kind === 'pglite' || config.clickhouse.kind === 'chdb';
  // The embedded stores belong to one process: hold the data dir's kernel lock (server-file.ts)
  // before opening them. A server killed just before is waited for, briefly.
  const holder = embedded ? await lockDataDir(config.dataDir, 'serve') : undefined;
  if (holder) throw new Error(busyMessage(config.dataDir, holder));
  const log = (err: unknown, msg: string) => console.error(`${new Date().toISOString()} ${msg}:`, err);
  // Written at once (URL empty: starting), so a CLI started meanwhile waits for us instead of
  // trusting a file a killed server left behind.
  const adminToken = randomBytes(32).toString('base64url');
  if (embedded) writeServerFile(config.dataDir, { pid: process.pid, url: '', admin_token: adminToken });
  let app: FastifyInstance;
  let ctx: Awaited<ReturnType<typeof openStores>>;
  try {
    ctx = await openStores(config, log);
  } catch (e) {
    removeServerFile(config.dataDir);
    throw e;
  }
  try {
    // A pending batch id younger than 2 minutes may be another API replica's flush in progress
    // (a shared PostgreSQL). Embedded metadata has one writer — us, holding the lock — so every
    // pending batch is a cut-off one: settle them all now. A client that never retries (it was
    // killed too) would otherwise leave its batch's points and aggregates disagreeing until a
    // restart 2 minutes later (crash-safety.test.ts).
    const recovered = await recoverPendingBatches(ctx, { minAgeMs: config.postgres.kind === 'pglite' ? 0 : undefined });
    if (recovered.landed + recovered.dropped > 0) {
      console.log(`recovered ${recovered.landed + recovered.dropped} batch(es) cut off by the last stop: ${recovered.landed} had landed, ${recovered.dropped} will be re-sent by clients`);
    }
    ({ app } = await buildApp(ctx, { logger: config.LOG_LEVEL !== 'silent', adminToken }));
    await app.listen({ port: config.PORT, host: config.HOST });
  } catch (e) {
    await closeStores(ctx);
    removeServerFile(config.dataDir);
    throw e;
  }
  const port = (app.server.address() as { port: number }).port;
  const sweeper = startCrashSweeper(ctx, app.log);
  const url = `http://localhost:${port}`;
  writeServerFile(config.dataDir, { pid: process.pid, url, admin_token: adminToken });
  const stores = describeStores(config);
  console.log(`Assay listening on ${url}  (API ${url}/api/v1, docs ${url}/docs) — started in ${Math.round(performance.now() - t0)} ms`);
  console.log(`  metadata: ${stores.postgres}`);
  console.log(`  metrics:  ${stores.clickhouse}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: closing — no new requests, flushing buffered metrics`);
    try {
      await sweeper.stop();
      // Stops accepting and waits for in-flight requests (their writes are acked by the writer).
      // A keep-alive connection whose request was still running when close() began goes idle
      // later and would hold close() until its keep-alive timeout (measured: 63 s); close those
      // as they go idle.
      const idle = setInterval(() => app.server.closeIdleConnections(), 50);
      await app.close().finally(() => clearInterval(idle));
      await closeStores(ctx); // flushes the writer, then closes ClickHouse and Postgres
      removeServerFile(config.dataDir);
      console.log('stopped cleanly');
      process.exit(0);
    } catch (e) {
      console.error('shutdown failed:', e);
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
