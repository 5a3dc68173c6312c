import { loadConfig } from '../src/config.ts';
import { openPostgres } from '../src/stores/postgres/db.ts';
import { connectClickHouse } from '../src/stores/clickhouse/client.ts';
import { migrateClickHouse } from '../src/stores/clickhouse/migrate.ts';
import { ClickHouseStore } from '../src/stores/clickhouse/query.ts';
import { startClickHouseHttpFixture } from './ch-http-fixture/start.ts';

/**
 * Against a shared PostgreSQL (DATABASE_URL), migrate once before the parallel test files start,
 * so two files never race to create the schema. Embedded runs need nothing: each file has its own.
 */
export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  const stop = await clickHouseFixture();
  try {
    const config = loadConfig();
    if (config.clickhouse.kind === 'http') await migrateSharedClickHouse(config);
    if (config.postgres.kind !== 'postgres') return stop;
    const pg = await openPostgres(config.postgres);
    try {
      await pg.migrate();
    } finally {
      await pg.close();
    }
    return stop;
  } catch (e) {
    await stop?.();
    throw e;
  }
}

/**
 * ASSAY_TEST_CH_FIXTURE=1: one ClickHouse-HTTP test fixture (chDB behind ClickHouse's HTTP
 * interface, test/ch-http-fixture) for the whole run, exported as CLICKHOUSE_URL to every test
 * file, which share it as they share DATABASE_URL's PostgreSQL: isolated by team. The database
 * stays `default`: child servers that drop CLICKHOUSE_URL for embedded chDB inherit the env, and
 * embedded chDB reads the default database whatever CLICKHOUSE_DATABASE says (clickhouse-http.test.ts
 * covers a named database over HTTP).
 */
async function clickHouseFixture(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.ASSAY_TEST_CH_FIXTURE !== '1') return undefined;
  const fixture = await startClickHouseHttpFixture();
  process.env.CLICKHOUSE_URL = fixture.url;
  return () => fixture.stop();
}

/** Against a shared ClickHouse server, migrate once too: parallel files would race on the DDL. */
async function migrateSharedClickHouse(config: ReturnType<typeof loadConfig>): Promise<void> {
  const ch = new ClickHouseStore(await connectClickHouse(config), { maxExecutionSeconds: 0, maxMemoryBytes: 0 });
  try {
    await migrateClickHouse(ch, { database: config.CLICKHOUSE_DATABASE, cluster: config.CLICKHOUSE_CLUSTER });
  } finally {
    await ch.close();
  }
}
