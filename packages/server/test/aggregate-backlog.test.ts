import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { backlogHooks, markFlush, recoverAggregateBacklog } from '../src/services/aggregate-marks.ts';
import { startCrashSweeper } from '../src/services/crash-sweeper.ts';
import { batchLeaseMs } from '../src/services/ingest.ts';
import { encodeBatch } from '../src/stores/clickhouse/encode.ts';
import { MetricWriter, type WriteRequest } from '../src/stores/clickhouse/writer.ts';
import { aggregateBacklog } from '../src/stores/postgres/schema.ts';
import type { Tenant } from '../src/stores/postgres/tenant.ts';
import { ChildServer, createTeam, freePort } from './child-server.ts';
import { seedRun, useTestServer } from './helpers.ts';

/**
 * Aggregates written behind the acknowledgement (stores/clickhouse/aggregate-backlog.ts,
 * services/aggregate-marks.ts), on the real stores in both modes: a minute's delay holds them back,
 * so each test sees what waits for them, what forces them out and what repairs them.
 */
const t = useTestServer('agg-backlog', { ASSAY_AGGREGATE_DELAY_MS: '60000' });

const points = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ metric_name: 'loss', step: from + i, metric_value: from + i }));

/** Rows straight from ClickHouse, past the query wrapper (which would wait for the backlog). */
async function rawCount(table: string, experimentId: string): Promise<number> {
  const rs = await t.srv.ctx.ch.client.query({ query: `SELECT count() FROM ${table} WHERE experiment_id = {e:UUID}`, query_params: { e: experimentId }, format: 'JSONCompactEachRow' });
  return Number(((await rs.json()) as [string][])[0][0]);
}

const marksOf = (experimentId: string) => t.srv.ctx.pg.db.select().from(aggregateBacklog).where(eq(aggregateBacklog.experimentId, experimentId));

async function logged(api: typeof t.team.api, project: string, n = 2) {
  const run = await seedRun(api, project, 'r');
  const r = await api.post(`/metrics/batch/${run.projectId}/${run.experimentId}`, { batch_id: `b-${project}`, metrics: points(n) });
  expect(r.status).toBe(200);
  return run;
}

