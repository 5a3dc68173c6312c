import fs from 'node:fs';
import path from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { ConfigError, type Config } from '../../config.ts';
import type { ClusterMode } from './cluster.ts';
import { ChdbSessionPool } from './chdb-pool.ts';

/** Statements chDB runs side by side (reads beside the writer's inserts); each has its own session. */
const CHDB_SESSIONS = 4;

export interface ClickHouseConnection {
  /** A ClickHouse cluster (CLICKHOUSE_CLUSTER, a server only): Distributed tables, mutations ON CLUSTER. */
  cluster?: ClusterMode;
  client: ClickHouseClient;
  kind: 'chdb' | 'http';
  /** chDB: a directory for staging Native inserts (emptied on connect). */
  ingestDir?: string;
  /**
   * A server: a client bound to no database, for CREATE DATABASE — a ClickHouse server refuses any
   * request whose `database` parameter names a database that does not exist yet (UNKNOWN_DATABASE).
   */
  serverClient?: () => ClickHouseClient;
}

/**
 * The one place that decides the transport. Everything above this uses `@clickhouse/client`
 * with identical SQL: chDB in-process (embedded default) or a ClickHouse server over HTTP.
 */
export async function connectClickHouse(config: Config): Promise<ClickHouseConnection> {
  const ch = config.clickhouse;
  if (ch.kind === 'chdb') {
    if (config.CLICKHOUSE_CLUSTER) {
      throw new ConfigError('invalid configuration: CLICKHOUSE_CLUSTER: needs a ClickHouse server (CLICKHOUSE_URL or CLICKHOUSE_HOST); embedded chDB is one node without Keeper');
    }
    fs.mkdirSync(ch.path, { recursive: true });
    // Loaded lazily: the native library is ~500 MB and only needed in embedded mode.
    const { createChdbConnection } = await import('chdb/connection');
    const connection = new ChdbSessionPool(() => createChdbConnection({ path: ch.path }), CHDB_SESSIONS);
    const client = createClient({ connection } as never);
    const ingestDir = path.join(ch.path, 'ingest-staging');
    fs.rmSync(ingestDir, { recursive: true, force: true }); // leftovers of a stopped process: never acknowledged
    fs.mkdirSync(ingestDir, { recursive: true });
    return { client, kind: 'chdb', ingestDir };
  }
  const options = {
    url: ch.url,
    username: config.CLICKHOUSE_USER,
    password: config.CLICKHOUSE_PASSWORD,
    request_timeout: Math.ceil(config.ASSAY_QUERY_MAX_SECONDS * 1000) + 5000,
  };
  const client = createClient({ ...options, database: config.CLICKHOUSE_DATABASE });
  const cluster = config.CLICKHOUSE_CLUSTER ? { name: config.CLICKHOUSE_CLUSTER, database: config.CLICKHOUSE_DATABASE } : undefined;
  return { client, kind: 'http', serverClient: () => createClient(options), cluster };
}
