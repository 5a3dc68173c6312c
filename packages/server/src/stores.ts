import fs from 'node:fs';
import type { Config } from './config.ts';
import type { AppContext } from './context.ts';
import { openMetricWriter } from './services/ingest.ts';
import { connectClickHouse } from './stores/clickhouse/client.ts';
import { migrateClickHouse, setEmbeddedTableSettings } from './stores/clickhouse/migrate.ts';
import { ClickHouseStore } from './stores/clickhouse/query.ts';
import { openPostgres } from './stores/postgres/db.ts';
import { WriteLogMirror } from './stores/postgres/write-log-mirror.ts';

type Log = (err: unknown, msg: string) => void;

/** Opens (and migrates) both stores and starts the writer; closes them in order. Nothing else. */
/**
 * The data dir is the user's alone (0700), also when it existed before: PGlite's emulated file
 * system creates its files 0666 whatever the umask, so the directory is what keeps them private.
 */
export function privateDataDir(config: Config): void {
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(config.dataDir, 0o700);
}

export async function openStores(config: Config, log: Log): Promise<AppContext> {
  privateDataDir(config);
  const pg = await openPostgres(config.postgres);
  let ch: ClickHouseStore | undefined;
  try {
    await pg.migrate();
    ch = new ClickHouseStore(await connectClickHouse(config), {
      maxExecutionSeconds: config.ASSAY_QUERY_MAX_SECONDS,
      maxMemoryBytes: config.ASSAY_QUERY_MAX_MEMORY_BYTES,
    });
    await migrateClickHouse(ch, { database: config.CLICKHOUSE_DATABASE, cluster: config.CLICKHOUSE_CLUSTER });
    if (config.clickhouse.kind === 'chdb') await setEmbeddedTableSettings(ch, config.CLICKHOUSE_DATABASE, config.clickhouse.fsync);
  } catch (e) {
    await ch?.close().catch(() => undefined);
    await pg.close().catch(() => undefined);
    throw e;
  }
  const writeLogs = new WriteLogMirror(pg.db, 1000, log);
  // What happens around each flush (batch ids, book-keeping) is the ingest service's.
  const writer = openMetricWriter({ pg, ch, writeLogs }, config, log);
  return { config, pg, ch, writer, writeLogs };
}

export async function closeStores(ctx: AppContext): Promise<void> {
  await ctx.writer.close();
  await ctx.writeLogs.flush();
  await ctx.ch.close();
  await ctx.pg.close();
}
