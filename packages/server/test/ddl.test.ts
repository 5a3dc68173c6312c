import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { migrationsTableDdl, renderMigrations } from '../src/stores/clickhouse/ddl.ts';
import * as q from '../src/stores/clickhouse/queries/metrics.ts';
import { ClickHouseStore } from '../src/stores/clickhouse/query.ts';

/**
 * Golden files for generated SQL. A schema or query change shows up as a diff in review;
 * regenerate deliberately with UPDATE_GOLDEN=1 npx vitest run packages/server/test/ddl.test.ts
 */
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden');

function golden(name: string, text: string) {
  const file = path.join(dir, name);
  if (process.env.UPDATE_GOLDEN === '1' || !fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, text);
  }
  expect(text).toBe(fs.readFileSync(file, 'utf8'));
}

const render = (o: Parameters<typeof renderMigrations>[0]) =>
  [migrationsTableDdl(o), ...renderMigrations(o).flatMap((m) => [`-- migration ${m.version}: ${m.name}`, ...m.statements])].join(';\n\n') + ';\n';

describe('ClickHouse DDL and queries (golden)', () => {
  it('single node', () => golden('clickhouse-single.sql', render({ database: 'default' })));
  it('cluster', () => golden('clickhouse-cluster.sql', render({ database: 'assay', cluster: 'metrics_cluster' })));
  it('metric queries', () =>
    golden(
      'metric-queries.sql',
      [q.SQL_SERIES_POINTS, q.SQL_SERIES_EXTENT, q.SQL_SERIES_EXTENT_SUMMARY, q.SQL_SERIES_BUCKETS, q.SQL_SUMMARY, q.SQL_COMPARE].join(';\n\n') + ';\n',
    ));

  it('cluster DDL shards by team and replicates every table', () => {
    const sql = render({ database: 'assay', cluster: 'c1' });
    expect(sql).toContain('ENGINE = Distributed(c1, assay, metrics_local, cityHash64(team_id))');
    expect(sql).not.toMatch(/ENGINE = (Replacing|Aggregating)?MergeTree\(/);
    expect(sql.match(/ON CLUSTER c1/g)!.length).toBeGreaterThan(10);
  });

  it('every tenant-table query carries the team predicate', () => {
    for (const sql of [q.SQL_SERIES_POINTS, q.SQL_SERIES_EXTENT, q.SQL_SERIES_EXTENT_SUMMARY, q.SQL_SERIES_BUCKETS, q.SQL_SUMMARY, q.SQL_COMPARE]) {
      expect(() => ClickHouseStore.assertTenantSafe(sql)).not.toThrow();
      expect(sql.indexOf('team_id = {team_id:UUID}')).toBeGreaterThan(0);
    }
  });

  it('the wrapper refuses a tenant-table read without the team predicate', () => {
    expect(() => ClickHouseStore.assertTenantSafe('SELECT count() FROM metrics')).toThrow(/team_id/);
    expect(() => ClickHouseStore.assertTenantSafe('SELECT * FROM default.metrics_summary WHERE project_id = {p:UUID}')).toThrow(/metrics_summary/);
    expect(() => ClickHouseStore.assertTenantSafe('SELECT 1 FROM x JOIN evidence_metrics USING (a)')).toThrow();
    expect(() => ClickHouseStore.assertTenantSafe("SELECT * FROM metrics WHERE team_id = '1'")).toThrow();
    expect(() => ClickHouseStore.assertTenantSafe('SELECT * FROM system.parts')).not.toThrow();
  });
});
