import fs from 'node:fs';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../../config.ts';

/** Raw, zero-copy insert into chDB; absent on an HTTP connection. */
export type ChdbRawInsert = (p: { table: string; values: Buffer; format: string; columns?: string[]; settings?: Record<string, unknown> }) => Promise<unknown>;

export interface ClickHouseConnection {
  client: ClickHouseClient;
  kind: 'chdb' | 'http';
  rawInsert?: ChdbRawInsert;
}

/**
 * The one place that decides the transport. Everything above this uses `@clickhouse/client`
 * with identical SQL: chDB in-process (embedded default) or a ClickHouse server over HTTP.
 */
export async function connectClickHouse(config: Config): Promise<ClickHouseConnection> {
  const ch = config.clickhouse;
  if (ch.kind === 'chdb') {
    fs.mkdirSync(ch.path, { recursive: true });
    // Loaded lazily: the native library is ~500 MB and only needed in embedded mode.
    const { createChdbConnection } = await import('chdb/connection');
    const connection = createChdbConnection({ path: ch.path });
    const client = createClient({ connection } as never);
    const ext = (connection as unknown as { chdb: { rawInsert: ChdbRawInsert } }).chdb;
    return { client, kind: 'chdb', rawInsert: (p) => ext.rawInsert(p) };
  }
  const client = createClient({
    url: ch.url,
    username: config.CLICKHOUSE_USER,
    password: config.CLICKHOUSE_PASSWORD,
    database: config.CLICKHOUSE_DATABASE,
    request_timeout: Math.ceil(config.ASSAY_QUERY_MAX_SECONDS * 1000) + 5000,
  });
  return { client, kind: 'http' };
}
