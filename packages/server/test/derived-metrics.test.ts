import { describe, expect, it } from 'vitest';
import { metricConfigs } from '../src/services/metric-config.ts';
import { aggregateRuns } from '../src/services/run-aggregates.ts';
import type { Tenant } from '../src/stores/postgres/tenant.ts';
import { seedRun, useTestServer } from './helpers.ts';

const t = useTestServer('derived');
const tenant = (): Tenant => ({ teamId: t.team.teamId, userId: t.team.userId, role: 'admin', keyId: '00000000-0000-0000-0000-000000000000', sessionId: null });
type Point = { metric_name: string; metric_value: number | string; step: number; host?: string };
const log = async (p: string, e: string, metrics: Point[]) => {
  for (let i = 0; i < metrics.length; i += 10_000) expect((await t.team.api.post(`/metrics/batch/${p}/${e}`, { metrics: metrics.slice(i, i + 10_000) })).status).toBe(200);
};
const define = async (project: string, name: string, expression: string) => {
  const r = await t.team.api.put(`/projects/${project}/metrics/${encodeURIComponent(name)}`, { source_type: 'derived', expression });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
};
const series = (p: string, e: string, name: string, q = '') => t.team.api.get(`/metrics/timeseries/${p}/${e}/${encodeURIComponent(name)}${q}`);

const val = (s: number) => 1 / (s + 1) + 0.1;
const train = (s: number) => 1 / (s + 2);

