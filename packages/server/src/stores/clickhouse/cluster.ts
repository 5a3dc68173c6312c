/**
 * What changes when ClickHouse is a cluster (CLICKHOUSE_CLUSTER), in one place for the query
 * wrapper, the writer and the golden tests. docs/operations.md "ClickHouse cluster" has the why.
 *
 * Reads and inserts go through the Distributed tables, which carry the single-node names
 * (`metrics`, `metrics_summary`, …), so the SQL in queries/*.ts is the same text in both modes.
 * The invariant that makes that correct: every table is sharded by cityHash64(team_id), so all of a
 * team's rows — every version of a re-logged step, every partial of an aggregate — are on one
 * shard. FINAL (ReplacingMergeTree) collapses versions per shard and is therefore exact; GROUP BY
 * and -Merge over AggregatingMergeTree states are merged across shards by the initiator anyway.
 *
 * Only statements that change stored rows in place differ: a Distributed table takes no
 * mutation, so those are rewritten to the table targets.ts names for a mutation (the local table
 * ON CLUSTER). Which table each kind of statement names is targets.ts's alone; the schema
 * (ddl.ts) is rendered with it too.
 */
import { TENANT_TABLES } from './ddl.ts';
import { mutationTarget } from './targets.ts';

export interface ClusterMode {
  /** The cluster name from remote_servers (a validated plain identifier). */
  name: string;
  /** CLICKHOUSE_DATABASE (a validated plain identifier). */
  database: string;
}

const MUTATION_RE = new RegExp(`^(\\s*(?:DELETE\\s+FROM|ALTER\\s+TABLE|OPTIMIZE\\s+TABLE))\\s+(?:\\w+\\.)?(${TENANT_TABLES.join('|')})\\b`, 'i');

/** The statement as it runs in this mode: unchanged on a single node, a mutation aimed at the local tables ON CLUSTER on a cluster. */
export function forMode(sql: string, mode: ClusterMode | undefined): string {
  if (!mode) return sql;
  return sql.replace(
    MUTATION_RE,
    (_m, verb: string, table: (typeof TENANT_TABLES)[number]) => `${verb} ${mutationTarget({ database: mode.database, cluster: mode.name }, table)}`,
  );
}

/**
 * Reads: with the team predicate on the sharding key, the initiator asks only the team's shard
 * (the others hold none of its rows) instead of fanning every read out to all shards. A subquery
 * over a Distributed table inside a query that itself goes to the shards (the IN/JOIN on `ext` in
 * the UI's multi-series read) would be refused by default ("double-distributed"); `local` reads the
 * shard's local table there, which is exact because the team's rows are all on that shard.
 */
export const CLUSTER_READ_SETTINGS = { optimize_skip_unused_shards: 1, distributed_product_mode: 'local' } as const;

/**
 * Writes: an acknowledged insert is on its shard (foreground, not queued on the initiator's disk
 * for a background send) and on a majority of that shard's replicas (`insert_quorum = 'auto'`),
 * so losing one replica's disk loses no acknowledged point. The price: a shard with half of its
 * replicas down refuses inserts (the API answers 503, SDKs retry) instead of accepting them into
 * a single copy.
 */
export const CLUSTER_WRITE_SETTINGS = { distributed_foreground_insert: 1, insert_quorum: 'auto' } as const;
