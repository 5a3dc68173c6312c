/**
 * Which table, and whether ON CLUSTER, each kind of ClickHouse statement names — decided here and
 * nowhere else. ddl.ts renders the schema with it; cluster.ts's forMode rewrites tenant mutations
 * with it (the queries modules write single-node text against the plain names, so their SQL is the
 * same in both modes and in the golden files). docs/operations.md "ClickHouse cluster" has the why.
 *
 * On a single node every kind names the table itself. On a cluster (CLICKHOUSE_CLUSTER) a table is
 * `<name>_local` on every host (a Replicated engine per shard) under a Distributed table of the
 * plain name, and:
 * - `read`, `insert`: the plain name, unqualified (the Distributed table routes by cityHash64(team_id));
 * - `ddl` (CREATE/DROP/ALTER of a table's own schema or TTL): `<db>.<name>_local ON CLUSTER`;
 * - `view` (a materialized view's FROM and TO): `<db>.<name>_local` — a view over a Distributed
 *   table fires only for inserts through this node; over the local table it sees its shard's rows;
 * - `mutation` (lightweight DELETE, ALTER … UPDATE/DELETE, OPTIMIZE, MODIFY TTL on stored rows): the
 *   local table ON CLUSTER, as `ddl` — a Distributed table takes no mutation, and the replicated
 *   engines pass it on to their other replicas. On a single node it keeps the name as written;
 * - `distributed` (the Distributed table itself, and the column changes it must mirror):
 *   `<db>.<name> ON CLUSTER`; none on a single node.
 * Identifiers only (validated config and our own table names); values never pass through here.
 */
export interface Placement {
  database: string;
  cluster?: string;
}

export type StatementKind = 'read' | 'insert' | 'ddl' | 'view' | 'mutation' | 'distributed';

export function qualified(o: Placement, table: string): string {
  return `${o.database}.${table}`;
}

export function onCluster(o: Placement): string {
  return o.cluster ? ` ON CLUSTER ${o.cluster}` : '';
}

/** The table that holds the rows: per shard on a cluster. */
export function localTable(o: Placement, table: string): string {
  return o.cluster ? `${table}_local` : table;
}

/** The table reference a statement of `kind` on `table` uses; undefined: no such statement in this mode. */
export function target(o: Placement, kind: StatementKind, table: string): string | undefined {
  switch (kind) {
    case 'read':
    case 'insert':
      return table;
    case 'ddl':
      return `${qualified(o, localTable(o, table))}${onCluster(o)}`;
    case 'view':
      return qualified(o, localTable(o, table));
    case 'mutation':
      return o.cluster ? `${qualified(o, localTable(o, table))}${onCluster(o)}` : table;
    case 'distributed':
      return o.cluster ? `${qualified(o, table)}${onCluster(o)}` : undefined;
  }
}

/** Where a statement that changes stored rows in place goes (see `mutation` above). */
export function mutationTarget(o: Placement, table: string): string {
  return target(o, 'mutation', table)!;
}

/**
 * On a cluster, the statement that puts the Distributed table of the plain name over `local`
 * (`shardKey`: cityHash64(team_id) for tenant tables); nothing on a single node.
 */
export function distributedOver(o: Placement, table: string, shardKey: string): string[] {
  if (!o.cluster) return [];
  const local = localTable(o, table);
  return [`CREATE TABLE IF NOT EXISTS ${target(o, 'distributed', table)} AS ${qualified(o, local)}\nENGINE = Distributed(${o.cluster}, ${o.database}, ${local}, ${shardKey})`];
}

/** A column change: the local table and, on a cluster, its Distributed table (which must list the same columns). */
export function schemaTargets(o: Placement, table: string): string[] {
  const d = target(o, 'distributed', table);
  return [target(o, 'ddl', table)!, ...(d ? [d] : [])];
}
