import type { Config } from './config.ts';
import type { ClickHouseStore } from './stores/clickhouse/query.ts';
import type { MetricWriter } from './stores/clickhouse/writer.ts';
import type { PostgresStore } from './stores/postgres/db.ts';
import type { WriteLogMirror } from './stores/postgres/write-log-mirror.ts';

/** Everything a service needs, built once by `openStores` and decorated onto the app. */
export interface AppContext {
  config: Config;
  pg: PostgresStore;
  ch: ClickHouseStore;
  writer: MetricWriter;
  writeLogs: WriteLogMirror;
}
