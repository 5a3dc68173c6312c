import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { insecureSettings } from '../src/config.ts';
import { postgresMigrations } from '../src/migration-state.ts';
import { diskUse } from '../src/services/doctor.ts';
import { renderMigrations, setupStatements } from '../src/stores/clickhouse/ddl.ts';
import { aggregateBacklog, metricBatches } from '../src/stores/postgres/schema.ts';
import { BIN, ChildServer, childEnv, freePort } from './child-server.ts';
import { seedRun, useTestServer } from './helpers.ts';

/** `assay doctor` and `assay migrate --print-sql`: the route on real stores, the CLI as a user runs it. */
const t = useTestServer('doctor');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-doctor-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Both stores embedded whatever the suite's environment (CI's runs set DATABASE_URL, CLICKHOUSE_URL + CLICKHOUSE_DATABASE, REDIS_URL). */
const EMBEDDED = { DATABASE_URL: '', CLICKHOUSE_URL: '', CLICKHOUSE_DATABASE: 'default', REDIS_URL: '' };
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BIN, ...args], { env: { ...childEnv, ...env }, encoding: 'utf8', timeout: 120_000 });

async function doctor(token = t.srv.adminToken) {
  const r = await t.srv.app.inject({ method: 'GET', url: '/api/v1/admin/doctor', headers: { authorization: `Bearer ${token}` } });
  return { status: r.statusCode, body: r.json() };
}

