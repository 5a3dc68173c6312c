import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import type { ClickHouseConnection } from './client.ts';
import { QueryLimitError } from '../errors.ts';
import { CLUSTER_READ_SETTINGS, CLUSTER_WRITE_SETTINGS, forMode, type ClusterMode } from './cluster.ts';
import { AGGREGATES, TENANT_TABLES } from './ddl.ts';

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
const AGGREGATE_TABLE_RE = new RegExp(`\\b(?:${AGGREGATES.map((a) => a.target).join('|')})\\b`);

/** What the metric writer's aggregate backlog (aggregate-backlog.ts) tells a statement to wait for. */
export interface AggregateFreshness {
  settled(teamId: string, withRepairs: boolean): Promise<void> | undefined;
}

/** ClickHouse error codes of a query stopped by its limits (TIMEOUT_EXCEEDED, TOO_SLOW, MEMORY_LIMIT_EXCEEDED, …). */
const LIMIT_CODES = new Set(['159', '160', '241', '158', '307', '396']);

/** A query stopped by its limits becomes a QueryLimitError (503 + Retry-After), not a 500. */
function limitError(err: unknown, limits: QueryLimits): never {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && LIMIT_CODES.has(code)) {
    const which = code === '241' ? `memory limit (${limits.maxMemoryBytes} bytes)` : `time limit (${limits.maxExecutionSeconds} s)`;
    throw new QueryLimitError(`Query stopped by the server's per-query ${which}: narrow it (a step range, max_points, fewer runs or metrics) or retry later`, 5);
  }
  throw err;
}

/**
 * chDB applies `clickhouse_settings` as `SET` on its one session, so a read's limits would stay in
 * force for every later statement — the writer's inserts and the readiness ping included. Statements
 * that are not tenant reads reset them there (a ClickHouse server scopes settings to the request).
 */
