import { beforeAll, describe, expect, it } from 'vitest';
import { seedRun, useTestServer } from './helpers.ts';

/**
 * POST /metrics/series from the fine rollup (8 steps per row, migration 7): whole-history buckets
 * must be exactly what a scan of the deduplicated points gives on the same bucket grid — spikes,
 * NaN, ±Inf, several hosts — and a series whose fine rows cannot be trusted (a re-logged step, rows
 * missing) must be scanned instead.
 */
const t = useTestServer('series-fine');
const T0 = Date.UTC(2026, 0, 1);
const N = 10_000;
// 440 buckets over 10,000 steps: a scan would make them 23 steps wide, the fine rollup 24 (3 fine
// buckets); a windowed read of 417 buckets scans the points on that same 24-step grid
const B = 440;
const SCAN_24 = 417;
const NB = Math.ceil(N / 24);
let projectId: string;
let run: string;

/** A wave with spikes up and down that a 1-in-24 sample would miss, NaN runs and ±Inf. */
function value(s: number): number | string {
  if (s === 4321) return 1000;
  if (s === 777) return -500;
  if (s >= 8016 && s < 8040) return 'NaN'; // a whole output bucket of NaN: min/max null
  if (s % 997 === 5) return 'NaN';
  if (s === 6001) return 'Infinity';
  if (s === 6100) return '-Infinity';
  return Math.round(Math.sin(s / 50) * 1000) / 1000;
}

async function log(metric: string, steps: number[], values: (number | string)[], extra: Record<string, unknown> = {}) {
  const r = await t.team.api.post(`/metrics/batch/${projectId}/${run}`, {
    series: [{ metric_name: metric, steps, values, timestamps: steps.map((s) => T0 + s * 10), ...extra }],
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

const steps = (from: number, to: number, every = 1) => Array.from({ length: Math.ceil((to - from) / every) }, (_, i) => from + i * every);
const read = async (metric: string, window: boolean, buckets = window ? SCAN_24 : B) => {
  const r = await t.team.api.post('/metrics/series', {
    project_id: projectId,
    series: [{ experiment_id: run, metric_name: metric }],
    buckets,
    ...(window ? { step_min: 0, step_max: N - 1 } : {}),
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.series[0];
};

beforeAll(async () => {
  ({ projectId, experimentId: run } = await seedRun(t.team.api, 'fine', 'run'));
  // in several batches whose edges cut fine buckets, so rows merge across inserts
  for (const [from, to] of [[0, 3001], [3001, 7005], [7005, N]]) await log('loss', steps(from, to), steps(from, to).map(value));
  // two hosts on alternate steps: buckets merge their points
  await log('gpu', steps(0, N, 2), steps(0, N, 2).map((s) => (s === 2468 ? 77 : s / N)), { host: 'node-a' });
  await log('gpu', steps(1, N, 2), steps(1, N, 2).map((s) => (s === 9999 ? -3 : -s / N)), { host: 'node-b' });
  // a spike that was re-logged away: the fine rows still hold 999 as a max
  await log('relog', steps(0, N), steps(0, N).map((s) => (s === 5000 ? 999 : s % 10)));
  await log('relog', [5000], [0.5]);
  await log('gone', steps(0, N), steps(0, N).map((s) => s % 7));
  // two hosts on the same steps: each host's rows are exact, the two together are not
  await log('twin', steps(0, N), steps(0, N).map((s) => s % 11), { host: 'node-a' });
  await log('twin', steps(0, N), steps(0, N).map((s) => -(s % 5)), { host: 'node-b' });
}, 120_000);

describe('whole-history series from the fine rollup', () => {
  it('buckets equal to a point scan on the same grid: spikes up and down, NaN (null when all NaN), ±Inf, counts, last values', async () => {
    const fine = await read('loss', false);
    const scan = await read('loss', true);
    expect(fine).toEqual(scan);
    const d = fine.data;
    expect([fine.total_points, fine.first_step, fine.last_step, fine.mode]).toEqual([N, 0, N - 1, 'buckets']);
    // 24-step buckets for 440 asked: the fine rollup was read, not a 23-step scan
    expect(d.step_start).toEqual(Array.from({ length: NB }, (_, b) => b * 24));
    expect(d.count).toEqual(Array.from({ length: NB }, (_, b) => (b === NB - 1 ? N - (NB - 1) * 24 : 24)));
    expect(d.max[Math.floor(4321 / 24)]).toBe(1000);
    expect(d.min[Math.floor(777 / 24)]).toBe(-500);
    expect([d.min[8016 / 24], d.max[8016 / 24]]).toEqual([null, null]);
    expect(d.max[Math.floor(6001 / 24)]).toBe('Infinity');
    expect(d.min[Math.floor(6100 / 24)]).toBe('-Infinity');
    expect(d.last).toEqual(d.last_step.map(value));
    expect(d.last_timestamp).toEqual(d.last_step.map((s: number) => T0 + s * 10));
  });

  it('several hosts: min/max across them, the last point at the highest step', async () => {
    const fine = await read('gpu', false);
    expect(fine).toEqual(await read('gpu', true));
    expect(fine.data.step_start[1]).toBe(24);
    expect(fine.data.max[Math.floor(2468 / 24)]).toBe(77);
    expect(fine.data.last.at(-1)).toBe(-3);
    expect(fine.data.count[0]).toBe(24);
  });

  it('several hosts on the same steps: still the fine rows (hosts kept apart in the re-logged-step check)', async () => {
    const fine = await read('twin', false);
    expect([fine.data.step_start[1], fine.data.count[0], fine.data.max[0], fine.data.min[0]]).toEqual([24, 48, 10, -4]);
    // the last point of a bucket is one of the hosts' at its highest step, not necessarily the scan's
    const { last, last_timestamp, ...same } = fine.data;
    const scan = await read('twin', true);
    expect(same).toEqual(Object.fromEntries(Object.entries(scan.data).filter(([k]) => k in same)));
    last.forEach((v: number, b: number) => expect([fine.data.last_step[b] % 11, -(fine.data.last_step[b] % 5)]).toContain(v));
    expect(last_timestamp).toEqual(scan.data.last_timestamp);
  });

  it('a re-logged step: the series is scanned, and the overwritten spike is gone', async () => {
    const whole = await read('relog', false);
    expect(whole.data.max).not.toContain(999);
    expect(whole.data.step_start[1]).toBe(23);
    expect(whole.data.max[Math.floor(5000 / 23)]).toBe(9);
    expect(whole).toEqual(await read('relog', true, B));
  });

  it('fine rows missing (an older server wrote the points): the count check sends the series to the scan', async () => {
    expect((await read('gone', false)).data.step_start[1]).toBe(24);
    await t.srv.ctx.ch.tenantCommand(
      { teamId: t.team.teamId },
      'test',
      "DELETE FROM metrics_rollup_fine WHERE team_id = {team_id:UUID} AND experiment_id = {e:UUID} AND metric_name = 'gone' AND bucket < 100 SETTINGS lightweight_deletes_sync = 2",
      { e: run },
    );
    const whole = await read('gone', false);
    expect([whole.data.step_start[1], whole.data.count[0], whole.total_points]).toEqual([23, 23, N]);
    expect(whole).toEqual(await read('gone', true, B));
  });
});