describe('aggregates behind the acknowledgement', () => {
  it('a batch is acknowledged once its points are in and its experiment marked; reading the summary writes the aggregates first', async () => {
    const run = await logged(t.team.api, 'ack');
    expect(await rawCount('metrics', run.experimentId)).toBe(2);
    expect(await rawCount('metrics_summary', run.experimentId)).toBe(0); // held back: the delay is a minute
    expect(await marksOf(run.experimentId)).toHaveLength(1);
    const s = await t.team.api.get(`/metrics/summary/${run.projectId}/${run.experimentId}`);
    expect(s.body.metrics.loss).toMatchObject({ count: 2, min: 0, max: 1, last: 1 });
    for (const table of ['metrics_summary', 'metrics_hourly', 'metrics_rollup', 'metrics_rollup_fine']) expect(await rawCount(table, run.experimentId), table).toBeGreaterThan(0);
    expect(await marksOf(run.experimentId)).toEqual([]);
  });

  it('under concurrent flushes and reads, every mark goes once the aggregates it stood for are written', async () => {
    const runs = await Promise.all([0, 1, 2, 3].map((i) => seedRun(t.team.api, 'many', `r${i}`)));
    const summary = (r: (typeof runs)[number]) => t.team.api.get(`/metrics/summary/${r.projectId}/${r.experimentId}`);
    // reads force aggregate writes while other flushes are still inserting their points
    const calls = Array.from({ length: 48 }, (_, k) => {
      const r = runs[k % 4];
      return k % 3 === 2 ? summary(r) : t.team.api.post(`/metrics/batch/${r.projectId}/${r.experimentId}`, { metrics: points(2000, k * 2000) });
    });
    for (const res of await Promise.all(calls)) expect(res.status).toBe(200);
    await t.srv.ctx.writer.drainAggregates();
    for (const r of runs) {
      expect(await marksOf(r.experimentId)).toEqual([]);
      expect((await summary(r)).body.metrics.loss.count).toBe(8 * 2000);
    }
  });

  it("another team's read does not wait for (or write) this team's aggregates", async () => {
    const run = await logged(t.team.api, 'isolated');
    const other = await t.srv.newTeam('agg-other');
    const mine = await seedRun(other.api, 'o', 'r');
    expect((await other.api.get(`/metrics/summary/${mine.projectId}/${mine.experimentId}`)).status).toBe(200);
    expect(await rawCount('metrics_summary', run.experimentId)).toBe(0);
    expect((await t.team.api.get(`/metrics/summary/${run.projectId}/${run.experimentId}`)).body.metrics.loss.count).toBe(2);
  });

  it('deleting an experiment whose aggregates are queued leaves none of them behind', async () => {
    const run = await logged(t.team.api, 'deleted');
    expect(await rawCount('metrics_summary', run.experimentId)).toBe(0);
    expect((await t.team.api.delete(`/projects/${run.projectId}/experiments/${run.experimentId}`)).status).toBe(204);
    await t.srv.ctx.writer.exclusive(async () => undefined); // whatever is still queued is written now
    for (const table of ['metrics', 'metrics_summary', 'metrics_aggregated', 'metrics_rollup', 'metrics_rollup_fine']) expect(await rawCount(table, run.experimentId), table).toBe(0);
  });

  // Renames a table for a moment: on the ClickHouse-HTTP fixture every test file shares the tables.
  it.skipIf(process.env.CLICKHOUSE_URL !== undefined)('an aggregate insert that fails is repaired from the points, and the read waits for the repair', async () => {
    const run = await logged(t.team.api, 'repaired', 50);
    const admin = (sql: string) => t.srv.ctx.ch.adminCommand(sql);
    await admin('RENAME TABLE metrics_summary_input TO metrics_summary_input_away');
    try {
      // the write fails for the summary; the other inputs' rows land, then the repair rebuilds all from the points
      const s = await t.team.api.get(`/metrics/summary/${run.projectId}/${run.experimentId}`);
      expect(s.body.metrics.loss).toMatchObject({ count: 50, min: 0, max: 49, last: 49 });
    } finally {
      await admin('RENAME TABLE metrics_summary_input_away TO metrics_summary_input');
    }
    // nothing counted twice: the rollups hold what a rebuild alone would give
    const series = await t.team.api.post('/metrics/series', { project_id: run.projectId, series: [{ experiment_id: run.experimentId, metric_name: 'loss' }], buckets: 1000 });
    expect(series.body.series[0].total_points).toBe(50);
    expect(series.body.series[0].data.steps).toEqual(points(50).map((p) => p.step));
    expect(await marksOf(run.experimentId)).toEqual([]);
  });

  // Renames `metrics` for a moment: embedded only, as above.
  it.skipIf(process.env.CLICKHOUSE_URL !== undefined)('a points insert that fails answers 503; its experiment is rebuilt from whatever landed once ClickHouse answers again', async () => {
    const run = await seedRun(t.team.api, 'points-fail', 'r');
    const url = `/metrics/batch/${run.projectId}/${run.experimentId}`;
    const admin = (sql: string) => t.srv.ctx.ch.adminCommand(sql);
    await admin('RENAME TABLE metrics TO metrics_away');
    try {
      expect((await t.team.api.post(url, { batch_id: 'b', metrics: points(5) })).status).toBe(503);
      expect(await marksOf(run.experimentId)).toHaveLength(1); // the repair cannot read the points yet: it retries
    } finally {
      await admin('RENAME TABLE metrics_away TO metrics');
    }
    await t.srv.ctx.writer.drainAggregates(); // the repair's next attempt works
    expect(await marksOf(run.experimentId)).toEqual([]);
    expect((await t.team.api.post(url, { batch_id: 'b', metrics: points(5) })).body).toMatchObject({ count: 5, duplicate: false });
    expect((await t.team.api.get(`/metrics/summary/${run.projectId}/${run.experimentId}`)).body.metrics.loss).toMatchObject({ count: 5, max: 4 });
  });

  it("the crash sweeper rebuilds a dead writer's marked experiment once its lease ran out, not before", async () => {
    const run = await logged(t.team.api, 'dead-writer', 10);
    expect((await t.team.api.get(`/metrics/summary/${run.projectId}/${run.experimentId}`)).body.metrics.loss.count).toBe(10);
    // what a writer killed after the ack leaves: a mark, and aggregates that never came
    await t.srv.ctx.ch.tenantCommand({ teamId: t.team.teamId }, 'test', 'DELETE FROM metrics_summary WHERE team_id = {team_id:UUID} AND experiment_id = {e:UUID}', { e: run.experimentId });
    const dead = { teamId: t.team.teamId, projectId: run.projectId, experimentId: run.experimentId, writer: 'gone:1:dead', gen: 7 };
    await t.srv.ctx.pg.db.insert(aggregateBacklog).values({ ...dead, leaseUntil: new Date(Date.now() + 60_000) });
    // The sweeper's pass; against the shared PostgreSQL of the server pass another file's sweeper
    // may hold the sweeper lease, so there the pass's repair step is called itself.
    const sweeper = startCrashSweeper(t.srv.ctx, { warn() {}, error() {} }, { intervalMs: 60_000, graceMs: 0, onlyTeams: [t.team.teamId] });
    const pass = () => (process.env.DATABASE_URL ? recoverAggregateBacklog(t.srv.ctx, batchLeaseMs(t.srv.config), { onlyTeams: [t.team.teamId] }) : sweeper.sweep());
    try {
      await pass();
      expect(await marksOf(run.experimentId)).toHaveLength(1); // still leased: its writer may be alive
      expect((await t.team.api.get(`/metrics/summary/${run.projectId}/${run.experimentId}`)).body.metrics.loss).toBeUndefined();
      await t.srv.ctx.pg.db.update(aggregateBacklog).set({ leaseUntil: new Date(Date.now() - 1000) }).where(eq(aggregateBacklog.experimentId, run.experimentId));
      await pass();
    } finally {
      await sweeper.stop();
    }
    expect(await marksOf(run.experimentId)).toEqual([]);
    expect((await t.team.api.get(`/metrics/summary/${run.projectId}/${run.experimentId}`)).body.metrics.loss).toMatchObject({ count: 10, min: 0, max: 9, last: 9 });
  });
});

