import { describe, expect, it } from 'vitest';
import { rebuildAggregates } from '../src/stores/clickhouse/queries/metrics.ts';
import { useTestServer } from './helpers.ts';

/**
 * Per-project retention (ClickHouse migration 6): every point and aggregate row carries its
 * project's retention_days; changing it drops what is past it at once and rebuilds the touched
 * runs' aggregates; the TTL itself expires rows on merge. logged_at is the server's ingest time,
 * so "old" points are written straight into the store (as an older server would have).
 */
const t = useTestServer('retention');

const DAY_S = 86_400;

/** Straight from ClickHouse, past the query wrapper: the aggregates still queued in the writer are written first. */
async function sql<T = unknown[]>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  await t.srv.ctx.writer.drainAggregates();
  const rs = await t.srv.ctx.ch.client.query({ query, format: 'JSONCompactEachRow', query_params: params });
  return (await rs.json()) as T[];
}
async function command(query: string, params: Record<string, unknown> = {}): Promise<void> {
  await t.srv.ctx.ch.client.command({ query, query_params: params });
}

/** `n` points at steps from `step0`, logged `ageSeconds` ago with the given retention, and the run's aggregates rebuilt from its points. */
async function oldPoints(projectId: string, experimentId: string, step0: number, n: number, ageSeconds: number, retention: number) {
  await command(
    `INSERT INTO metrics (team_id, project_id, experiment_id, metric_name, step, host, timestamp, metric_value, logged_at, retention_days)
     SELECT {t:UUID}, {p:UUID}, {e:UUID}, 'loss', {s:UInt64} + number, '', now64(3) - toIntervalSecond({age:UInt32}), number, now64(6) - toIntervalSecond({age:UInt32}) + toIntervalMicrosecond(number), {r:UInt16}
     FROM numbers({n:UInt32})`,
    { t: t.team.teamId, p: projectId, e: experimentId, s: step0, n, age: ageSeconds, r: retention },
  );
  await t.srv.ctx.writer.exclusive(() => rebuildAggregates(t.srv.ctx.ch, { teamId: t.team.teamId }, projectId, experimentId));
}

async function logFresh(projectId: string, experimentId: string, step0: number, n: number, host?: string) {
  const metrics = Array.from({ length: n }, (_, i) => ({ metric_name: 'loss', metric_value: 1000 + i, step: step0 + i, ...(host ? { host } : {}) }));
  const r = await t.team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics });
  expect(r.status).toBe(200);
}

const retentionOf = async (table: string, projectId: string) =>
  (await sql<[number]>(`SELECT DISTINCT retention_days FROM ${table} WHERE project_id = {p:UUID} ORDER BY 1`, { p: projectId })).map((r) => Number(r[0]));

