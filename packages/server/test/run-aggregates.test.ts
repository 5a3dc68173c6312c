import { describe, expect, it } from 'vitest';
import { defaultConfig, defaultDirection, type MetricConfig } from '../src/services/metric-config.ts';
import { aggregateRuns } from '../src/services/run-aggregates.ts';
import type { Tenant } from '../src/stores/postgres/tenant.ts';
import { seedRun, useTestServer } from './helpers.ts';

const t = useTestServer('aggregates');
const tenant = (): Tenant => ({ teamId: t.team.teamId, userId: t.team.userId, role: 'admin', keyId: '00000000-0000-0000-0000-000000000000', sessionId: null });
const cfg = (name: string, over: Partial<MetricConfig> = {}): MetricConfig => ({ ...defaultConfig(name), ...over });
const log = async (p: string, e: string, metrics: { metric_name: string; metric_value: number | string; step: number; host?: string }[]) => {
  const r = await t.team.api.post(`/metrics/batch/${p}/${e}`, { metrics });
  expect(r.status).toBe(200);
};

describe('aggregateRuns', () => {
  it('last / best / average from deduplicated points: a re-logged step counts once, the later write wins', async () => {
    const a = await seedRun(t.team.api, 'agg', 'a');
    const b = await seedRun(t.team.api, 'agg', 'b');
    const empty = await seedRun(t.team.api, 'agg', 'empty');
    // a: steps 0..100, value = step; then steps 95 and 100 re-logged (1000, 7) — each still one point.
    await log(a.projectId, a.experimentId, Array.from({ length: 101 }, (_, s) => ({ metric_name: 'acc', metric_value: s, step: s })));
    await log(a.projectId, a.experimentId, [
      { metric_name: 'acc', metric_value: 1000, step: 95 },
      { metric_name: 'acc', metric_value: 7, step: 100 },
    ]);
    // b: steps 10..19 → the final tenth is s >= 19 - 0.9, i.e. step 19 only.
    await log(b.projectId, b.experimentId, Array.from({ length: 10 }, (_, i) => ({ metric_name: 'acc', metric_value: 0.5 + i, step: 10 + i })));
    const ids = [a.experimentId, b.experimentId, empty.experimentId];

    const last = await aggregateRuns(t.srv.ctx, tenant(), a.projectId, ids, cfg('acc'));
    expect([...last]).toEqual([[a.experimentId, 7], [b.experimentId, 9.5], [empty.experimentId, null]]);

    const best = await aggregateRuns(t.srv.ctx, tenant(), a.projectId, ids, cfg('acc', { aggregation: 'best' }));
    expect(best.get(a.experimentId)).toBe(1000);
    expect(best.get(b.experimentId)).toBe(9.5);
    const bestMin = await aggregateRuns(t.srv.ctx, tenant(), a.projectId, ids, cfg('acc', { aggregation: 'best', direction: 'minimize' }));
    expect(bestMin.get(a.experimentId)).toBe(0);
    expect(bestMin.get(b.experimentId)).toBe(0.5);

    const avg = await aggregateRuns(t.srv.ctx, tenant(), a.projectId, ids, cfg('acc', { aggregation: 'average' }));
    // steps 90..100: 90+91+92+93+94+1000+96+97+98+99+7 over 11 points
    expect(avg.get(a.experimentId)).toBe((90 + 91 + 92 + 93 + 94 + 1000 + 96 + 97 + 98 + 99 + 7) / 11);
    expect(avg.get(b.experimentId)).toBe(9.5);
    expect(avg.get(empty.experimentId)).toBeNull();
  });

  // Inserts skip ClickHouse's merge pass over the inserted block (query.ts INSERT_SETTINGS), so both
  // rows of a step logged twice in one batch are stored side by side in one part: the reads collapse them.
  it('a step logged twice in one batch: the later point wins in every read, the earlier one is nowhere', async () => {
    const c = await seedRun(t.team.api, 'agg-dup', 'c');
    await log(c.projectId, c.experimentId, [
      ...Array.from({ length: 6 }, (_, s) => ({ metric_name: 'acc', metric_value: s, step: s })),
      { metric_name: 'acc', metric_value: 1000, step: 3 },
      { metric_name: 'acc', metric_value: -1, step: 3 },
    ]);
    const ids = [c.experimentId];
    expect((await aggregateRuns(t.srv.ctx, tenant(), c.projectId, ids, cfg('acc', { aggregation: 'best' }))).get(c.experimentId)).toBe(5);
    expect((await aggregateRuns(t.srv.ctx, tenant(), c.projectId, ids, cfg('acc', { aggregation: 'best', direction: 'minimize' }))).get(c.experimentId)).toBe(-1);
    const ts = await t.team.api.get(`/metrics/timeseries/${c.projectId}/${c.experimentId}/acc?limit=1000`);
    expect(ts.status).toBe(200);
    expect(ts.body.points.map((p: { step: number; value: number }) => [p.step, p.value])).toEqual([[0, 0], [1, 1], [2, 2], [3, -1], [4, 4], [5, 5]]);
  });

  it('hosts at one step combine to their mean; NaN is skipped by best and average, kept by last', async () => {
    const r = await seedRun(t.team.api, 'agg-nan', 'r');
    await log(r.projectId, r.experimentId, [
      { metric_name: 'm', metric_value: 1, step: 0, host: 'h0' },
      { metric_name: 'm', metric_value: 3, step: 0, host: 'h1' },
      { metric_name: 'm', metric_value: 'NaN', step: 9 },
      { metric_name: 'm', metric_value: 'Infinity', step: 5 },
      { metric_name: 'm', metric_value: 4, step: 10 },
      { metric_name: 'm', metric_value: 'NaN', step: 20 },
    ]);
    const ids = [r.experimentId];
    const ctx = t.srv.ctx;
    expect((await aggregateRuns(ctx, tenant(), r.projectId, ids, cfg('m'))).get(r.experimentId)).toBeNaN();
    expect((await aggregateRuns(ctx, tenant(), r.projectId, ids, cfg('m', { aggregation: 'best', direction: 'minimize' }))).get(r.experimentId)).toBe(2);
    expect((await aggregateRuns(ctx, tenant(), r.projectId, ids, cfg('m', { aggregation: 'best', direction: 'maximize' }))).get(r.experimentId)).toBe(Infinity);
    // window: steps >= 18 → only step 20, which is NaN
    expect((await aggregateRuns(ctx, tenant(), r.projectId, ids, cfg('m', { aggregation: 'average' }))).get(r.experimentId)).toBeNaN();
  });

  it('another team sees nothing', async () => {
    const r = await seedRun(t.team.api, 'agg-iso', 'r');
    await log(r.projectId, r.experimentId, [{ metric_name: 'm', metric_value: 1, step: 0 }]);
    const other = await t.srv.newTeam('other');
    const res = await aggregateRuns(t.srv.ctx, { teamId: other.teamId, userId: other.userId, role: 'admin', keyId: 'x', sessionId: null }, r.projectId, [r.experimentId], cfg('m'));
    expect(res.get(r.experimentId)).toBeNull();
  });

  it('default directions', () => {
    expect(['val/loss', 'Train_Error', 'perplexity', 'MSE', 'mae', 'wer', 'cer', 'acc', 'f1', 'reward'].map(defaultDirection)).toEqual([
      'minimize', 'minimize', 'minimize', 'minimize', 'minimize', 'minimize', 'minimize', 'maximize', 'maximize', 'maximize',
    ]);
  });
});