describe('GET /api/v1/admin/doctor', () => {
  it('needs the local admin token', async () => {
    expect((await doctor('not-the-token')).status).toBe(401);
  });

  it('reports real versions, stores, migrations, pending batches and disk use', async () => {
    const { ctx, config } = t.srv;
    const run = await seedRun(t.team.api);
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000);
    // older than anything a parallel file can leave in a shared DATABASE_URL: ours are the oldest
    await ctx.pg.db.insert(metricBatches).values({ teamId: t.team.teamId, experimentId: run.experimentId, batchId: 'doctor-pending-2m', points: 5, committedAt: null, createdAt: at(7 * 24 * 60 - 2) });
    await ctx.pg.db.insert(metricBatches).values({ teamId: t.team.teamId, experimentId: run.experimentId, batchId: 'doctor-committed', points: 5, committedAt: at(1), createdAt: at(7 * 24 * 60 + 10) });
    // a shared DATABASE_URL outlives this file: leave no fake batch for the next run to find
    onTestFinished(async () => void (await ctx.pg.db.delete(metricBatches).where(eq(metricBatches.experimentId, run.experimentId))));
    // a stopped writer's aggregate mark, its lease run out (and one of a live writer)
    const mark = { teamId: t.team.teamId, projectId: run.projectId, experimentId: run.experimentId, gen: 3 };
    await ctx.pg.db.insert(aggregateBacklog).values([
      { ...mark, writer: 'doctor:stopped', leaseUntil: at(1) },
      { ...mark, writer: 'doctor:live', leaseUntil: at(-5) },
    ]);
    onTestFinished(async () => void (await ctx.pg.db.delete(aggregateBacklog).where(eq(aggregateBacklog.experimentId, run.experimentId))));

    const { status, body: r } = await doctor();
    expect(status).toBe(200);
    expect(r.ok).toBe(true);
    expect(r.checked_by).toEqual({ pid: process.pid, via: 'server' });

    const pgVersion = ((await ctx.pg.db.execute(sql`show server_version`)) as unknown as { rows: { server_version: string }[] }).rows[0].server_version;
    const [[chVersion]] = await ctx.ch.adminRows<[string]>('SELECT version()');
    const chdb = JSON.parse(fs.readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('chdb')), 'package.json'), 'utf8')).version;
    expect(r.versions).toEqual({ assay: '0.1.0', node: process.version, postgres: pgVersion, clickhouse: chVersion, chdb });

    // CI sets REDIS_URL for every suite: then Redis is checked too
    expect(r.stores.map((s: { name: string; reachable: boolean; error: unknown }) => [s.name, s.reachable, s.error])).toEqual([
      ['postgres', true, null],
      ['clickhouse', true, null],
      ...(config.REDIS_URL ? [['redis', true, null]] : []),
    ]);
    for (const s of r.stores) expect(s.latency_ms).toBeGreaterThan(0);
    if (config.REDIS_URL) {
      const redis = new Redis(config.REDIS_URL);
      const info = await redis.info('server').finally(() => redis.disconnect());
      expect(r.stores[2].version).toBe(/redis_version:(\S+)/.exec(info)![1]);
    }

    expect(r.migrations.postgres).toEqual({ applied: postgresMigrations().map((m) => m.tag), pending: [] });
    expect(r.migrations.clickhouse).toEqual({ applied: renderMigrations({ database: 'x' }).map((m) => `${m.version} ${m.name}`), pending: [] });

    // the pending one, not the committed one; its age from created_at
    const ours = r.pending_batches.items.filter((b: { experiment_id: string }) => b.experiment_id === run.experimentId);
    expect(ours.map((b: { team_id: string; batch_id: string }) => [b.team_id, b.batch_id])).toEqual([[t.team.teamId, 'doctor-pending-2m']]);
    expect(Math.abs(ours[0].age_seconds - (7 * 24 * 60 - 2) * 60)).toBeLessThan(60);
    if (config.postgres.kind === 'pglite') {
      // a shared DATABASE_URL has other files' in-flight batches too
      expect(r.pending_batches.count).toBe(1);
      expect(r.pending_batches.oldest_age_seconds).toBe(ours[0].age_seconds);
    }
    expect(r.warnings.filter((w: string) => w.includes('metric batch'))).toEqual([
      `${r.pending_batches.count} metric batch(es) pending, the oldest for ${Math.round(r.pending_batches.oldest_age_seconds / 60)} min: a client retry, the crash sweeper's pass or the next start settles them (services/ingest.ts recoverPendingBatches)`,
    ]);
    if (config.postgres.kind === 'pglite') expect(r.aggregate_marks).toEqual({ count: 2, lease_expired: 1 });
    expect(r.warnings.filter((w: string) => w.includes('owe aggregates'))).toEqual([
      `${r.aggregate_marks.lease_expired} experiment(s) owe aggregates a stopped writer left unwritten: the crash sweeper's pass or the next start rebuilds them from the points (services/aggregate-marks.ts recoverAggregateBacklog)`,
    ]);
    expect(r.warnings.filter((w: string) => !w.includes('metric batch') && !w.includes('owe aggregates'))).toEqual([...config.notices, ...insecureSettings(config)]);

    const st = fs.statfsSync(config.dataDir);
    expect(r.disk.data_dir).toBe(config.dataDir);
    expect(r.disk.total_bytes).toBe(st.blocks * st.bsize);
    expect(Math.abs(r.disk.free_bytes - st.bavail * st.bsize)).toBeLessThan(256 * 1024 * 1024); // other processes write meanwhile
    expect(r.disk.artifacts_bytes).toBe(await diskUse(config.artifactDir));
    if (config.postgres.kind === 'pglite') expect(r.disk.postgres_bytes).toBeGreaterThan(1024 * 1024);
    else expect(r.disk.postgres_bytes).toBeNull();
    if (config.clickhouse.kind === 'chdb') expect(r.disk.clickhouse_bytes).toBeGreaterThan(0);
    else expect(r.disk.clickhouse_bytes).toBeNull();
  });
});