describe('per-project retention', () => {
  it('rows carry their project\'s retention; lowering it drops older points at once and keeps every aggregate exact', async () => {
    const api = t.team.api;
    const short = (await api.post('/projects', { name: 'short', retention_days: 400 })).body;
    const keep = (await api.post('/projects', { name: 'keep' })).body;
    expect([short.retention_days, keep.retention_days]).toEqual([400, 730]);
    const mixed = (await api.post(`/projects/${short.id}/experiments`, { name: 'mixed' })).body;
    const fresh = (await api.post(`/projects/${short.id}/experiments`, { name: 'fresh' })).body;
    const gone = (await api.post(`/projects/${short.id}/experiments`, { name: 'gone' })).body;
    const other = (await api.post(`/projects/${keep.id}/experiments`, { name: 'other' })).body;

    await logFresh(short.id, fresh.id, 0, 30, 'rank0');
    await logFresh(keep.id, other.id, 0, 20);
    for (const table of ['metrics', 'metrics_summary', 'metrics_hourly', 'metrics_aggregated', 'metrics_rollup']) {
      expect(await retentionOf(table, short.id), table).toEqual([400]);
    }
    expect(await retentionOf('metrics', keep.id)).toEqual([730]);

    // mixed: 100 points logged 10 days ago, then 50 fresh ones; gone: only old points.
    await oldPoints(short.id, mixed.id, 0, 100, 10 * DAY_S, 400);
    await logFresh(short.id, mixed.id, 100, 50);
    await oldPoints(short.id, gone.id, 0, 40, 10 * DAY_S, 400);
    const before = (await api.get(`/metrics/summary/${short.id}/${mixed.id}`)).body.metrics.loss;
    expect(before).toMatchObject({ count: 150, first_step: 0, last_step: 149, min: 0 });

    const patched = await api.patch(`/projects/${short.id}`, { retention_days: 5 });
    expect(patched.status).toBe(200);
    expect(patched.body.retention_days).toBe(5);

    const ts = (await api.get(`/metrics/timeseries/${short.id}/${mixed.id}/loss?limit=1000`)).body;
    expect(ts.points.map((p: any) => p.step)).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
    expect((await api.get(`/metrics/summary/${short.id}/${mixed.id}`)).body.metrics.loss).toMatchObject({ count: 50, first_step: 100, last_step: 149, min: 1000, max: 1049, last: 1049 });
    expect((await api.get(`/metrics/summary/${short.id}/${gone.id}`)).body.metrics).toEqual({});
    expect((await api.get(`/metrics/summary/${short.id}/${fresh.id}`)).body.metrics.loss).toMatchObject({ count: 30 });
    expect((await api.get(`/metrics/summary/${keep.id}/${other.id}`)).body.metrics.loss).toMatchObject({ count: 20 });
    // Every aggregate table describes the remaining points only.
    const counts = async (e: string) =>
      (
        await sql<[string, number]>(
          `SELECT 'summary', sum(point_count) FROM metrics_summary WHERE experiment_id = {e:UUID}
           UNION ALL SELECT 'hourly', sum(point_count) FROM metrics_hourly WHERE experiment_id = {e:UUID}
           UNION ALL SELECT 'rollup_first', toUInt64(min(tupleElement(first, 1))) FROM (SELECT argMinMerge(first_point) AS first FROM metrics_rollup WHERE experiment_id = {e:UUID})
           UNION ALL SELECT 'raw', count() FROM metrics WHERE experiment_id = {e:UUID}`,
          { e },
        )
      ).map(([k, n]) => [k, Number(n)]);
    expect(Object.fromEntries(await counts(mixed.id))).toEqual({ summary: 50, hourly: 50, rollup_first: 100, raw: 50 });
    expect(Object.fromEntries(await counts(gone.id))).toEqual({ summary: 0, hourly: 0, rollup_first: 0, raw: 0 });
    for (const table of ['metrics', 'metrics_summary', 'metrics_hourly', 'metrics_aggregated', 'metrics_rollup']) {
      expect(await retentionOf(table, short.id), table).toEqual([5]);
    }
    expect(await retentionOf('metrics', keep.id)).toEqual([730]);

    // New points carry the new retention (the ingest cache was dropped with the change).
    await logFresh(short.id, fresh.id, 30, 5);
    expect(await retentionOf('metrics', short.id)).toEqual([5]);
    expect((await api.get(`/metrics/summary/${short.id}/${fresh.id}`)).body.metrics.loss).toMatchObject({ count: 35 });
  });

  it('the TTL expires points and aggregate rows on merge, by each row\'s own retention', async () => {
    const api = t.team.api;
    const p = (await api.post('/projects', { name: 'ttl', retention_days: 7 })).body;
    const e = (await api.post(`/projects/${p.id}/experiments`, { name: 'run' })).body;
    const live = (await api.post(`/projects/${p.id}/experiments`, { name: 'live' })).body;
    // Rows already past their retention are dropped as they are written; these reach it MARGIN_S
    // from their insert (the TTL truncates logged_at to the second; on a shared ClickHouse — CI's
    // CLICKHOUSE_URL pass — other files' inserts merge the part at any moment, and a merge drops
    // rows the moment they expire). The margin covers the checks below on a loaded CI machine: with
    // 6 s, a clean-clone run (crash and fuzz suites beside it) saw the rows gone before the first
    // check. The run that lives on is written first, so nothing waits between insert and check.
    const MARGIN_S = 20;
    await oldPoints(p.id, live.id, 0, 25, 6 * DAY_S, 7);
    const insertedAt = Date.now();
    await oldPoints(p.id, e.id, 0, 25, 7 * DAY_S - MARGIN_S, 7);
    const raw = async (x: string) => Number((await sql<[number]>('SELECT count() FROM metrics WHERE experiment_id = {e:UUID}', { e: x }))[0][0]);
    expect([await raw(e.id), await raw(live.id)]).toEqual([25, 25]);
    expect((await api.get(`/metrics/summary/${p.id}/${e.id}`)).body.metrics.loss).toMatchObject({ count: 25 });
    await new Promise((r) => setTimeout(r, Math.max(0, insertedAt + (MARGIN_S + 1.5) * 1000 - Date.now())));
    for (const table of ['metrics', 'metrics_summary', 'metrics_hourly', 'metrics_rollup']) await command(`OPTIMIZE TABLE ${table} FINAL`);
    expect([await raw(e.id), await raw(live.id)]).toEqual([0, 25]);
    expect((await api.get(`/metrics/summary/${p.id}/${e.id}`)).body.metrics).toEqual({});
    expect((await api.get(`/metrics/summary/${p.id}/${live.id}`)).body.metrics.loss).toMatchObject({ count: 25 });
  });

  it('refuses a retention outside 1 … 36500 days without changing anything', async () => {
    const p = (await t.team.api.post('/projects', { name: 'bounds' })).body;
    for (const bad of [0, 36501, 1.5, '30']) {
      const r = await t.team.api.patch(`/projects/${p.id}`, { retention_days: bad });
      expect(r.status, String(bad)).toBe(422);
    }
    expect((await t.team.api.get(`/projects/${p.id}`)).body.retention_days).toBe(730);
  });
});