describe('derived metrics', () => {
  it('`val/loss` - `train/loss` at every step where both exist, exactly; NaN/Inf flow through', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'dm', 'r1');
    const pts: Point[] = [];
    for (let s = 0; s < 100; s++) {
      pts.push({ metric_name: 'val/loss', metric_value: val(s), step: s });
      if (s !== 50) pts.push({ metric_name: 'train/loss', metric_value: train(s), step: s }); // step 50: no train point → no derived point
    }
    pts.push({ metric_name: 'val/loss', metric_value: 'Infinity', step: 100 }, { metric_name: 'train/loss', metric_value: 1, step: 100 });
    pts.push({ metric_name: 'val/loss', metric_value: 'NaN', step: 101 }, { metric_name: 'train/loss', metric_value: 1, step: 101 });
    pts.push({ metric_name: 'train/loss', metric_value: 5, step: 102 }); // only one side
    await log(projectId, experimentId, pts);
    await define('dm', 'gap', '`val/loss` - `train/loss`');
    await define('dm', 'odd', 'log(`train/loss` - 1) + 1 / (`val/loss` - `val/loss`)');

    const r = await series(projectId, experimentId, 'gap', '?limit=1000');
    expect(r.status).toBe(200);
    const expected = Array.from({ length: 100 }, (_, s) => s)
      .filter((s) => s !== 50)
      .map((s) => ({ step: s, value: val(s) - train(s) }));
    expected.push({ step: 100, value: 'Infinity' as never }, { step: 101, value: 'NaN' as never });
    expect(r.body.points.map((p: any) => ({ step: p.step, value: p.value }))).toEqual(expected);
    expect(r.body).toMatchObject({ metric_name: 'gap', count: 101, downsampled: false, truncated: false, next_step_min: null });

    // log(0) = -inf, log(negative) = NaN, x/0: ±inf or NaN — ClickHouse's float semantics, kept as values
    const odd = await series(projectId, experimentId, 'odd', '?step_min=99&step_max=101');
    expect(odd.body.points.map((p: any) => [p.step, p.value])).toEqual([[99, 'NaN'], [100, 'NaN'], [101, 'NaN']]);
    await define('dm', 'odd', 'log(`train/loss`) / (1 - `train/loss`)');
    const odd2 = await series(projectId, experimentId, 'odd', '?step_min=100&step_max=101');
    expect(odd2.body.points.map((p: any) => [p.step, p.value])).toEqual([[100, 'NaN'], [101, 'NaN']]); // 0/0
    await define('dm', 'odd', '1 / (1 - `train/loss`) + min(`val/loss`, 2) - max(-1e-3, 0)');
    const odd3 = await series(projectId, experimentId, 'odd', '?step_min=100&step_max=101');
    expect(odd3.body.points.map((p: any) => [p.step, p.value])).toEqual([[100, 'Infinity'], [101, 'Infinity']]); // min ignores NaN

    // paging by step
    const page = await series(projectId, experimentId, 'gap', '?limit=10&step_min=45');
    expect(page.body.points.map((p: any) => p.step)).toEqual([45, 46, 47, 48, 49, 51, 52, 53, 54, 55]);
    expect(page.body).toMatchObject({ truncated: true, next_step_min: 56 });
  });

  it('several hosts at one step combine to their mean before the expression', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'dm-hosts', 'r1');
    await log(projectId, experimentId, [
      { metric_name: 'a', metric_value: 1, step: 0, host: 'h0' },
      { metric_name: 'a', metric_value: 4, step: 0, host: 'h1' },
      { metric_name: 'b', metric_value: 0.5, step: 0 },
    ]);
    await define('dm-hosts', 'ratio', 'a / b');
    const r = await series(projectId, experimentId, 'ratio');
    expect(r.body.points.map((p: any) => [p.step, p.value])).toEqual([[0, 5]]);
  });

  it('downsampling keeps the extremes, first and last point; zoom reads exact points in the window', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'dm-ds', 'r1');
    const n = 5000;
    const pts: Point[] = [];
    for (let s = 0; s < n; s++) {
      pts.push({ metric_name: 'x', metric_value: Math.sin(s / 50), step: s });
      pts.push({ metric_name: 'y', metric_value: s === 3210 ? -100 : 0.5, step: s });
    }
    await log(projectId, experimentId, pts);
    await define('dm-ds', 'x_minus_y', 'x - y');
    const d = await series(projectId, experimentId, 'x_minus_y', '?max_points=100');
    expect(d.body.downsampled).toBe(true);
    expect(d.body.count).toBe(d.body.points.length);
    expect(d.body.count).toBeLessThanOrEqual(100);
    expect(d.body.count).toBeGreaterThan(50);
    const steps = d.body.points.map((p: any) => p.step);
    expect(steps[0]).toBe(0);
    expect(steps.at(-1)).toBe(n - 1);
    expect(steps).toEqual([...steps].sort((a: number, b: number) => a - b));
    // the spike at 3210 (x − y = sin(64.2) + 100) is the series' maximum and survives
    const spike = d.body.points.find((p: any) => p.step === 3210);
    expect(spike.value).toBe(Math.sin(3210 / 50) + 100);
    for (const p of d.body.points) expect(p.value).toBe(Math.sin(p.step / 50) - (p.step === 3210 ? -100 : 0.5));

    const z = await series(projectId, experimentId, 'x_minus_y', '?max_points=100&step_min=3200&step_max=3259');
    expect(z.body).toMatchObject({ downsampled: false, count: 60 });
    expect(z.body.points.map((p: any) => p.step)).toEqual(Array.from({ length: 60 }, (_, i) => 3200 + i));
  });

  it('summary and compare include derived metrics, computed on the fly; aggregateRuns is exact', async () => {
    const a = await seedRun(t.team.api, 'dm-agg', 'a');
    const b = await seedRun(t.team.api, 'dm-agg', 'b');
    const c = await seedRun(t.team.api, 'dm-agg', 'c');
    const mk = (off: number) => Array.from({ length: 21 }, (_, s) => [
      { metric_name: 'val/loss', metric_value: s + off, step: s },
      { metric_name: 'train/loss', metric_value: s / 2, step: s },
    ]).flat();
    await log(a.projectId, a.experimentId, mk(0));
    await log(b.projectId, b.experimentId, mk(10));
    // a re-logs step 20 of val/loss: counts once, the later value wins
    await log(a.projectId, a.experimentId, [{ metric_name: 'val/loss', metric_value: 100, step: 20 }]);
    await define('dm-agg', 'gap', '`val/loss` - `train/loss`');
    // gap(a, s) = s/2 for s < 20, gap(a, 20) = 90; gap(b, s) = s/2 + 10
    const gapA = (s: number) => (s === 20 ? 90 : s / 2);
    const gapB = (s: number) => s / 2 + 10;

    const sum = await t.team.api.get(`/metrics/summary/dm-agg/a`);
    expect(sum.body.metrics.gap).toMatchObject({ count: 21, last: 90, min: 0, max: 90, first_step: 0, last_step: 20 });
    expect(sum.body.metrics.gap.avg).toBe(Array.from({ length: 21 }, (_, s) => gapA(s)).reduce((x, y) => x + y) / 21);
    expect(Object.keys(sum.body.metrics).sort()).toEqual(['gap', 'train/loss', 'val/loss']);

    const cmp = await t.team.api.post(`/metrics/compare?project_id=dm-agg&experiment_ids=${a.experimentId}&experiment_ids=${b.experimentId}&experiment_ids=${c.experimentId}&metric_names=gap`);
    expect(cmp.status).toBe(200);
    expect(cmp.body.experiments[a.experimentId]).toEqual({ gap: expect.objectContaining({ last: 90, min: 0, max: 90, count: 21 }) });
    expect(cmp.body.experiments[b.experimentId]).toEqual({ gap: expect.objectContaining({ last: 20, min: 10, max: 20, count: 21 }) });
    expect(cmp.body.experiments[c.experimentId]).toEqual({});

    const ids = [a.experimentId, b.experimentId, c.experimentId];
    const config = (await metricConfigs(t.srv.ctx, tenant(), a.projectId, ['gap'])).get('gap')!;
    expect(config).toMatchObject({ source_type: 'derived', direction: 'maximize', configured: true });
    const agg = (over: object) => aggregateRuns(t.srv.ctx, tenant(), a.projectId, ids, { ...config, ...over });
    expect([...(await agg({ aggregation: 'last' }))]).toEqual([[a.experimentId, 90], [b.experimentId, 20], [c.experimentId, null]]);
    expect([...(await agg({ aggregation: 'best', direction: 'minimize' }))]).toEqual([[a.experimentId, 0], [b.experimentId, 10], [c.experimentId, null]]);
    expect([...(await agg({ aggregation: 'best', direction: 'maximize' }))]).toEqual([[a.experimentId, 90], [b.experimentId, 20], [c.experimentId, null]]);
    // final 10% of steps 0..20: s >= 18 → steps 18, 19, 20
    expect([...(await agg({ aggregation: 'average' }))]).toEqual([
      [a.experimentId, (gapA(18) + gapA(19) + gapA(20)) / 3],
      [b.experimentId, (gapB(18) + gapB(19) + gapB(20)) / 3],
      [c.experimentId, null],
    ]);
  });

  it('hostile expressions → 422 naming the position, and nothing changes', async () => {
    await seedRun(t.team.api, 'dm-evil', 'r1');
    await define('dm-evil', 'gap', 'a - b');
    const before = await t.team.api.get('/projects/dm-evil/metrics');
    const hostile = [
      '1); DROP TABLE metrics; --',
      'loss UNION SELECT 1',
      'sleep(1)',
      "file('x')",
      'file(x)',
      '{team_id:UUID}',
      'a + {c0:Float64}',
      '`val/loss - 1',
      'x'.repeat(5000),
      'a\u0000b',
      'a --',
      '/* x */ a',
      'a; b',
      'toString(a)',
      "a + 'x'",
      '"a"',
      '(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))',
    ];
    for (const expression of hostile) {
      for (const name of ['gap', 'new']) {
        const r = await t.team.api.put(`/projects/dm-evil/metrics/${name}`, { source_type: 'derived', expression });
        expect(r.status, expression).toBe(422);
        expect(r.body.detail[0].msg, expression).toMatch(/^invalid expression at position \d+: /);
        expect(r.body.detail[0].position, expression).toBeGreaterThan(0);
      }
    }
    const bad = await t.team.api.put('/projects/dm-evil/metrics/gap', { source_type: 'derived', expression: 'a + sleep(1)' });
    expect(bad.body.detail).toEqual([
      { loc: ['body', 'expression'], msg: 'invalid expression at position 5: unknown function "sleep"; expected one of abs, log, exp, sqrt, min, max', type: 'value_error.expression', position: 5 },
    ]);
    expect((await t.team.api.get('/projects/dm-evil/metrics')).body).toEqual(before.body);
  });
});