const UNBOUNDED = { max_execution_time: 0, max_memory_usage: '0' } as const;
const unbounded = (kind: 'chdb' | 'http') => (kind === 'chdb' ? (UNBOUNDED as never) : undefined);

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
  /** Set on a ClickHouse cluster (CLICKHOUSE_CLUSTER): what changes then is in cluster.ts. */
  readonly cluster: ClusterMode | undefined;
  readonly client: ClickHouseClient;
  readonly kind: 'chdb' | 'http';
  /** chDB only: where Native inserts are staged for file() (see insertNative). */
  readonly ingestDir: string | undefined;
  private readonly serverClient: (() => ClickHouseClient) | undefined;
  /**
   * The metric writers' aggregate backlogs (a writer's aggregates go in a moment after the points
   * they cover are acknowledged): a read of an aggregate table first waits for the team's queued ones
   * (and their repairs), a tenant statement (a delete, a rebuild) for the queued ones —
   * read-your-writes for every query through this wrapper. Nothing to wait for is the usual case,
   * and costs a lookup.
   */
  private readonly backlogs = new Set<AggregateFreshness>();

  constructor(
    conn: ClickHouseConnection,
    private readonly limits: QueryLimits,
  ) {
    this.cluster = conn.cluster;
    this.client = conn.client;
    this.kind = conn.kind;
    this.ingestDir = conn.ingestDir;
    this.serverClient = conn.serverClient;
  }

  /** Registers a writer's backlog (see `backlogs`); returns its removal. */
  watchAggregates(backlog: AggregateFreshness): () => void {
    this.backlogs.add(backlog);
    return () => void this.backlogs.delete(backlog);
  }

  /** What a statement of the team waits for first: its queued aggregates (and, `withRepairs`, their repairs). */
  private async settled(tenant: Tenant, withRepairs: boolean): Promise<void> {
    for (const b of this.backlogs) {
      const wait = b.settled(tenant.teamId, withRepairs);
      if (wait) await wait;
    }
  }

  /** A read waits for the team's aggregates when it reads any (see `backlogs`). */
  private async fresh(tenant: Tenant, sql: string): Promise<void> {
    if (this.backlogs.size && AGGREGATE_TABLE_RE.test(sql)) await this.settled(tenant, true);
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
      ...(this.cluster ? CLUSTER_READ_SETTINGS : {}),
    } as const;
  }

  /** Rows as arrays (JSONCompactEachRow): the cheapest shape for large results. */
  async rows<T extends unknown[] = unknown[]>(tenant: Tenant, tag: string, sql: string, params: QueryParams = {}): Promise<T[]> {
    ClickHouseStore.assertTenantSafe(sql);
    await this.fresh(tenant, sql);
    try {
      const rs = await this.client.query({
        query: sql,
        format: 'JSONCompactEachRow',
        query_params: { ...params, team_id: tenant.teamId },
        clickhouse_settings: this.settings(tag) as never,
      });
      return (await rs.json()) as T[];
    } catch (err) {
      return limitError(err, this.limits);
    }
  }

  /**
   * Rows as RowBinary bytes (decode with row-binary.ts): numbers and arrays of numbers arrive as their
   * little-endian bytes, nothing to escape, write or parse as text — for results of many numbers,
   * whose JSON cost ClickHouse and Node more than the query. Same SQL and checks as rows(); on a
   * server the result is held until the query ends, so an error cannot arrive as trailing bytes.
   */
  async binary(tenant: Tenant, tag: string, sql: string, params: QueryParams = {}): Promise<Buffer> {
    ClickHouseStore.assertTenantSafe(sql);
    await this.fresh(tenant, sql);
    try {
      const rs = await this.client.exec({
        query: `${sql}\nFORMAT RowBinary`,
        query_params: { ...params, team_id: tenant.teamId },
        clickhouse_settings: { ...this.settings(tag), ...(this.kind === 'http' ? { wait_end_of_query: 1 } : {}) } as never,
      });
      const chunks: Buffer[] = [];
      for await (const c of rs.stream) chunks.push(c as Buffer);
      return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    } catch (err) {
      return limitError(err, this.limits);
    }
  }

  /** Rows as objects (JSONEachRow). */
  async objects<T extends Record<string, unknown>>(tenant: Tenant, tag: string, sql: string, params: QueryParams = {}): Promise<T[]> {
    ClickHouseStore.assertTenantSafe(sql);
    await this.fresh(tenant, sql);
    try {
      const rs = await this.client.query({
        query: sql,
        format: 'JSONEachRow',
        query_params: { ...params, team_id: tenant.teamId },
        clickhouse_settings: this.settings(tag) as never,
      });
      return (await rs.json()) as T[];
    } catch (err) {
      return limitError(err, this.limits);
    }
  }

  /**
   * A tenant-scoped statement without a result (lightweight DELETE, INSERT … SELECT). On a cluster a
   * mutation goes to the local tables ON CLUSTER (forMode) and an insert waits for its quorum.
   */
  async tenantCommand(tenant: Tenant, tag: string, sql: string, params: QueryParams = {}): Promise<void> {
    ClickHouseStore.assertTenantSafe(sql);
    if (this.backlogs.size) await this.settled(tenant, false);
    const settings = { ...this.settings(tag), ...(this.cluster ? CLUSTER_WRITE_SETTINGS : {}) };
    await this.client
      .command({ query: forMode(sql, this.cluster), query_params: { ...params, team_id: tenant.teamId }, clickhouse_settings: settings as never })
      .catch((err: unknown) => limitError(err, this.limits));
  }

  /** Schema statements and bookkeeping outside any tenant (migrations). */
  async adminCommand(sql: string, params: QueryParams = {}): Promise<void> {
    await this.client.command({ query: sql, query_params: params, clickhouse_settings: unbounded(this.kind) });
  }

  /** A statement outside any database (CREATE DATABASE): on a server, sent without the `database` parameter. */
  async serverCommand(sql: string): Promise<void> {
    if (!this.serverClient) return this.adminCommand(sql);
    const c = this.serverClient();
    try {
      await c.command({ query: sql });
    } finally {
      await c.close();
    }
  }

  async adminRows<T extends unknown[]>(sql: string, params: QueryParams = {}): Promise<T[]> {
    ClickHouseStore.assertTenantSafe(sql);
    const rs = await this.client.query({ query: sql, format: 'JSONCompactEachRow', query_params: params, clickhouse_settings: unbounded(this.kind) });
    return (await rs.json()) as T[];
  }

  async ping(): Promise<void> {
    if (this.kind === 'chdb') {
      await this.client.command({ query: 'SELECT 1', clickhouse_settings: unbounded(this.kind) });
      return;
    }
    const r = await this.client.ping();
    if (!r.success) throw r.error;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** Tables the writer inserts Native blocks into (identifiers, never from input). */
/**
 * Every metric insert: no merge pass over the inserted block (`optimize_on_insert`, on by default,
 * runs ReplacingMergeTree's and AggregatingMergeTree's merge over each block before it is written).
 * Every read already collapses versions itself (FINAL, GROUP BY), as it must across inserts, so the
 * pass bought nothing; on the `metrics` part of a 100k-point batch it was about a third of the
 * insert's CPU (chDB, merges stopped, 16 inserts × 3 pairs alternated: 70–73 → 32–50 ms).
 */
const INSERT_SETTINGS = { optimize_on_insert: 0 } as const;
export type InsertTable = 'metrics' | 'metrics_summary_input' | 'metrics_aggregated_input' | 'metrics_rollup_input' | 'metrics_rollup_fine_input';

let tmpSeq = 0;

/** Below this many bytes the pieces of a flush are joined: one write (one chunk on the wire) instead of dozens. */
const JOIN_BELOW = 1 << 20;

function coalesced(pieces: Buffer[]): Buffer[] {
  if (pieces.length === 1) return pieces;
  let total = 0;
  for (const p of pieces) total += p.length;
  return total < JOIN_BELOW ? [Buffer.concat(pieces, total)] : pieces;
}

/**
 * Staging files between inserts, per staging directory. Each insert used to create and delete its
 * own file: on an ext4 without a journal (this project's 2-core machine) every new inode costs a scan
 * past the inodes deleted in the last minute (kernel `recently_deleted`), the bulk of an insert's
 * CPU there, and each delete lengthens the next scan. Overwriting a file keeps its inode.
 */
const spareStaging = new Map<string, string[]>();

/**
 * The one insert path for metric rows: Native blocks (encode.ts, partials.ts), concatenated. A
 * ClickHouse server gets them as the body of `INSERT … FORMAT Native`; chDB's in-process insert
 * only takes text formats (whose parsing was a third of the insert's cost), so there the bytes go
 * through a file in the chDB data dir that `file()` reads — same rows, same SQL shape.
 */
export async function insertNative(ch: ClickHouseStore, table: InsertTable, pieces: Buffer[]): Promise<void> {
  if (!pieces.length) return;
  const blocks = coalesced(pieces);
  if (ch.ingestDir) {
    let spare = spareStaging.get(ch.ingestDir);
    if (!spare) spareStaging.set(ch.ingestDir, (spare = []));
    const file = spare.pop() ?? path.join(ch.ingestDir, `${process.pid}-${++tmpSeq}.native`);
    await fs.promises.writeFile(file, blocks); // piece by piece: no concatenated copy; truncates a spare
    try {
      await ch.client.command({ query: `INSERT INTO ${table} SELECT * FROM file({file:String}, 'Native')`, query_params: { file }, clickhouse_settings: { ...UNBOUNDED, ...INSERT_SETTINGS } as never });
    } finally {
      spare.push(file); // one file per insert in flight at most; the next write replaces its bytes
    }
    return;
  }
  const r = await ch.client.exec({
    query: `INSERT INTO ${table} FORMAT Native`,
    values: Readable.from(blocks, { objectMode: false }),
    // On a cluster, acknowledge only once the rows are on a quorum of their shard's replicas (cluster.ts).
    clickhouse_settings: { ...(ch.cluster ? CLUSTER_WRITE_SETTINGS : { distributed_foreground_insert: 1 }), ...INSERT_SETTINGS } as never,
  });
  r.stream.resume();
  await new Promise((resolve, reject) => r.stream.on('end', resolve).on('error', reject));
}
