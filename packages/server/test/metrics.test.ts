import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { metricBatches, metricWriteLogs } from '../src/stores/postgres/schema.ts';
import { recoverPendingBatches } from '../src/services/ingest.ts';
import { seedRun, startTestServer, type TestServer, type TestTeam } from './helpers.ts';

let srv: TestServer;
let team: TestTeam;

beforeAll(async () => {
  srv = await startTestServer({ ASSAY_BODY_LIMIT: String(2 * 1024 * 1024) });
  team = await srv.newTeam('metrics');
});
afterAll(() => srv?.close());

const series = (n: number, name = 'loss', f = (i: number) => 1 / (i + 1)) =>
  Array.from({ length: n }, (_, i) => ({ metric_name: name, metric_value: f(i), step: i }));

describe('metric ingest and reads', () => {
  it('logs a batch and reads it back through timeseries, summary, names and compare', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-basic', 'r1');
    const log = await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics: series(100) });
    expect(log.status).toBe(200);
    expect(log.body).toMatchObject({ status: 'success', count: 100, duplicate: false });

    const ts = await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/loss?limit=1000`);
    expect(ts.status).toBe(200);
    expect(ts.body.count).toBe(100);
    expect(ts.body.points[0]).toMatchObject({ step: 0, value: 1 });
    expect(ts.body.points[99]).toMatchObject({ step: 99, value: 1 / 100 });

    const sum = await team.api.get(`/metrics/summary/p-basic/r1`);
    expect(sum.body.metrics.loss).toMatchObject({ count: 100, min: 0.01, max: 1, last: 0.01, first_step: 0, last_step: 99 });
    const expectedAvg = series(100).reduce((a, p) => a + p.metric_value, 0) / 100;
    expect(sum.body.metrics.loss.avg).toBeCloseTo(expectedAvg, 12);

    const names = await team.api.get(`/metrics/names/${projectId}/${experimentId}`);
    expect(names.body.items).toEqual([expect.objectContaining({ metric_name: 'loss', total_points: 100 })]);
    expect(names.body.sync.pending_rows).toBe(0);
    expect(Date.parse(names.body.sync.last_synced_at)).toBeGreaterThan(Date.now() - 60_000);

    const cmp = await team.api.post(`/metrics/compare?project_id=${projectId}&experiment_ids=${experimentId}&metric_names=loss`);
    expect(cmp.status).toBe(200);
    expect(cmp.body.experiments[experimentId].loss).toMatchObject({ count: 100, last: 0.01 });
  });

  it('single-point log endpoint (the seed shape)', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-single', 'r1');
    const r = await team.api.post(`/metrics/log/${projectId}/${experimentId}`, { metric_name: 'acc', metric_value: 0.5, step: 3, timestamp: '2024-01-01T10:00:00Z' });
    expect(r.status).toBe(200);
    const ts = await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/acc`);
    expect(ts.body.points).toEqual([{ timestamp: '2024-01-01T10:00:00.000Z', step: 3, value: 0.5 }]);
  });

  it('stores NaN, +Inf and -Inf and returns them as strings; summary ignores NaN in min/max/avg', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-nan', 'r1');
    const metrics = [
      { metric_name: 'x', metric_value: 1.5, step: 0 },
      { metric_name: 'x', metric_value: 'NaN', step: 1 },
      { metric_name: 'x', metric_value: 'Infinity', step: 2 },
      { metric_name: 'x', metric_value: '-Infinity', step: 3 },
      { metric_name: 'x', metric_value: 'NaN', step: 4 },
    ];
    expect((await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics })).status).toBe(200);
    const ts = await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/x`);
    expect(ts.body.points.map((p: any) => p.value)).toEqual([1.5, 'NaN', 'Infinity', '-Infinity', 'NaN']);
    const s = (await team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics.x;
    expect(s).toMatchObject({ count: 5, last: 'NaN', min: '-Infinity', max: 'Infinity', avg: 'NaN' });
  });

  it('round-trips every Float64 exactly, including subnormals and extremes', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-float', 'r1');
    const values = [0.1, 1 / 3, -0, 5e-324, 1.7976931348623157e308, -2.2250738585072014e-308, 123456789.123456789, 1e-7];
    const metrics = values.map((v, i) => ({ metric_name: 'f', metric_value: v, step: i }));
    await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics });
    const ts = await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/f`);
    expect(ts.body.points.map((p: any) => p.value)).toEqual(values.map((v) => (Object.is(v, -0) ? 0 : v)));
  });

  it('stores injection-looking and Unicode metric names verbatim', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-names', 'r1');
    const names = ["loss'); DROP TABLE metrics;--", 'a\tb\nc\\d', 'точность/валидация', '{team_id:UUID}', '🔥'.repeat(10), 'x'.repeat(250)];
    const metrics = names.map((n, i) => ({ metric_name: n, metric_value: i, step: 0 }));
    expect((await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics })).status).toBe(200);
    for (const [i, n] of names.entries()) {
      const ts = await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/${encodeURIComponent(n)}`);
      expect(ts.body.metric_name).toBe(n);
      expect(ts.body.points).toHaveLength(1);
      expect(ts.body.points[0].value).toBe(i);
    }
    const sum = await team.api.get(`/metrics/summary/${projectId}/${experimentId}`);
    expect(Object.keys(sum.body.metrics).sort()).toEqual([...names].sort());
    // the metrics table is still there
    expect((await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/${encodeURIComponent(names[0])}`)).status).toBe(200);
  });

  it('a re-sent batch_id changes no read: points, counts, averages', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-dedup', 'r1');
    const body = { batch_id: 'batch-0001', metrics: series(50, 'loss', (i) => i) };
    const first = await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, body);
    const before = (await team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body;
    const [again1, again2] = await Promise.all([
      team.api.post(`/metrics/batch/${projectId}/${experimentId}`, body),
      team.api.post(`/metrics/batch/${projectId}/${experimentId}`, body),
    ]);
    expect(first.body.duplicate).toBe(false);
    expect(again1.body.duplicate).toBe(true);
    expect(again2.body.duplicate).toBe(true);
    const after = (await team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body;
    expect(after).toEqual(before);
    expect(after.metrics.loss).toMatchObject({ count: 50, avg: 24.5 });
    const names = await team.api.get(`/metrics/names/${projectId}/${experimentId}`);
    expect(names.body.items[0].total_points).toBe(50);
    // concurrent first sends of one new batch also write once
    const b2 = { batch_id: 'batch-0002', metrics: series(10, 'acc', (i) => i) };
    const rs = await Promise.all([1, 2, 3].map(() => team.api.post(`/metrics/batch/${projectId}/${experimentId}`, b2)));
    expect(rs.filter((r) => r.body.duplicate === false)).toHaveLength(1);
    const s2 = (await team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics.acc;
    expect(s2.count).toBe(10);
  });

  it('a batch whose insert landed before a crash (book-keeping lost) is not written twice on retry', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-crash', 'r1');
    const body = { batch_id: 'crash-1', metrics: series(30, 'loss', (i) => i) };
    expect((await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, body)).body.duplicate).toBe(false);
    // what a kill between the ClickHouse insert and the Postgres commit leaves behind — here also
    // cut between `metrics` and its views (the summary never got the rows)
    await srv.ctx.pg.db.update(metricBatches).set({ committedAt: null }).where(eq(metricBatches.batchId, 'crash-1'));
    await srv.ctx.pg.db.delete(metricWriteLogs).where(eq(metricWriteLogs.experimentId, experimentId));
    await srv.ctx.ch.tenantCommand({ teamId: team.teamId }, 'test', 'DELETE FROM metrics_summary WHERE team_id = {team_id:UUID} AND experiment_id = {e:UUID}', { e: experimentId });
    expect((await team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics).toEqual({});
    const retry = await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, body);
    expect(retry.body.duplicate).toBe(true);
    expect((await team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics.loss).toMatchObject({ count: 30, avg: 14.5 });
    // the lost book-keeping was redone
    expect((await team.api.get(`/metrics/names/${projectId}/${experimentId}`)).body.items[0]).toMatchObject({ metric_name: 'loss', total_points: 30 });

    // a batch marked pending whose insert never landed is written on retry
    await srv.ctx.pg.db.insert(metricBatches).values({ teamId: team.teamId, experimentId, batchId: 'crash-2', points: 5, versionBase: 1_000_000 });
    const fresh = await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { batch_id: 'crash-2', metrics: series(5, 'acc') });
    expect(fresh.body.duplicate).toBe(false);
    expect((await team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics.acc.count).toBe(5);
  });

  it('startup recovery settles batches the last process left pending and repairs the aggregates', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-recover', 'r1');
    await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { batch_id: 'rec-1', metrics: series(20, 'loss', (i) => i) });
    await srv.ctx.pg.db.update(metricBatches).set({ committedAt: null }).where(eq(metricBatches.batchId, 'rec-1'));
    await srv.ctx.pg.db.insert(metricBatches).values({ teamId: team.teamId, experimentId, batchId: 'rec-never-landed', points: 7, versionBase: 1_000_000 });
    await srv.ctx.ch.tenantCommand({ teamId: team.teamId }, 'test', 'DELETE FROM metrics_summary WHERE team_id = {team_id:UUID} AND experiment_id = {e:UUID}', { e: experimentId });
    const r = await recoverPendingBatches(srv.ctx, { all: true, onlyTeams: [team.teamId] });
    expect(r.landed).toBeGreaterThanOrEqual(1);
    expect(r.dropped).toBeGreaterThanOrEqual(1);
    expect((await team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics.loss).toMatchObject({ count: 20, avg: 9.5 });
    expect((await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { batch_id: 'rec-1', metrics: series(20, 'loss', (i) => i) })).body.duplicate).toBe(true);
    expect((await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { batch_id: 'rec-never-landed', metrics: series(7, 'acc') })).body.duplicate).toBe(false);
    const s = (await team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics;
    expect(s.loss.count).toBe(20);
    expect(s.acc.count).toBe(7);
  });

  it('re-logging a step replaces the point (later write wins)', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-relog', 'r1');
    await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics: [{ metric_name: 'l', metric_value: 1, step: 7 }] });
    await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics: [{ metric_name: 'l', metric_value: 2, step: 7 }] });
    const ts = await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/l`);
    expect(ts.body.points).toEqual([expect.objectContaining({ step: 7, value: 2 })]);
    expect((await team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics.l.last).toBe(2);
  });

  it('columnar and row formats store identical points; gzip bodies are accepted', async () => {
    const a = await seedRun(team.api, 'p-col', 'rows');
    const b = await seedRun(team.api, 'p-col', 'cols');
    const ts0 = Date.parse('2024-05-01T00:00:00Z');
    const rows = Array.from({ length: 200 }, (_, i) => ({ metric_name: 'm', metric_value: i % 7 === 0 ? 'NaN' : Math.sin(i), step: i * 2, timestamp: ts0 + i * 1000 }));
    await team.api.post(`/metrics/batch/${a.projectId}/${a.experimentId}`, { metrics: rows });
    const columnar = { series: [{ metric_name: 'm', steps: rows.map((r) => r.step), values: rows.map((r) => r.metric_value), timestamps: rows.map((r) => r.timestamp) }] };
    const gz = gzipSync(Buffer.from(JSON.stringify(columnar)));
    const r = await team.api.call('POST', `/metrics/batch/${b.projectId}/${b.experimentId}`, gz, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(r.status).toBe(200);
    expect(r.body.count).toBe(200);
    const ra = await team.api.get(`/metrics/timeseries/${a.projectId}/${a.experimentId}/m?limit=1000`);
    const rb = await team.api.get(`/metrics/timeseries/${b.projectId}/${b.experimentId}/m?limit=1000`);
    expect(rb.body.points).toEqual(ra.body.points);
    expect(ra.body.points).toHaveLength(200);
  });

  it('downsampling keeps first/last step and the global extremes', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-down', 'r1');
    const n = 20_000;
    const metrics = series(n, 'noisy', (i) => Math.exp(-i / 5000) + 0.05 * Math.sin(i * 12.9898));
    metrics[12_345].metric_value = 42; // a spike
    metrics[7_777].metric_value = -42;
    await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics });
    const r = await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/noisy?max_points=200`);
    expect(r.body.downsampled).toBe(true);
    expect(r.body.points.length).toBeLessThanOrEqual(200);
    expect(r.body.points.length).toBeGreaterThan(100);
    const steps = r.body.points.map((p: any) => p.step);
    expect(steps[0]).toBe(0);
    expect(steps[steps.length - 1]).toBe(n - 1);
    expect([...steps].sort((x: number, y: number) => x - y)).toEqual(steps);
    expect(r.body.points).toContainEqual(expect.objectContaining({ step: 12_345, value: 42 }));
    expect(r.body.points).toContainEqual(expect.objectContaining({ step: 7_777, value: -42 }));
    // zoom: same call restricted to a step window
    const z = await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/noisy?max_points=100&step_min=1000&step_max=1049`);
    expect(z.body.downsampled).toBe(false);
    expect(z.body.points.map((p: any) => p.step)).toEqual(Array.from({ length: 50 }, (_, i) => 1000 + i));
  });

  it('long full-history reads downsample from the rollup and keep first/last step and extremes', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-rollup', 'r1');
    const n = 50_000;
    const steps = Array.from({ length: n }, (_, i) => i * 6); // sparse steps: 0 … 299,994
    const values: (number | string)[] = steps.map((st) => Math.exp(-st / 1e5) + 0.01 * Math.sin(st));
    values[40_000] = 'NaN';
    values[31_234] = 99; // spike
    values[7_777] = -99;
    const values4 = values.map((v) => (typeof v === 'number' ? Math.round(v * 1e4) / 1e4 : v)); // keep the body under this file's 2 MB limit
    const logged = await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { series: [{ metric_name: 'long', steps, values: values4 }] });
    expect(logged.status).toBe(200);
    const r = await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/long?max_points=100`);
    expect(r.body.downsampled).toBe(true);
    expect(r.body.points.length).toBeLessThanOrEqual(100);
    expect(r.body.points.length).toBeGreaterThan(60);
    const got = r.body.points.map((p: any) => p.step);
    expect(got[0]).toBe(0);
    expect(got[got.length - 1]).toBe(steps[n - 1]);
    expect([...got].sort((a: number, b: number) => a - b)).toEqual(got);
    expect(r.body.points).toContainEqual(expect.objectContaining({ step: steps[31_234], value: 99 }));
    expect(r.body.points).toContainEqual(expect.objectContaining({ step: steps[7_777], value: -99 }));
    expect(r.body.points.every((p: any) => typeof p.timestamp === 'string' && p.value !== 'NaN')).toBe(true);
  });

  it('rejects bad points with 422 and writes nothing from that batch', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-bad', 'r1');
    const bad = [
      { metrics: [...series(3), { metric_name: 'loss', metric_value: 'nan', step: 3 }] },
      { metrics: [...series(3), { metric_name: 'loss', metric_value: 1, step: -1 }] },
      { metrics: [...series(3), { metric_name: 'loss', metric_value: 1, step: 1.5 }] },
      { metrics: [...series(3), { metric_name: '', metric_value: 1, step: 1 }] },
      { metrics: [...series(3), { metric_name: 'x'.repeat(251), metric_value: 1, step: 1 }] },
      { metrics: [...series(3), { metric_name: 'loss', metric_value: 1, step: 2 ** 53 }] },
      { metrics: [...series(3), { metric_name: 'loss', metric_value: 1, step: 1, timestamp: 'yesterday' }] },
      { series: [{ metric_name: 'loss', steps: [1, 2], values: [1] }] },
      { metrics: 'nope' },
      {},
    ];
    for (const body of bad) {
      const r = await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(422);
      expect(Array.isArray(r.body.detail)).toBe(true);
      expect(r.body.detail[0].loc[0]).toBe('body');
    }
    const steps = await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, bad[1]);
    expect(steps.body.detail).toContainEqual(expect.objectContaining({ loc: ['body', 'metrics', 3, 'step'] }));
    const malformed = await team.api.call('POST', `/metrics/batch/${projectId}/${experimentId}`, '{"metrics": [', { 'content-type': 'application/json' });
    expect(malformed.status).toBe(422);
    const s = await team.api.get(`/metrics/summary/${projectId}/${experimentId}`);
    expect(s.body.metrics).toEqual({});
  });

  it('answers 413 for a body over the limit', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-413', 'r1');
    const r = await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics: series(60_000) });
    expect(r.status).toBe(413);
    expect(r.body.detail).toMatch(/too large/i);
    // a gzip bomb stops at the same limit, measured after decompression
    const big = gzipSync(Buffer.from(JSON.stringify({ metrics: series(60_000) })));
    const g = await team.api.call('POST', `/metrics/batch/${projectId}/${experimentId}`, big, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(g.status).toBe(413);
  });

  it('deletes an experiment\'s metrics', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-del', 'r1');
    await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics: series(10) });
    expect((await team.api.delete(`/metrics/${projectId}/${experimentId}`)).status).toBe(204);
    expect((await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/loss`)).body.count).toBe(0);
    expect((await team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics).toEqual({});
    expect((await team.api.get(`/metrics/names/${projectId}/${experimentId}`)).body.items).toEqual([]);
  });

  it('mirrors points per metric into metric_write_logs, and a delete leaves nothing behind', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-mirror', 'r1');
    await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics: [...series(7), ...series(3, 'acc')] });
    await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics: series(2) });
    await srv.ctx.writeLogs.flush();
    const rows = await srv.ctx.pg.db.select().from(metricWriteLogs).where(eq(metricWriteLogs.experimentId, experimentId));
    expect(Object.fromEntries(rows.map((r) => [r.metricName, r.totalPoints]))).toEqual({ loss: 9, acc: 3 });
    // points logged right before the delete must not reappear in the mirror after it
    await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics: series(4) });
    expect((await team.api.delete(`/metrics/${projectId}/${experimentId}`)).status).toBe(204);
    await srv.ctx.writeLogs.flush();
    expect(await srv.ctx.pg.db.select().from(metricWriteLogs).where(eq(metricWriteLogs.experimentId, experimentId))).toEqual([]);
  });

  it('a renamed or re-created experiment gets the next batch logged by name (no stale lookup)', async () => {
    const { projectId } = await seedRun(team.api, 'p-rename', 'x');
    const log = (name: string, n: number) => team.api.post(`/metrics/batch/${projectId}/${name}`, { metrics: series(n) });
    expect((await log('x', 3)).status).toBe(200);
    expect((await team.api.patch(`/projects/${projectId}/experiments/x`, { name: 'y' })).status).toBe(200);
    expect((await log('x', 1)).status).toBe(404);
    expect((await log('y', 2)).status).toBe(200);
    expect((await team.api.get(`/metrics/summary/${projectId}/y`)).body.metrics.loss.count).toBe(5);
    expect((await team.api.delete(`/projects/${projectId}/experiments/y`)).status).toBe(204);
    expect((await team.api.post(`/projects/${projectId}/experiments`, { name: 'y' })).status).toBe(201);
    expect((await log('y', 4)).status).toBe(200);
    expect((await team.api.get(`/metrics/summary/${projectId}/y`)).body.metrics.loss.count).toBe(4);
  });

  it('compare keys its answer by the identifiers as sent (names stay names), rejects unknown experiments with 404', async () => {
    const a = await seedRun(team.api, 'p-cmp', 'a');
    const b = await seedRun(team.api, 'p-cmp', 'b');
    await team.api.post(`/metrics/batch/${a.projectId}/${a.experimentId}`, { metrics: series(5, 'loss', (i) => 5 - i) });
    await team.api.post(`/metrics/batch/${b.projectId}/${b.experimentId}`, { metrics: [...series(5, 'loss', (i) => 10 - i), ...series(5, 'acc')] });
    const r = await team.api.post('/metrics/compare?project_id=p-cmp&experiment_ids=a&experiment_ids=b');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.experiments)).toEqual(['a', 'b']);
    expect(r.body.experiments.a.loss.last).toBe(1);
    expect(r.body.experiments.b.loss.last).toBe(6);
    expect(Object.keys(r.body.experiments.b).sort()).toEqual(['acc', 'loss']);
    // the same run asked for by name and by UUID: both keys, same numbers
    const mixed = await team.api.post(`/metrics/compare?project_id=p-cmp&experiment_ids=a&experiment_ids=${a.experimentId}`);
    expect(Object.keys(mixed.body.experiments)).toEqual(['a', a.experimentId]);
    expect(mixed.body.experiments[a.experimentId]).toEqual(mixed.body.experiments.a);
    const only = await team.api.post('/metrics/compare?project_id=p-cmp&experiment_ids=a&experiment_ids=b&metric_names=acc');
    expect(only.body.experiments.a).toEqual({});
    expect(Object.keys(only.body.experiments.b)).toEqual(['acc']);
    expect((await team.api.post('/metrics/compare?project_id=p-cmp&experiment_ids=a&experiment_ids=zzz')).status).toBe(404);
  });
});
