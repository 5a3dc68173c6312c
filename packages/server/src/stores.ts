import type { Config } from './config.ts';
import type { AppContext } from './context.ts';
import { connectClickHouse } from './stores/clickhouse/client.ts';
import { migrateClickHouse } from './stores/clickhouse/migrate.ts';
import { ClickHouseStore } from './stores/clickhouse/query.ts';
import { MetricWriter, type WriteRequest } from './stores/clickhouse/writer.ts';
import { openPostgres, type PostgresStore } from './stores/postgres/db.ts';
import { recordFlush, recordPendingBatches, type BatchWrite, type MetricWrite } from './stores/postgres/repos/metric-logs.ts';
import type { Tenant } from './stores/postgres/tenant.ts';
import { WriteLogMirror } from './stores/postgres/write-log-mirror.ts';

type Log = (err: unknown, msg: string) => void;

/** Opens (and migrates) both stores and starts the writer. */
export async function openStores(config: Config, log: Log): Promise<AppContext> {
  const pg = await openPostgres(config.postgres);
  let ch: ClickHouseStore | undefined;
  try {
    await pg.migrate();
    ch = new ClickHouseStore(await connectClickHouse(config), {
      maxExecutionSeconds: config.ASSAY_QUERY_MAX_SECONDS,
      maxMemoryBytes: config.ASSAY_QUERY_MAX_MEMORY_BYTES,
    });
    await migrateClickHouse(ch, { database: config.CLICKHOUSE_DATABASE, cluster: config.CLICKHOUSE_CLUSTER });
  } catch (e) {
    await ch?.close().catch(() => undefined);
    await pg.close().catch(() => undefined);
    throw e;
  }
  const writeLogs = new WriteLogMirror(pg.db, 1000, log);
  const writer = new MetricWriter(
    ch,
    { maxRows: config.ASSAY_WRITER_MAX_ROWS, maxDelayMs: config.ASSAY_WRITER_MAX_DELAY_MS, maxPendingRows: config.ASSAY_WRITER_MAX_PENDING_ROWS, concurrency: config.ASSAY_WRITER_CONCURRENCY },
    { beforeInsert: (batch) => markPending(pg, batch), afterInsert: (flushed, remaining) => bookkeeping(pg, writeLogs, flushed, remaining) },
    log,
  );
  return { config, pg, ch, writer, writeLogs };
}

/** A flush's requests per team: every Postgres write is scoped to one tenant. */
function byTeam(requests: WriteRequest[]): { tenant: Tenant; requests: WriteRequest[] }[] {
  const teams = new Map<string, { tenant: Tenant; requests: WriteRequest[] }>();
  for (const r of requests) {
    let t = teams.get(r.tenant.teamId);
    if (!t) teams.set(r.tenant.teamId, (t = { tenant: r.tenant, requests: [] }));
    t.requests.push(r);
  }
  return [...teams.values()];
}

const batchWrites = (requests: WriteRequest[]): BatchWrite[] =>
  requests.flatMap((r) => (r.batchId ? [{ experimentId: r.experimentId, batchId: r.batchId, points: r.rows.count, versionBase: r.rows.versionBase }] : []));

/** Batch ids about to be inserted, with their versions: lets a retry after a crash tell whether they landed. */
async function markPending(pg: PostgresStore, batch: WriteRequest[]): Promise<void> {
  for (const t of byTeam(batch)) await recordPendingBatches(pg.db, t.tenant, batchWrites(t.requests));
}

/** One Postgres transaction per team in the flush (batch ids committed, sync state); write logs go to the mirror. */
export async function bookkeeping(pg: PostgresStore, writeLogs: WriteLogMirror, flushed: WriteRequest[], remaining: Map<string, number>): Promise<void> {
  const at = new Date();
  for (const t of byTeam(flushed)) {
    const sync = [...new Set(t.requests.map((r) => r.experimentId))].map((experimentId) => ({ experimentId, pendingRows: remaining.get(experimentId) ?? 0 }));
    await recordFlush(pg.db, t.tenant, batchWrites(t.requests), sync, at);
    // the mirror sums per (experiment, metric) across flushes
    writeLogs.add(
      t.tenant,
      t.requests.flatMap((r) => [...r.rows.perMetric].map(([metricName, m]): MetricWrite => ({ projectId: r.projectId, experimentId: r.experimentId, metricName, points: m.points, lastLoggedAt: new Date(m.lastTsMs) }))),
    );
  }
}

export async function closeStores(ctx: AppContext): Promise<void> {
  await ctx.writer.close();
  await ctx.writeLogs.flush();
  await ctx.ch.close();
  await ctx.pg.close();
}
