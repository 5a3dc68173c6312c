import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { migrationsTableDdl, renderMigrations } from '../src/stores/clickhouse/ddl.ts';
import { ClickHouseStore } from '../src/stores/clickhouse/query.ts';

/**
 * Golden files for generated SQL. A schema or query change shows up as a diff in review;
 * regenerate deliberately with UPDATE_GOLDEN=1 npx vitest run packages/server/test/ddl.test.ts.
 * A missing golden file is a failure, never written silently.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.join(here, 'golden');
const srcDir = path.join(here, '..', 'src');
const queriesDir = path.join(srcDir, 'stores', 'clickhouse', 'queries');

function golden(name: string, text: string) {
  const file = path.join(dir, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, text);
  }
  if (!fs.existsSync(file)) throw new Error(`golden file ${name} is missing; review the SQL and write it with UPDATE_GOLDEN=1`);
  expect(text).toBe(fs.readFileSync(file, 'utf8'));
}

/** Every `SQL_*` export (a statement or a list of them) of every module under stores/clickhouse/queries, by module and name. */
async function allQueries(): Promise<{ name: string; sql: string }[]> {
  const out: { name: string; sql: string }[] = [];
  for (const file of fs.readdirSync(queriesDir).filter((f) => f.endsWith('.ts')).sort()) {
    const mod: Record<string, unknown> = await import(path.join(queriesDir, file));
    for (const [name, v] of Object.entries(mod).sort(([a], [b]) => a.localeCompare(b))) {
      if (!name.startsWith('SQL_')) continue;
      const list = typeof v === 'string' ? [v] : (v as string[]);
      list.forEach((sql, i) => out.push({ name: `${file}:${name}${list.length > 1 ? `[${i}]` : ''}`, sql }));
    }
  }
  return out;
}

const sourceFiles = (d: string): string[] =>
  fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(d, e.name)) : e.name.endsWith('.ts') ? [path.join(d, e.name)] : []));

const render = (o: Parameters<typeof renderMigrations>[0]) =>
  [migrationsTableDdl(o), ...renderMigrations(o).flatMap((m) => [`-- migration ${m.version}: ${m.name}`, ...m.statements])].join(';\n\n') + ';\n';

describe('ClickHouse DDL and queries (golden)', () => {
  it('single node', () => golden('clickhouse-single.sql', render({ database: 'default' })));
  it('cluster', () => golden('clickhouse-cluster.sql', render({ database: 'assay', cluster: 'metrics_cluster' })));
  it('every query the server sends for a tenant', async () => {
    const queries = await allQueries();
    expect(queries.length).toBeGreaterThan(10);
    golden('metric-queries.sql', queries.map((q) => `-- ${q.name}\n${q.sql}`).join(';\n\n') + ';\n');
  });

  it('tenant reads and commands take their SQL from a queries module (so the golden file sees every one)', () => {
    const inline: string[] = [];
    let calls = 0;
    for (const file of sourceFiles(srcDir)) {
      const text = fs.readFileSync(file, 'utf8');
      // the SQL argument is the third of rows/objects/tenantCommand(tenant, tag, sql, …)
      for (const m of text.matchAll(/\.(?:rows|objects|tenantCommand)(?:<[^>]*(?:<[^>]*>[^>]*)*>)?\(\s*[\w.]+,\s*'[^']*',\s*([^,)]+)/g)) {
        calls++;
        if (!/^(?:q\.)?SQL_\w+$|^sql$/.test(m[1].trim())) inline.push(`${path.relative(srcDir, file)}: ${m[1].trim().slice(0, 60)}`);
      }
    }
    expect(calls).toBeGreaterThan(0); // the pattern still finds the call sites
    expect(inline).toEqual([]);
  });

  it('cluster DDL shards by team and replicates every table', () => {
    const sql = render({ database: 'assay', cluster: 'c1' });
    expect(sql).toContain('ENGINE = Distributed(c1, assay, metrics_local, cityHash64(team_id))');
    expect(sql).not.toMatch(/ENGINE = (Replacing|Aggregating)?MergeTree\(/);
    expect(sql.match(/ON CLUSTER c1/g)!.length).toBeGreaterThan(10);
  });

  it('every tenant-table query carries the team predicate', async () => {
    for (const { name, sql } of await allQueries()) {
      expect(() => ClickHouseStore.assertTenantSafe(sql), name).not.toThrow();
      expect(sql.indexOf('team_id = {team_id:UUID}'), name).toBeGreaterThan(0);
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
