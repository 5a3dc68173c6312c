import { beforeAll, describe, expect, it } from 'vitest';
import { seedRun, useTestServer } from './helpers.ts';

/** POST /metrics/series: many series, raw or full-fidelity buckets, one request. */
const t = useTestServer('series');
const T0 = Date.UTC(2026, 0, 1);
let projectId: string;
let big: string; // 1,000,000 steps, a spike at 123,457
let small: string;

const N = 1_000_000;
const SPIKE = 123_457;
const wave = (s: number) => (s % 1000) / 1000;

async function log(experimentId: string, metric: string, steps: number[], values: (number | string)[], extra: Record<string, unknown> = {}) {
  const r = await t.team.api.post(`/metrics/batch/${projectId}/${experimentId}`, {
    series: [{ metric_name: metric, steps, values, timestamps: steps.map((s) => T0 + s), ...extra }],
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

const series = (body: Record<string, unknown>) => t.team.api.post('/metrics/series', { project_id: projectId, ...body });

beforeAll(async () => {
  ({ projectId, experimentId: big } = await seedRun(t.team.api, 'charts', 'big'));
  small = (await seedRun(t.team.api, 'charts', 'small')).experimentId;
  for (let from = 0; from < N; from += 200_000) {
    const steps = Array.from({ length: 200_000 }, (_, i) => from + i);
    await log(big, 'loss', steps, steps.map((s) => (s === SPIKE ? 1000 : wave(s))));
  }
}, 240_000);

describe('POST /metrics/series', () => {
  it('1,000,000 points, whole history → an overview from the 256-step rollup; the single spike is the max of its bucket (a 1-in-1000 sample misses it)', async () => {
    const r = await series({ series: [{ experiment_id: big, metric_name: 'loss' }], buckets: 1000 });
    expect(r.status).toBe(200);
    const [s] = r.body.series;
    expect([s.experiment_id, s.metric_name, s.total_points, s.first_step, s.last_step, s.mode]).toEqual([big, 'loss', N, 0, N - 1, 'buckets']);
    // 3,907 rollup buckets of 256 steps, 4 per output bucket: 977 buckets of 1,024 steps
    const d = s.data;
    const B = 977;
    expect(d.step_start).toEqual(Array.from({ length: B }, (_, b) => b * 1024));
    expect(d.step_end).toEqual(Array.from({ length: B }, (_, b) => Math.min(N - 1, b * 1024 + 1023)));
    expect(d.count).toEqual(Array(B).fill(null));
    expect(d.min).toEqual(Array.from({ length: B }, (_, b) => (b === B - 1 ? 0.424 : 0)));
    expect(d.max).toEqual(Array.from({ length: B }, (_, b) => (b === Math.floor(SPIKE / 1024) ? 1000 : 0.999)));
    expect(d.last_step).toEqual(d.step_end);
    expect(d.last).toEqual(d.step_end.map(wave));
    expect(d.last_timestamp).toEqual(d.step_end.map((e: number) => T0 + e));
    // what a uniform 1-in-1000 sample would have shown
    const sampled = Array.from({ length: 1000 }, (_, b) => wave(b * 1000));
    expect(Math.max(...sampled)).toBe(0);
  });

  it('fewer than 256 steps per bucket: whole 8-step fine-rollup buckets (100 → 104 steps), with counts', async () => {
    const r = await series({ series: [{ experiment_id: big, metric_name: 'loss' }], buckets: 10_000 });
    const [s] = r.body.series;
    expect([s.total_points, s.first_step, s.last_step, s.mode]).toEqual([N, 0, N - 1, 'buckets']);
    const d = s.data;
    const B = Math.ceil(N / 104);
    expect(d.step_start).toEqual(Array.from({ length: B }, (_, b) => b * 104));
    expect(d.count).toEqual(Array.from({ length: B }, (_, b) => (b === B - 1 ? N - (B - 1) * 104 : 104)));
    expect(d.max[Math.floor(SPIKE / 104)]).toBe(1000);
    expect(d.max.filter((v: number) => v === 1000)).toHaveLength(1);
    expect(d.last_step).toEqual(d.step_start.map((x: number) => Math.min(N - 1, x + 103)));
    expect(d.last).toEqual(d.last_step.map(wave));
  });

  it('a step window clips the buckets to the data and is raw once its points fit', async () => {
    const zoom = await series({ series: [{ experiment_id: big, metric_name: 'loss' }], buckets: 10, step_min: 995_000, step_max: 2_000_000 });
    const z = zoom.body.series[0];
    expect([z.total_points, z.first_step, z.last_step, z.mode]).toEqual([5000, 995_000, 999_999, 'buckets']);
    expect(z.data.step_start).toEqual([995_000, 995_500, 996_000, 996_500, 997_000, 997_500, 998_000, 998_500, 999_000, 999_500]);
    expect(z.data.count).toEqual(Array(10).fill(500));
    expect(z.data.max).toEqual([0.499, 0.999, 0.499, 0.999, 0.499, 0.999, 0.499, 0.999, 0.499, 0.999]);

    const raw = await series({ series: [{ experiment_id: big, metric_name: 'loss' }], buckets: 100, step_min: SPIKE - 2, step_max: SPIKE + 97 });
    const w = raw.body.series[0];
    expect([w.total_points, w.first_step, w.last_step, w.mode]).toEqual([100, SPIKE - 2, SPIKE + 97, 'raw']);
    expect(w.data.steps).toEqual(Array.from({ length: 100 }, (_, i) => SPIKE - 2 + i));
    expect(w.data.values.slice(0, 4)).toEqual([0.455, 0.456, 1000, 0.458]);
    expect(w.data.timestamps[2]).toBe(T0 + SPIKE);

    // the live-update poll: nothing after the last step
    const none = await series({ series: [{ experiment_id: big, metric_name: 'loss' }], step_min: N });
    expect(none.body.series[0]).toEqual({ experiment_id: big, metric_name: 'loss', total_points: 0, first_step: null, last_step: null, mode: 'raw', data: { steps: [], values: [], timestamps: [] } });
  });

  it('raw below the bucket count: every point, NaN and ±Inf as strings', async () => {
    await log(small, 'odd', [0, 1, 2, 3, 4], [1.5, 'NaN', 'Infinity', '-Infinity', -2]);
    const r = await series({ series: [{ experiment_id: small, metric_name: 'odd' }], buckets: 5 });
    expect(r.body.series[0]).toEqual({
      experiment_id: small, metric_name: 'odd', total_points: 5, first_step: 0, last_step: 4, mode: 'raw',
      data: { steps: [0, 1, 2, 3, 4], values: [1.5, 'NaN', 'Infinity', '-Infinity', -2], timestamps: [0, 1, 2, 3, 4].map((s) => T0 + s) },
    });
  });

  it('buckets: min/max ignore NaN (null when all NaN), ±Inf count, last is the value at the highest step', async () => {
    await log(small, 'nan', [0, 1, 2, 3, 4, 5, 6, 7], ['NaN', 'NaN', 3, 'NaN', 'Infinity', 1, -1, '-Infinity']);
    const r = await series({ series: [{ experiment_id: small, metric_name: 'nan' }], buckets: 4 });
    const s = r.body.series[0];
    expect([s.total_points, s.mode]).toEqual([8, 'buckets']);
    expect(s.data).toEqual({
      step_start: [0, 2, 4, 6], step_end: [1, 3, 5, 7],
      min: [null, 3, 1, '-Infinity'], max: [null, 3, 'Infinity', -1], last: ['NaN', 'NaN', 1, '-Infinity'],
      last_step: [1, 3, 5, 7], last_timestamp: [1, 3, 5, 7].map((x) => T0 + x), count: [2, 2, 2, 2],
    });
  });

  it('the 256-step overview keeps ±Inf extremes (ClickHouse writes them as inf/-inf)', async () => {
    const steps = Array.from({ length: 2048 }, (_, i) => i);
    const values = steps.map((i) => (i === 300 ? 'Infinity' : i === 1500 ? '-Infinity' : i === 700 ? 'NaN' : i % 7));
    await log(small, 'inf-overview', steps, values);
    const r = await series({ series: [{ experiment_id: small, metric_name: 'inf-overview' }], buckets: 4 });
    const d = r.body.series[0].data;
    expect(d.step_start).toEqual([0, 512, 1024, 1536]);
    expect(d.max).toEqual(['Infinity', 6, 6, 6]);
    expect(d.min).toEqual([0, 0, '-Infinity', 0]);
  });

  it('a re-logged step counts once with its later value', async () => {
    await log(small, 'relog', [0, 1, 2, 3], [10, 11, 12, 13]);
    await log(small, 'relog', [1, 2], [-50, 99]);
    const raw = await series({ series: [{ experiment_id: small, metric_name: 'relog' }] });
    expect(raw.body.series[0].data.values).toEqual([10, -50, 99, 13]);
    expect(raw.body.series[0].total_points).toBe(4);
    // the whole history sizes itself from the summary table (6 writes): buckets, yet counts from the points
    const full = await series({ series: [{ experiment_id: small, metric_name: 'relog' }], buckets: 5 });
    expect(full.body.series[0]).toMatchObject({ total_points: 4, first_step: 0, last_step: 3, mode: 'buckets' });
    expect(full.body.series[0].data).toMatchObject({ step_start: [0, 1, 2, 3], step_end: [0, 1, 2, 3], count: [1, 1, 1, 1], max: [10, -50, 99, 13] });
    const windowed = await series({ series: [{ experiment_id: small, metric_name: 'relog' }], buckets: 5, step_min: 0 });
    expect(windowed.body.series[0]).toMatchObject({ total_points: 4, mode: 'raw' });
    const b = await series({ series: [{ experiment_id: small, metric_name: 'relog' }], buckets: 2 });
    expect(b.body.series[0].data).toMatchObject({ min: [-50, 13], max: [10, 99], count: [2, 2], last: [-50, 13] });
  });

  it('host: without it each host\'s point is listed; with it only that host\'s', async () => {
    await log(small, 'gpu', [0, 1], [1, 2], { host: 'a' });
    await log(small, 'gpu', [0, 1], [5, 6], { host: 'b' });
    const all = await series({ series: [{ experiment_id: small, metric_name: 'gpu' }] });
    expect(all.body.series[0].data).toEqual({ steps: [0, 0, 1, 1], values: [1, 5, 2, 6], timestamps: [T0, T0, T0 + 1, T0 + 1] });
    const b = await series({ series: [{ experiment_id: small, metric_name: 'gpu' }], host: 'b' });
    expect(b.body.series[0].data.values).toEqual([5, 6]);
    const bucketed = await series({ series: [{ experiment_id: small, metric_name: 'gpu' }], buckets: 1 });
    expect(bucketed.body.series[0].data).toMatchObject({ min: [1], max: [6], count: [4], last_step: [1] });
    expect([2, 6]).toContain(bucketed.body.series[0].data.last[0]); // several hosts at the highest step: one of theirs
  });

  it('answers in request order, ids or names as sent, an unlogged metric empty', async () => {
    const r = await series({
      series: [
        { experiment_id: 'small', metric_name: 'odd' },
        { experiment_id: big, metric_name: 'nope' },
        { experiment_id: small, metric_name: 'relog' },
        { experiment_id: 'small', metric_name: 'odd' },
        { experiment_id: 'big', metric_name: 'loss' },
      ],
      buckets: 10,
    });
    expect(r.status).toBe(200);
    expect(r.body.series.map((s: any) => [s.experiment_id, s.metric_name, s.total_points, s.mode])).toEqual([
      ['small', 'odd', 5, 'raw'], [big, 'nope', 0, 'raw'], [small, 'relog', 4, 'raw'], ['small', 'odd', 5, 'raw'], ['big', 'loss', N, 'buckets'],
    ]);
    expect(r.body.series[4].data.max).toEqual([0.999, 1000, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999]);
    expect(r.body.series[0]).toEqual(r.body.series[3]);
  });

  it('fields: only the chosen arrays of each mode, the rest of the answer unchanged', async () => {
    const asked = { series: [{ experiment_id: small, metric_name: 'odd' }, { experiment_id: big, metric_name: 'loss' }], buckets: 10 };
    const full = await series(asked);
    const picked = await series({ ...asked, fields: ['steps', 'values', 'last', 'last_step', 'min', 'max'] });
    expect(picked.status).toBe(200);
    const [raw, buckets] = picked.body.series;
    expect(raw).toEqual({ ...full.body.series[0], data: { steps: [0, 1, 2, 3, 4], values: [1.5, 'NaN', 'Infinity', '-Infinity', -2] } });
    const d = full.body.series[1].data;
    expect(buckets).toEqual({ ...full.body.series[1], data: { last: d.last, last_step: d.last_step, min: d.min, max: d.max } });
    expect((await series({ ...asked, fields: ['nope'] })).status).toBe(422);
    expect((await series({ ...asked, fields: [] })).status).toBe(422);
  });

  it('experiment_ids: every metric of the runs, by metric name then run as sent, each as if asked by name', async () => {
    const a = (await seedRun(t.team.api, 'charts', 'all-a')).experimentId;
    const b = (await seedRun(t.team.api, 'charts', 'all-b')).experimentId;
    await log(a, 'val/acc', [0, 1, 2], [0.1, 0.2, 0.3]);
    await log(a, 'loss', [0, 1], [2, 1]);
    await log(b, 'loss', [5], [3]);
    const r = await series({ experiment_ids: ['all-b', a, 'all-b'], buckets: 2 });
    expect(r.status).toBe(200);
    expect(r.body.truncated).toBe(false);
    expect(r.body.series.map((s: any) => [s.experiment_id, s.metric_name])).toEqual([['all-b', 'loss'], [a, 'loss'], [a, 'val/acc']]);
    const named = await series({ series: r.body.series.map((s: any) => ({ experiment_id: s.experiment_id, metric_name: s.metric_name })), buckets: 2 });
    expect(r.body.series).toEqual(named.body.series);
    expect(r.body.series[2]).toMatchObject({ mode: 'buckets', total_points: 3, data: { last: [0.2, 0.3], max: [0.2, 0.3] } });
    // the metric list comes from the runs, so a big run's million points are overviewed as when asked by name
    const long = await series({ experiment_ids: [big], buckets: 1000, fields: ['max'] });
    expect(long.body.series.map((s: any) => s.metric_name)).toEqual(['loss']);
    expect(long.body.series[0].data.max[Math.floor(SPIKE / 1024)]).toBe(1000);
    expect(Object.keys(long.body.series[0].data)).toEqual(['max']);
  });

  it('experiment_ids: more than 500 series → the first 500 and truncated: true; 422 with both or neither of series and experiment_ids', async () => {
    const runs = await Promise.all(['wide-a', 'wide-b'].map(async (n) => (await seedRun(t.team.api, 'charts', n)).experimentId));
    const names = Array.from({ length: 251 }, (_, i) => `m${String(i).padStart(3, '0')}`);
    for (const id of runs) {
      const w = await t.team.api.post(`/metrics/batch/${projectId}/${id}`, { series: names.map((metric_name) => ({ metric_name, steps: [0], values: [1] })) });
      expect(w.status).toBe(200);
    }
    const r = await series({ experiment_ids: runs });
    expect(r.status).toBe(200);
    expect(r.body.truncated).toBe(true);
    expect(r.body.series).toHaveLength(500);
    expect(r.body.series.at(-1)).toMatchObject({ experiment_id: runs[1], metric_name: 'm249' });
    const one = { experiment_id: small, metric_name: 'odd' };
    expect((await series({ series: [one], experiment_ids: [small] })).status).toBe(422);
    expect((await series({ buckets: 10 })).status).toBe(422);
    expect((await series({ experiment_ids: [] })).status).toBe(422);
    expect((await series({ experiment_ids: ['no-such-run'] })).status).toBe(404);
  });

  it("another team's run, or one that does not exist, is a 404 for the whole request", async () => {
    const other = await t.srv.newTeam('series-other');
    const theirs = await seedRun(other.api, 'charts', 'theirs');
    await other.api.post(`/metrics/batch/${theirs.projectId}/${theirs.experimentId}`, { metrics: [{ metric_name: 'loss', metric_value: 7, step: 0 }] });
    const mixed = await series({ series: [{ experiment_id: small, metric_name: 'odd' }, { experiment_id: theirs.experimentId, metric_name: 'loss' }] });
    expect(mixed.status).toBe(404);
    expect(JSON.stringify(mixed.body)).not.toContain('"7"');
    const foreignProject = await t.team.api.post('/metrics/series', { project_id: theirs.projectId, series: [{ experiment_id: theirs.experimentId, metric_name: 'loss' }] });
    expect(foreignProject.status).toBe(404);
    expect((await series({ series: [{ experiment_id: 'no-such-run', metric_name: 'loss' }] })).status).toBe(404);
    // the owner gets it
    const own = await other.api.post('/metrics/series', { project_id: theirs.projectId, series: [{ experiment_id: theirs.experimentId, metric_name: 'loss' }] });
    expect(own.body.series[0].data.values).toEqual([7]);
  });

  it('422 for 501 series, 0 or 10,001 buckets, step_min > step_max, a missing metric name', async () => {
    const one = { experiment_id: small, metric_name: 'odd' };
    expect((await series({ series: Array(501).fill(one) })).status).toBe(422);
    expect((await series({ series: Array(500).fill(one), buckets: 1 })).status).toBe(200);
    expect((await series({ series: [one], buckets: 0 })).status).toBe(422);
    expect((await series({ series: [one], buckets: 10_001 })).status).toBe(422);
    expect((await series({ series: [] })).status).toBe(422);
    const inverted = await series({ series: [one], step_min: 5, step_max: 4 });
    expect(inverted.status).toBe(422);
    expect(JSON.stringify(inverted.body)).toContain('step_min');
    expect((await series({ series: [{ experiment_id: small }] })).status).toBe(422);
  });
});
