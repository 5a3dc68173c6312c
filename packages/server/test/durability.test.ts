/**
 * Durability of the embedded stores at acknowledgement (README "Durability"): PGlite's commits
 * reach the disk (its own build never fsyncs: db.ts), and chDB's MergeTree parts are fsynced
 * before an insert returns, unless ASSAY_FSYNC=off.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openPostgres, type PostgresStore } from '../src/stores/postgres/db.ts';
import { setEmbeddedTableSettings } from '../src/stores/clickhouse/migrate.ts';
import { seedRun, useTestServer } from './helpers.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Counts fs.fsyncSync calls — the only way PGlite's files reach the disk from WASM. */
function countFsyncs() {
  const orig = fs.fsyncSync;
  const counter = { n: 0, restore: () => void (fs.fsyncSync = orig) };
  fs.fsyncSync = (fd: number) => {
    counter.n++;
    orig(fd);
  };
  return counter;
}

describe('PGlite durability', () => {
  let pg: PostgresStore | undefined;
  afterEach(async () => {
    await pg?.close();
    pg = undefined;
  });

  async function open(fsync: boolean) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-durable-'));
    dirs.push(dir);
    pg = await openPostgres({ kind: 'pglite', path: dir, fsync });
    const client = (pg.db as unknown as { $client: { query(sql: string, p?: unknown[]): Promise<{ rows: Record<string, string>[] }> } }).$client;
    await client.query('create table t (id serial primary key, v text)');
    return client;
  }

  it('fsync on: PostgreSQL runs with fsync and every commit fsyncs its WAL once', async () => {
    const client = await open(true);
    const settings = await client.query(`select name, setting from pg_settings where name in ('fsync', 'synchronous_commit', 'wal_sync_method') order by name`);
    expect(settings.rows).toEqual([
      { name: 'fsync', setting: 'on' },
      { name: 'synchronous_commit', setting: 'on' },
      { name: 'wal_sync_method', setting: 'fsync' },
    ]);
    const c = countFsyncs();
    try {
      for (let i = 0; i < 10; i++) await client.query('insert into t (v) values ($1)', [`row ${i}`]);
    } finally {
      c.restore();
    }
    expect(c.n).toBe(10);
  });

  it('fsync off (ASSAY_FSYNC=off): no fsync at all, as PGlite ships', async () => {
    const client = await open(false);
    expect((await client.query(`select setting from pg_settings where name = 'fsync'`)).rows).toEqual([{ setting: 'off' }]);
    const c = countFsyncs();
    try {
      for (let i = 0; i < 10; i++) await client.query('insert into t (v) values ($1)', [`row ${i}`]);
    } finally {
      c.restore();
    }
    expect(c.n).toBe(0);
  });
});

describe('chDB durability', () => {
  const t = useTestServer('durable');

  it('every MergeTree table fsyncs its parts and part directory at insert, and merges up to twice as many parts at once', async () => {
    const { ctx, config } = t.srv;
    if (ctx.ch.kind !== 'chdb') return; // a ClickHouse server keeps its operator's settings
    const rows = await ctx.ch.adminRows<[string, string]>(
      `SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' ORDER BY name`,
      { db: config.CLICKHOUSE_DATABASE },
    );
    expect(rows.map(([name]) => name)).toContain('metrics');
    for (const [name, engine] of rows) {
      expect(engine, name).toContain('fsync_after_insert = 1');
      expect(engine, name).toContain('fsync_part_directory = 1');
      expect(engine, name).toContain("auto_statistics_types = ''");
      expect(engine, name).toContain('write_marks_for_substreams_in_compact_parts = 0');
      expect(engine, name).toContain('merge_selector_base = 10');
    }
  });

  it('a table from an older start (fsync set, parts still with statistics and substream marks) gets the part settings, and its new parts leave those files out', async () => {
    const { ctx, config } = t.srv;
    if (ctx.ch.kind !== 'chdb') return;
    const db = config.CLICKHOUSE_DATABASE;
    await ctx.ch.adminCommand(`ALTER TABLE ${db}.metrics_rollup_fine RESET SETTING auto_statistics_types, write_marks_for_substreams_in_compact_parts, merge_selector_base`);
    const since = Math.floor(Date.now() / 1000);
    await setEmbeddedTableSettings(ctx.ch, db, true);
    const [[engine]] = await ctx.ch.adminRows<[string]>(`SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = 'metrics_rollup_fine'`, { db });
    expect(engine).toContain("auto_statistics_types = ''");
    expect(engine).toContain('merge_selector_base = 10');
    expect(engine).toContain('fsync_after_insert = 1');
    const { projectId, experimentId } = await seedRun(t.team.api, 'p-parts', 'e');
    expect((await t.team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics: [{ metric_name: 'x', step: 1, metric_value: 1 }] })).status).toBe(200);
    await ctx.writer.drainAggregates(); // the aggregates' parts follow the acknowledgement
    const paths = await ctx.ch.adminRows<[string]>(`SELECT path FROM system.parts WHERE database = {db:String} AND table IN ('metrics', 'metrics_summary', 'metrics_rollup_fine') AND active AND modification_time >= toDateTime({since:UInt32})`, { db, since });
    expect(paths.length).toBeGreaterThanOrEqual(3);
    for (const [p] of paths) expect(fs.readdirSync(p).filter((f) => f === 'statistics.packed' || f === 'columns_substreams.txt'), p).toEqual([]);
  });
});
