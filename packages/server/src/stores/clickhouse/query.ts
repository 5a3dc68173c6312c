import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import type { ClickHouseConnection } from './client.ts';
import { INGEST_COLUMNS, TENANT_TABLES } from './ddl.ts';

export interface Tenant {
  teamId: string;
}

export type QueryParams = Record<string, unknown>;

export interface QueryLimits {
  maxExecutionSeconds: number;
  maxMemoryBytes: number;
}

const TENANT_TABLE_RE = new RegExp(`\\b(?:FROM|JOIN|INTO|TABLE)\\s+(?:\\w+\\.)?(${TENANT_TABLES.join('|')})\\b`, 'i');
const TEAM_PREDICATE_RE = /\bteam_id\s*=\s*\{team_id:UUID\}/;

export class TenantPredicateMissing extends Error {
  constructor(table: string) {
    super(`refusing a query on tenant table "${table}" without the team_id = {team_id:UUID} predicate`);
  }
}

/**
 * The one ClickHouse query wrapper. Values travel only as typed server-side parameters
 * ({name:Type}); every statement on a tenant table must carry the team predicate, and the
 * tenant's team id is bound here — callers can't forget or forge it.
 */
export class ClickHouseStore {
  readonly client: ClickHouseClient;
  readonly kind: 'chdb' | 'http';
  readonly rawInsert: ClickHouseConnection['rawInsert'];

  constructor(
    conn: ClickHouseConnection,
    private readonly limits: QueryLimits,
  ) {
    this.client = conn.client;
    this.kind = conn.kind;
    this.rawInsert = conn.rawInsert;
  }

  static assertTenantSafe(sql: string): void {
    const m = TENANT_TABLE_RE.exec(sql);
    if (m && !TEAM_PREDICATE_RE.test(sql)) throw new TenantPredicateMissing(m[1]);
  }

  private settings(tag: string) {
    return {
      max_execution_time: this.limits.maxExecutionSeconds,
      max_memory_usage: String(this.limits.maxMemoryBytes),
      output_format_json_quote_denormals: 1,
      output_format_json_quote_64bit_integers: 0,
      log_comment: tag,
    } as const;
  }

  /** Rows as arrays (JSONCompactEachRow): the cheapest shape for large results. */
  async rows<T extends unknown[] = unknown[]>(tenant: Tenant, tag: string, sql: string, params: QueryParams = {}): Promise<T[]> {
    ClickHouseStore.assertTenantSafe(sql);
    const rs = await this.client.query({
      query: sql,
      format: 'JSONCompactEachRow',
      query_params: { ...params, team_id: tenant.teamId },
      clickhouse_settings: this.settings(tag) as never,
    });
    return (await rs.json()) as T[];
  }

  /** Rows as objects (JSONEachRow). */
  async objects<T extends Record<string, unknown>>(tenant: Tenant, tag: string, sql: string, params: QueryParams = {}): Promise<T[]> {
    ClickHouseStore.assertTenantSafe(sql);
    const rs = await this.client.query({
      query: sql,
      format: 'JSONEachRow',
      query_params: { ...params, team_id: tenant.teamId },
      clickhouse_settings: this.settings(tag) as never,
    });
    return (await rs.json()) as T[];
  }

  /** A tenant-scoped statement without a result (e.g. lightweight DELETE). */
  async tenantCommand(tenant: Tenant, tag: string, sql: string, params: QueryParams = {}): Promise<void> {
    ClickHouseStore.assertTenantSafe(sql);
    await this.client.command({
      query: sql,
      query_params: { ...params, team_id: tenant.teamId },
      clickhouse_settings: this.settings(tag) as never,
    });
  }

  /** Schema statements and bookkeeping outside any tenant (migrations). */
  async adminCommand(sql: string, params: QueryParams = {}): Promise<void> {
    await this.client.command({ query: sql, query_params: params });
  }

  async adminRows<T extends unknown[]>(sql: string, params: QueryParams = {}): Promise<T[]> {
    ClickHouseStore.assertTenantSafe(sql);
    const rs = await this.client.query({ query: sql, format: 'JSONCompactEachRow', query_params: params });
    return (await rs.json()) as T[];
  }

  async ping(): Promise<void> {
    const r = await this.client.ping();
    if (!r.success) throw r.error;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/**
 * The one insert path for metric points: narrow TSV rows (ingest_key, metric_name, step, host,
 * ts_ms, value_bits, logged_us) into `metrics_ingest`; see ddl.ts for how the key becomes the ids.
 * chDB takes the bytes zero-copy (rawInsert); a ClickHouse server gets the same bytes over HTTP.
 */
export async function insertMetricRows(ch: ClickHouseStore, tsv: Buffer): Promise<void> {
  // On a cluster, acknowledge only once the rows are on the shards.
  const settings = { distributed_foreground_insert: 1 };
  if (ch.rawInsert) {
    await ch.rawInsert({ table: 'metrics_ingest', columns: [...INGEST_COLUMNS], values: tsv, format: 'TabSeparated', settings });
    return;
  }
  await ch.client.insert({
    table: 'metrics_ingest',
    columns: [...INGEST_COLUMNS],
    values: Readable.from([tsv], { objectMode: false }),
    format: 'TabSeparated',
    clickhouse_settings: settings as never,
  });
}

/**
 * Maps an experiment's ingest key to its ids. Called with the authenticated tenant before the
 * first rows of that key in this process; re-registering is harmless (ANY join keeps the first,
 * and a key is never reused — it comes from a Postgres sequence).
 */
export async function registerIngestKey(ch: ClickHouseStore, tenant: Tenant, target: { projectId: string; experimentId: string; ingestKey: number }): Promise<void> {
  await ch.client.command({
    query: 'INSERT INTO ingest_keys (ingest_key, team_id, project_id, experiment_id) VALUES ({ingest_key:UInt64}, {team_id:UUID}, {project_id:UUID}, {experiment_id:UUID})',
    query_params: { ingest_key: target.ingestKey, team_id: tenant.teamId, project_id: target.projectId, experiment_id: target.experimentId },
    clickhouse_settings: { distributed_foreground_insert: 1 } as never,
  });
}
