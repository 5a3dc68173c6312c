import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildAggregates } from '../src/stores/clickhouse/queries/metrics.ts';
import { startTestServer, type TestServer, type TestTeam } from './helpers.ts';

/**
 * The aggregate tables are fed from partials the server pre-aggregates per batch (partials.ts);
 * repairs rebuild them with SQL from the points (ddl.ts AGGREGATES). Both roads must agree to the
 * bit, on data with NaN/±Inf, several hosts, hours, rollup buckets and requests per flush.
 */
let srv: TestServer;
let team: TestTeam;

beforeAll(async () => {
  srv = await startTestServer();
  team = await srv.newTeam('partials');
});
afterAll(async () => srv?.close());

const T0 = Date.UTC(2025, 2, 1, 22, 30);
const SPECIAL = ['NaN', 'Infinity', '-Infinity'] as const;

function batch(seed: number, from: number, to: number, host?: string) {
  const metrics = [];
  for (let step = from; step < to; step++) {
    for (const name of ['loss', 'acc', 'weird']) {
      let v: number | string = Math.sin(step * 0.37 + seed) * 10 + seed;
      if (name === 'weird' && step % 97 === 3) v = SPECIAL[step % 3];
      if (name === 'weird' && step % 500 === 7) v = 'NaN';
      // ~40 s a step: the points span several hours; a step maps to one timestamp on every host
      metrics.push({ metric_name: name, step, metric_value: v, timestamp: T0 + step * 40_000, ...(host ? { host } : {}) });
    }
  }
  return { metrics };
}

const READS: Record<string, string> = {
  summary: `SELECT metric_name, min(min_value), max(max_value), sum(sum_value), sum(value_count), sum(point_count), argMaxMerge(last_value), min(first_step), max(last_step), max(last_timestamp)
    FROM metrics_summary WHERE team_id = {team_id:UUID} AND experiment_id = {e:UUID} GROUP BY metric_name ORDER BY metric_name`,
  hourly: `SELECT metric_name, hour, min(min_value), max(max_value), sum(sum_value), sum(value_count), sum(point_count), argMaxMerge(last_value), min(first_step), max(last_step), max(last_timestamp)
    FROM metrics_hourly WHERE team_id = {team_id:UUID} AND experiment_id = {e:UUID} GROUP BY metric_name, hour ORDER BY metric_name, hour`,
  aggregated: `SELECT metric_name, step, min(min_value), max(max_value), sum(sum_value), sum(value_count), sum(point_count), argMaxMerge(last_value), max(last_timestamp)
    FROM metrics_aggregated WHERE team_id = {team_id:UUID} AND experiment_id = {e:UUID} GROUP BY metric_name, step ORDER BY metric_name, step`,
  rollup: `SELECT metric_name, host, bucket, argMinMerge(low_point), argMaxMerge(high_point), argMinMerge(first_point), argMaxMerge(last_point)
    FROM metrics_rollup WHERE team_id = {team_id:UUID} AND experiment_id = {e:UUID} GROUP BY metric_name, host, bucket ORDER BY metric_name, host, bucket`,
  fine: `SELECT metric_name, host, bucket, min(min_value), max(max_value), max(last_point), sum(point_count), groupBitOr(step_mask)
    FROM metrics_rollup_fine WHERE team_id = {team_id:UUID} AND experiment_id = {e:UUID} GROUP BY metric_name, host, bucket ORDER BY metric_name, host, bucket`,
};

async function readAggregates(experimentId: string) {
  const out: Record<string, unknown[]> = {};
  for (const [k, sql] of Object.entries(READS)) out[k] = await srv.ctx.ch.rows({ teamId: team.teamId }, 'test', sql, { e: experimentId });
  return out;
}