describe('the writer and its backlog', () => {
  function request(tenant: Tenant, projectId: string, experimentId: string, n: number, from = 0): WriteRequest {
    const body = { metrics: points(n, from) };
    const r = encodeBatch(body, { teamId: tenant.teamId, projectId, experimentId, retentionDays: 730 }, Date.now(), Date.now() * 1000);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return { tenant, projectId, experimentId, rows: r.rows };
  }
  const noHooks = { beforeInsert: async () => undefined, afterInsert: async () => undefined, written: async () => undefined, repair: async () => undefined };
  const fail = (err: unknown) => {
    throw err;
  };

  it("a flush that overtakes a slower one: both experiments' marks go once both flushes' aggregates are written", async () => {
    const tenant: Tenant = { teamId: t.team.teamId, userId: randomUUID(), role: 'researcher', keyId: null, sessionId: null };
    const [x, y] = [await seedRun(t.team.api, 'overtaken', 'x'), await seedRun(t.team.api, 'overtaken', 'y')];
    const { pg, ch } = t.srv.ctx;
    const name = `test:${randomUUID()}`;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const writer: MetricWriter = new MetricWriter(
      ch,
      { maxRows: 4, maxDelayMs: 0, maxPendingRows: 1_000_000, concurrency: 2, aggregateDelayMs: 60_000 },
      {
        beforeInsert: async (batch, gen) => {
          await markFlush(pg, name, gen, batch, 60_000);
          if (batch.some((r) => r.experimentId === x.experimentId)) await gate; // flush 1 is slow
          return undefined;
        },
        afterInsert: async () => undefined,
        ...backlogHooks({ pg, ch }, name, () => writer),
      },
      fail,
    );
    const slow = writer.submit(request(tenant, x.projectId, x.experimentId, 3));
    while ((await marksOf(x.experimentId)).length === 0) await new Promise((r) => setTimeout(r, 10));
    // four requests at once start flush 2 beside flush 1, and it ends first
    await Promise.all([0, 1, 2, 3].map((i) => writer.submit(request(tenant, y.projectId, y.experimentId, 3, 10 * i))));
    await writer.drainAggregates(); // flush 2's aggregates: written while flush 1 still inserts
    open();
    await slow;
    await writer.drainAggregates();
    expect([...(await marksOf(x.experimentId)), ...(await marksOf(y.experimentId))]).toEqual([]);
    await writer.close();
  });

  it('-1: the acknowledgement waits for the aggregates; a backlog past its size holds acknowledgements back too', async () => {
    const tenant: Tenant = { teamId: t.team.teamId, userId: randomUUID(), role: 'researcher', keyId: null, sessionId: null };
    const opts = { maxRows: 100_000, maxDelayMs: 0, maxPendingRows: 1_000_000, concurrency: 1 };
    for (const [aggregateDelayMs, aggregateMaxBytes] of [
      [-1, undefined],
      [60_000, 1],
    ] as const) {
      const writer = new MetricWriter(t.srv.ctx.ch, { ...opts, aggregateDelayMs, aggregateMaxBytes }, noHooks, fail);
      const [projectId, experimentId] = [randomUUID(), randomUUID()];
      await writer.submit(request(tenant, projectId, experimentId, 3));
      expect(await rawCount('metrics_summary', experimentId), `delay ${aggregateDelayMs}`).toBe(1);
      await writer.close();
    }
    // and with room in the backlog the same acknowledgement comes first
    const writer = new MetricWriter(t.srv.ctx.ch, { ...opts, aggregateDelayMs: 60_000 }, noHooks, fail);
    const [projectId, experimentId] = [randomUUID(), randomUUID()];
    await writer.submit(request(tenant, projectId, experimentId, 3));
    expect(await rawCount('metrics_summary', experimentId)).toBe(0);
    await writer.close(); // closing writes what is queued
    expect(await rawCount('metrics_summary', experimentId)).toBe(1);
  });
});