describe('assay doctor (CLI)', () => {
  it('an unreachable store: exit 1, and the report names it with the reason', () => {
    const r = cli(['doctor', '--json', '--data-dir', path.join(tmp, 'none')], { DATABASE_URL: 'postgres://assay:pw@127.0.0.1:1/assay', CLICKHOUSE_URL: 'http://127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.status, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(false);
    expect(report.stores.map((s: { name: string; reachable: boolean }) => [s.name, s.reachable])).toEqual([
      ['postgres', false],
      ['clickhouse', false],
      ['redis', false],
    ]);
    expect(report.stores[0].where).toBe('PostgreSQL postgres://***@127.0.0.1:1/assay');
    expect(report.stores.map((s: { error: string }) => s.error)).toEqual(['connect ECONNREFUSED 127.0.0.1:1', 'connect ECONNREFUSED 127.0.0.1:1', 'connect ECONNREFUSED 127.0.0.1:1']);
    expect(report.pending_batches).toBeNull();
    expect(report.aggregate_marks).toBeNull();
    const human = cli(['doctor', '--data-dir', path.join(tmp, 'none')], { DATABASE_URL: 'postgres://assay:pw@127.0.0.1:1/assay', CLICKHOUSE_URL: 'http://127.0.0.1:1', REDIS_URL: '' });
    expect(human.status).toBe(1);
    expect(human.stdout.split('\n')[0]).toMatch(/^assay doctor — UNREACHABLE: postgres, clickhouse \(checked by this command, pid \d+\)$/);
    expect(fs.existsSync(path.join(tmp, 'none'))).toBe(false); // nothing created
  });

  it('while a server holds the data dir: the report comes from it, and --print-sql reads nothing it holds', async () => {
    const dir = path.join(tmp, 'served');
    const server = await new ChildServer(dir, await freePort()).ready();
    try {
      const r = cli(['doctor', '--json', '--data-dir', dir], EMBEDDED);
      expect(r.status, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect([report.ok, report.checked_by]).toEqual([true, { pid: server.proc.pid, via: 'server' }]);
      expect(report.migrations.postgres.pending).toEqual([]);
      expect(report.migrations.clickhouse.pending).toEqual([]);

      const p = cli(['migrate', '--print-sql', '--data-dir', dir], EMBEDDED);
      expect(p.status, p.stderr).toBe(0);
      expect(p.stdout).toContain(`-- PostgreSQL: embedded PGlite at ${dir}/postgres: held by pid ${server.proc.pid} (assay serve), which applied its migrations when it started`);
    } finally {
      server.crash();
      await server.exited;
    }
  }, 180_000);
});

describe('assay migrate --print-sql', () => {
  const statements = (o: { database: string; cluster?: string }) => [...setupStatements(o), ...renderMigrations(o).flatMap((m) => m.statements)];
  const printed = (out: string) =>
    out
      .split(/;\n\n/)
      .map((s) => s.replace(/^(?:--[^\n]*\n|\n)+/, '').trim())
      .filter((s) => s && !s.startsWith('--'));

  it('prints the cluster DDL without connecting, and every PostgreSQL migration of a new data dir without creating it', () => {
    const dir = path.join(tmp, 'fresh');
    const r = cli(['migrate', '--print-sql', '--data-dir', dir], { CLICKHOUSE_URL: 'http://127.0.0.1:1', CLICKHOUSE_CLUSTER: 'lab', CLICKHOUSE_DATABASE: 'assay', DATABASE_URL: '', REDIS_URL: '' });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.existsSync(dir)).toBe(false);
    const [chPart, pgPart] = r.stdout.split(/(?=-- PostgreSQL: )/);
    expect(printed(chPart)).toEqual(statements({ database: 'assay', cluster: 'lab' }));
    const all = postgresMigrations();
    expect(pgPart.split('\n')[0]).toBe(`-- PostgreSQL: embedded PGlite at ${dir}/postgres: ${all.length} of ${all.length} migrations pending`);
    expect([...pgPart.matchAll(/^-- PostgreSQL migration (\S+)$/gm)].map((m) => m[1])).toEqual(all.map((m) => m.tag));
  });

  it('single node by default; a migrated data dir has no PostgreSQL migration pending', () => {
    const dir = path.join(tmp, 'migrated');
    expect(cli(['migrate', '--data-dir', dir], EMBEDDED).status).toBe(0);
    const r = cli(['migrate', '--print-sql', '--data-dir', dir], EMBEDDED);
    expect(r.status, r.stderr).toBe(0);
    const [chPart, pgPart] = r.stdout.split(/(?=-- PostgreSQL: )/);
    expect(printed(chPart)).toEqual(statements({ database: 'default' }));
    expect(pgPart.trim()).toBe(`-- PostgreSQL: embedded PGlite at ${dir}/postgres: 0 of ${postgresMigrations().length} migrations pending`);
  }, 120_000);
});
