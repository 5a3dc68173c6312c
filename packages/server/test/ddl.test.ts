import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { connectClickHouse } from '../src/stores/clickhouse/client.ts';
import { CLUSTER_READ_SETTINGS, CLUSTER_WRITE_SETTINGS, forMode, type ClusterMode } from '../src/stores/clickhouse/cluster.ts';
import { renderMigrations, setupStatements } from '../src/stores/clickhouse/ddl.ts';
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
  [...setupStatements(o), ...renderMigrations(o).flatMap((m) => [`-- migration ${m.version}: ${m.name}`, ...m.statements])].join(';\n\n') + ';\n';

const CLUSTER: ClusterMode = { name: 'metrics_cluster', database: 'assay' };
const queryFile = (queries: { name: string; sql: string }[]) => queries.map((q) => `-- ${q.name}\n${q.sql}`).join(';\n\n') + ';\n';

describe('ClickHouse DDL and queries (golden)', () => {
  it('single node', () => golden('clickhouse-single.sql', render({ database: 'default' })));
  it('cluster', () => golden('clickhouse-cluster.sql', render({ database: 'assay', cluster: 'metrics_cluster' })));
  it('every query the server sends for a tenant', async () => {
    const queries = await allQueries();
    expect(queries.length).toBeGreaterThan(10);
    golden('metric-queries.sql', queryFile(queries));
  });
  it('every query the server sends for a tenant, as it runs on a cluster', async () => {
    golden('metric-queries-cluster.sql', queryFile((await allQueries()).map((q) => ({ name: q.name, sql: forMode(q.sql, CLUSTER) }))));
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

  it('cluster DDL: every statement ON CLUSTER, views local to local, replicated paths per table, a Distributed table per local table', () => {
    const o = { database: 'assay', cluster: 'c1' };
    const stmts = [...setupStatements(o), ...renderMigrations(o).flatMap((m) => m.statements)];
    // the one exception: migration 7's backfill, an INSERT … SELECT through the Distributed tables (it reaches every shard that way)
    const backfill = /^INSERT INTO assay\.metrics_rollup_fine \([^)]*\)\nSELECT [\s\S]*\nFROM assay\.metrics\n/;
    expect(stmts.filter((x) => !/^(CREATE|ALTER|DROP) (DATABASE|TABLE|VIEW|MATERIALIZED VIEW) (IF (NOT )?EXISTS )?assay(\.\w+)? ON CLUSTER c1\b/.test(x) && !backfill.test(x))).toEqual([]);
    expect(stmts.filter((x) => backfill.test(x))).toHaveLength(1);
    for (const mv of stmts.filter((x) => x.startsWith('CREATE MATERIALIZED VIEW'))) {
      // a view on a Distributed table fires only for inserts through this node; on the local table it sees every row of its shard
      expect(mv, mv).toMatch(/ TO assay\.\w+_local AS\n[\s\S]*\nFROM assay\.\w+_local(\n|$)/);
    }
    const replicated = stmts.map((x) => /^CREATE TABLE IF NOT EXISTS assay\.(\w+) ON CLUSTER c1\n[\s\S]*ENGINE = Replicated\w*MergeTree\('([^']+)', '([^']+)'/.exec(x)).filter((m) => m !== null);
    expect(replicated.length).toBe(8); // seven tenant tables and the bookkeeping table
    for (const [, table, zkPath, replica] of replicated) {
      if (table === 'assay_schema_migrations') expect([zkPath, replica]).toEqual(['/clickhouse/tables/assay/assay_schema_migrations', '{shard}-{replica}']);
      else expect([zkPath, replica]).toEqual([`/clickhouse/tables/{shard}/assay/${table}`, '{replica}']);
    }
    const locals = [...stmts.join('\n').matchAll(/CREATE TABLE IF NOT EXISTS assay\.(\w+)_local ON CLUSTER/g)].map((m) => m[1]);
    const distributed = [...stmts.join('\n').matchAll(/CREATE TABLE IF NOT EXISTS assay\.(\w+) ON CLUSTER c1 AS assay\.(\w+)_local\nENGINE = Distributed\(c1, assay, \w+_local, (.+)\)/g)];
    expect(distributed.map((m) => m[1]).sort()).toEqual([...locals].sort());
    for (const [, name, , key] of distributed) expect([name, key]).toEqual([name, /^(ingest_keys|metrics_ingest)$/.test(name) ? 'ingest_key' : 'cityHash64(team_id)']);
    expect(setupStatements(o)[0]).toBe('CREATE DATABASE IF NOT EXISTS assay ON CLUSTER c1');
    expect(setupStatements({ database: 'default' }).some((x) => x.includes('DATABASE'))).toBe(false);
  });

  it('on a cluster only mutations change: they go to the local table ON CLUSTER', async () => {
    const queries = await allQueries();
    const changed = queries.filter((q) => forMode(q.sql, CLUSTER) !== q.sql);
    expect(changed.length).toBe(queries.filter((q) => /^(DELETE FROM|ALTER TABLE) /.test(q.sql)).length);
    for (const q of changed) {
      expect(forMode(q.sql, CLUSTER), q.name).toMatch(
        /^(DELETE FROM|ALTER TABLE) assay\.(metrics|metrics_summary|metrics_hourly|metrics_aggregated|metrics_rollup|metrics_rollup_fine)_local ON CLUSTER metrics_cluster (UPDATE [^{]+\{\w+:\w+\} )?WHERE team_id = \{team_id:UUID\}/,
      );
    }
    expect(forMode('ALTER TABLE metrics MODIFY TTL toDateTime(logged_at) + INTERVAL 1 YEAR', CLUSTER)).toBe('ALTER TABLE assay.metrics_local ON CLUSTER metrics_cluster MODIFY TTL toDateTime(logged_at) + INTERVAL 1 YEAR');
    expect(forMode('OPTIMIZE TABLE default.metrics_summary FINAL', CLUSTER)).toBe('OPTIMIZE TABLE assay.metrics_summary_local ON CLUSTER metrics_cluster FINAL');
    expect(forMode('DELETE FROM metrics WHERE team_id = {team_id:UUID}', undefined)).toBe('DELETE FROM metrics WHERE team_id = {team_id:UUID}');
    expect(forMode('INSERT INTO metrics_summary SELECT 1 FROM metrics', CLUSTER)).toBe('INSERT INTO metrics_summary SELECT 1 FROM metrics');
  });

  it('CLICKHOUSE_CLUSTER needs a ClickHouse server: embedded chDB refuses it before opening anything', async () => {
    const dir = path.join(os.tmpdir(), `assay-cluster-refusal-${process.pid}`);
    await expect(connectClickHouse(loadConfig({ ASSAY_DATA_DIR: dir, CLICKHOUSE_CLUSTER: 'c1' }, {}))).rejects.toThrow(
      'invalid configuration: CLICKHOUSE_CLUSTER: needs a ClickHouse server (CLICKHOUSE_URL or CLICKHOUSE_HOST); embedded chDB is one node without Keeper',
    );
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('ClickHouse itself parses every statement of both renderings (chDB formatQuery)', async () => {
    type Session = { queryBind(q: string, args: object, format?: string): string; close(): void };
    const { Session } = createRequire(import.meta.url)('chdb') as { Session: new (path: string) => Session };
    // its own directory, removed after: the stateless query() leaves a temp dir behind
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-parse-'));
    const session = new Session(dir);
    onTestFinished(() => {
      session.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const queryBind = session.queryBind.bind(session);
    const parse = (sql: string) => queryBind('SELECT formatQuery({sql:String})', { sql }, 'TSVRaw');
    expect(() => parse('CREATE TABLE assay.t ON CLUSTER c1 (a UInt8')).toThrow(/Syntax error/); // the check can fail
    const queries = await allQueries();
    const statements = [
      ...[{ database: 'default' }, { database: 'assay', cluster: 'metrics_cluster' }].flatMap((o) => [...setupStatements(o), ...renderMigrations(o).flatMap((m) => m.statements)]),
      ...queries.map((q) => q.sql),
      ...queries.map((q) => forMode(q.sql, CLUSTER)),
    ];
    const failed: string[] = [];
    for (const sql of statements) {
      try {
        expect(parse(sql).length).toBeGreaterThan(10);
      } catch (e) {
        failed.push(`${(e as Error).message.slice(0, 300)}\n${sql.slice(0, 200)}`);
      }
    }
    expect(failed).toEqual([]);
    expect(statements.length).toBeGreaterThan(100); // both schemas and both query sets, not an empty list

    // the cluster settings the wrapper sends are real ClickHouse settings with valid values
    const settings: Record<string, string | number> = { ...CLUSTER_READ_SETTINGS, ...CLUSTER_WRITE_SETTINGS };
    const clause = Object.entries(settings).map(([k, v]) => `${k} = ${typeof v === 'string' ? `'${v}'` : v}`).join(', ');
    const shown = queryBind(`SELECT name, value FROM system.settings WHERE has({names:Array(String)}, name) ORDER BY name SETTINGS ${clause}`, { names: Object.keys(settings) }, 'JSONCompactEachRow');
    expect(shown.trim().split('\n').map((l) => JSON.parse(l))).toEqual(Object.entries(settings).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, String(v)]));
  }, 60_000);

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