describe('kill -9 between the acknowledgement and the aggregates', () => {
  it('the restart rebuilds the aggregates of every acknowledged batch from its points', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-agg-kill-'));
    const port = await freePort();
    const servers: ChildServer[] = [];
    try {
      const first = new ChildServer(dataDir, port, undefined, { ASSAY_AGGREGATE_DELAY_MS: '60000' });
      servers.push(first);
      await first.ready();
      const key = await createTeam(first, `agg-kill-${randomUUID().slice(0, 8)}`);
      const call = async (method: string, p: string, body?: unknown) => {
        const r = await fetch(`http://127.0.0.1:${port}/api/v1${p}`, {
          method,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: r.status, body: (await r.json()) as any };
      };
      const proj = await call('POST', '/projects', { name: 'k' });
      const exps = [];
      for (const name of ['a', 'b']) exps.push((await call('POST', `/projects/${proj.body.id}/experiments`, { name })).body.id as string);
      for (const [i, e] of exps.entries()) {
        for (let b = 0; b < 3; b++) expect((await call('POST', `/metrics/batch/${proj.body.id}/${e}`, { batch_id: `k${b}`, metrics: points(5 + i, b * 10) })).status).toBe(200);
      }
      first.crash();
      await first.exited;
      const second = new ChildServer(dataDir, port, undefined, { LOG_LEVEL: 'info' });
      servers.push(second);
      await second.ready();
      expect(second.output).toMatch(/rebuilt the aggregates of 2 experiment\(s\)/);
      for (const [i, e] of exps.entries()) {
        const s = await call('GET', `/metrics/summary/${proj.body.id}/${e}`);
        expect(s.body.metrics.loss).toMatchObject({ count: 3 * (5 + i), min: 0, max: 20 + 4 + i, last: 20 + 4 + i });
      }
    } finally {
      for (const s of servers) if (s.proc.exitCode === null && s.proc.signalCode === null) s.crash();
      await Promise.all(servers.map((s) => s.exited));
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 240_000);
});