describe('pre-aggregated partials', () => {
  it('give the same summary, hourly, per-step and rollup aggregates as the SQL rebuild from the points', async () => {
    await team.api.post('/projects', { name: 'p' });
    const exp = (await team.api.post('/projects/p/experiments', { name: 'e' })).body;
    // concurrent requests land in shared flushes; hosts overlap on steps (per-step aggregates)
    const sends = [
      batch(1, 0, 700),
      batch(2, 700, 1500),
      batch(3, 1500, 1800, 'node-a'),
      batch(4, 1500, 1800, 'node-b'),
      batch(5, 1800, 1801, 'node-a'),
    ].map((b) => team.api.post('/metrics/batch/p/e', b));
    for (const r of await Promise.all(sends)) expect(r.status, JSON.stringify(r.body)).toBe(200);

    const live = await readAggregates(exp.id);
    expect(live.summary).toHaveLength(3);
    expect(live.hourly.length).toBeGreaterThan(3 * 15); // ~20 h of steps
    expect(live.aggregated).toHaveLength(3 * 301);
    expect(live.rollup.length).toBeGreaterThan(3 * 8);
    // 8-step buckets per metric: steps 0..1499 on host '' (188), 1500..1800 on node-a (39), 1500..1799 on node-b (38)
    expect(live.fine).toHaveLength(3 * (188 + 39 + 38));
    // weird: NaN and ±Inf are values like any other (min/max skip NaN only)
    const weird = live.summary.find((r) => (r as unknown[])[0] === 'weird') as unknown[];
    expect(weird[1]).toBe('-inf');
    expect(weird[2]).toBe('inf');

    await srv.ctx.writer.exclusive(() => rebuildAggregates(srv.ctx.ch, { teamId: team.teamId }, exp.project_id, exp.id));
    const rebuilt = await readAggregates(exp.id);
    // sums may differ in the last bits (the order of additions differs); everything else is exact
    const near = (x: unknown): unknown => (Array.isArray(x) ? x.map(near) : typeof x === 'number' ? Number(x.toPrecision(13)) : x);
    for (const k of Object.keys(READS)) expect(near(live[k]), k).toEqual(near(rebuilt[k]));
  });

  it('agree when one request interleaves hosts, jumps back and forth across buckets and has NaN-only buckets', async () => {
    // rollup rows are indices into columns, created in arrival order: a point landing on the wrong
    // row (a stale cached bucket or host, a row lost when the columns grow) shows up here
    await team.api.post('/projects', { name: 'mixed' });
    const exp = (await team.api.post('/projects/mixed/experiments', { name: 'shuffled' })).body;
    const hosts = ['', 'node-a', 'node-b'];
    const STEPS = 3000;
    const metrics = [];
    for (let step = 0; step < STEPS; step++) {
      for (const host of hosts) {
        for (const name of ['loss', 'gappy']) {
          // gappy: fine buckets 10 and 200 hold only NaN (on every host), and a NaN now and then
          const nan = name === 'gappy' && (Math.floor(step / 8) === 10 || Math.floor(step / 8) === 200 || step % 13 === 5);
          const v = nan ? 'NaN' : Math.sin(step * 0.37 + host.length) * 10 + step / 1000;
          metrics.push({ metric_name: name, step, metric_value: v, timestamp: T0 + step * 40_000, ...(host ? { host } : {}) });
        }
      }
    }
    let seed = 12345; // a fixed shuffle (Fisher-Yates with a small LCG): the order is the edge tested
    for (let i = metrics.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const j = seed % (i + 1);
      [metrics[i], metrics[j]] = [metrics[j], metrics[i]];
    }
    const r = await team.api.post('/metrics/batch/mixed/shuffled', { metrics });
    expect(r.status, JSON.stringify(r.body)).toBe(200);

    const live = await readAggregates(exp.id);
    expect(live.fine).toHaveLength(2 * hosts.length * (STEPS / 8));
    expect(live.rollup).toHaveLength(2 * hosts.length * Math.ceil(STEPS / 256));
    const nanOnly = live.fine.filter((row) => (row as unknown[])[0] === 'gappy' && (row as unknown[])[3] === 'nan');
    expect(nanOnly.map((row) => [(row as unknown[])[1], (row as unknown[])[2]])).toEqual(hosts.flatMap((h) => [[h, 10], [h, 200]]));

    await srv.ctx.writer.exclusive(() => rebuildAggregates(srv.ctx.ch, { teamId: team.teamId }, exp.project_id, exp.id));
    const rebuilt = await readAggregates(exp.id);
    // the rollup levels hold no sums: exact (the hourly sums of a shuffled batch differ in the last bits)
    for (const k of ['rollup', 'fine']) expect(live[k], k).toEqual(rebuilt[k]);
  });

  it('a step logged again keeps the later value as the last one', async () => {
    const exp = (await team.api.post('/projects/p/experiments', { name: 'relog' })).body;
    const m = (step: number, v: number) => ({ metric_name: 'loss', step, metric_value: v });
    expect((await team.api.post('/metrics/batch/p/relog', { metrics: [m(0, 1), m(5, 2), m(5, 3)] })).status).toBe(200);
    let s = (await team.api.get('/metrics/summary/p/relog')).body;
    expect(s.metrics.loss.last).toBe(3);
    expect((await team.api.post('/metrics/batch/p/relog', { metrics: [m(5, 4), m(1, 9)] })).status).toBe(200);
    s = (await team.api.get('/metrics/summary/p/relog')).body;
    expect(s.metrics.loss.last).toBe(4);
    expect(s.metrics.loss.last_step).toBe(5);
    expect(s.metrics.loss.first_step).toBe(0);
    expect(exp.id).toBeTruthy();
  });

  it('Native encoding round-trips 64-bit steps and timestamps, extreme doubles and Unicode hosts exactly', async () => {
    await team.api.post('/projects/p/experiments', { name: 'edges' });
    const MAX_TS = Date.UTC(2106, 1, 7, 6, 28, 15, 999); // the last storable millisecond
    const points: [number, number | string, number][] = [
      [0, -0, 0],
      [2 ** 32 - 1, 5e-324, 1],
      [2 ** 32, 1.7976931348623157e308, 2 ** 32],
      [2 ** 32 + 1, -1.7976931348623157e308, 1_700_000_000_123],
      [2 ** 40 + 7, 'Infinity', MAX_TS - 1],
      [2 ** 53 - 1, 'NaN', MAX_TS],
    ];
    const metrics = points.map(([step, v, ts]) => ({ metric_name: 'edge', step, metric_value: v, timestamp: ts, host: 'узел-1' }));
    const posted = await team.api.post('/metrics/batch/p/edges', { metrics });
    expect(posted.status, JSON.stringify(posted.body)).toBe(200);
    const got = (await team.api.get('/metrics/timeseries/p/edges/edge')).body.points;
    expect(got.map((p: { step: number }) => p.step)).toEqual(points.map((p) => p[0]));
    expect(got.map((p: { timestamp: string }) => Date.parse(p.timestamp))).toEqual(points.map((p) => p[2]));
    expect(got.map((p: { value: unknown }) => p.value)).toEqual([0, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 'Infinity', 'NaN']);
    expect(new Set(got.map((p: { host: string }) => p.host))).toEqual(new Set(['узел-1']));
    const s = (await team.api.get('/metrics/summary/p/edges')).body.metrics.edge;
    // beyond storage: a clear 422 naming the point, and nothing of the batch written
    for (const timestamp of [MAX_TS + 1, '9999-12-31T00:00:00Z']) {
      const r = await team.api.post('/metrics/batch/p/edges', { metrics: [{ metric_name: 'edge', step: 1, metric_value: 1 }, { metric_name: 'edge', step: 2, metric_value: 1, timestamp }] });
      expect(r.status).toBe(422);
      expect(r.body.detail[0].loc).toEqual(['body', 'metrics', 1, 'timestamp']);
    }
    expect(s).toMatchObject({ count: 6, first_step: 0, last_step: 2 ** 53 - 1, last: 'NaN', min: -1.7976931348623157e308, max: 'Infinity' });
  });
});
