import { describe, expect, it } from 'vitest';
import { distributedOver, schemaTargets, target, type StatementKind } from '../src/stores/clickhouse/targets.ts';

/** targets.ts: the one table each statement kind names, on a single node and on a cluster. */
describe('ClickHouse statement targets', () => {
  const kinds: StatementKind[] = ['read', 'insert', 'ddl', 'view', 'mutation', 'distributed'];
  it('single node: the table itself (DDL and views qualified), no ON CLUSTER, no Distributed table', () => {
    const o = { database: 'default' };
    expect(kinds.map((k) => target(o, k, 'metrics'))).toEqual(['metrics', 'metrics', 'default.metrics', 'default.metrics', 'metrics', undefined]);
    expect(distributedOver(o, 'metrics', 'cityHash64(team_id)')).toEqual([]);
    expect(schemaTargets(o, 'metrics')).toEqual(['default.metrics']);
  });
  it('cluster: reads and inserts through the Distributed plain name, schema and mutations on the local table ON CLUSTER, views local', () => {
    const o = { database: 'assay', cluster: 'c1' };
    expect(kinds.map((k) => target(o, k, 'metrics'))).toEqual([
      'metrics',
      'metrics',
      'assay.metrics_local ON CLUSTER c1',
      'assay.metrics_local',
      'assay.metrics_local ON CLUSTER c1',
      'assay.metrics ON CLUSTER c1',
    ]);
    expect(distributedOver(o, 'metrics', 'cityHash64(team_id)')).toEqual([
      'CREATE TABLE IF NOT EXISTS assay.metrics ON CLUSTER c1 AS assay.metrics_local\nENGINE = Distributed(c1, assay, metrics_local, cityHash64(team_id))',
    ]);
    expect(schemaTargets(o, 'metrics')).toEqual(['assay.metrics_local ON CLUSTER c1', 'assay.metrics ON CLUSTER c1']);
  });
});
