import { describe, expect, it } from 'vitest';
import { seedRun, useTestServer, type ApiClient } from './helpers.ts';

const t = useTestServer('paging');

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

/** Follows next_step_min until the series ends; returns every page's body. */
async function readAll(api: ApiClient, path: string, query = '') {
  const pages: any[] = [];
  let stepMin: number | undefined;
  for (;;) {
    const r = await api.get(`${path}?${query}${stepMin === undefined ? '' : `&step_min=${stepMin}`}`);
    expect(r.status).toBe(200);
    pages.push(r.body);
    if (!r.body.truncated) {
      expect(r.body.next_step_min).toBeNull();
      return pages;
    }
    expect(r.body.next_step_min).toBeGreaterThan(stepMin ?? -1);
    stepMin = r.body.next_step_min;
    if (pages.length > 100) throw new Error('paging does not advance');
  }
}

describe('timeseries paging (truncated / next_step_min)', () => {
  it('a 25,000-step series read with the default limit says truncated; paging returns every step exactly once', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'p-page', 'r1');
    const steps = range(25_000);
    expect((await t.team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { series: [{ metric_name: 'loss', steps, values: steps.map((s) => s / 10) }] })).status).toBe(200);
    const path = `/metrics/timeseries/${projectId}/${experimentId}/loss`;

    const first = (await t.team.api.get(path)).body;
    expect(first).toMatchObject({ count: 10_000, truncated: true, next_step_min: 10_000, downsampled: false });

    const pages = await readAll(t.team.api, path);
    expect(pages.map((p) => p.count)).toEqual([10_000, 10_000, 5_000]);
    const got = pages.flatMap((p) => p.points);
    expect(got.map((p: any) => p.step)).toEqual(steps);
    expect(got.every((p: any) => p.value === p.step / 10)).toBe(true);

    // a series that fits is not truncated; a downsampled answer never is
    expect((await t.team.api.get(`${path}?limit=25000`)).body).toMatchObject({ count: 25_000, truncated: false, next_step_min: null });
    expect((await t.team.api.get(`${path}?max_points=100`)).body).toMatchObject({ downsampled: true, truncated: false, next_step_min: null });
    // paging inside a step window keeps to it
    const win = await readAll(t.team.api, path, 'limit=300&step_max=999');
    expect(win.flatMap((p) => p.points).map((p: any) => p.step)).toEqual(range(1000));
  });

  it('a multi-host series is never cut inside a step', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'p-page-hosts', 'r1');
    const steps = range(5_000);
    const hosts = ['rank-0', 'rank-1', 'rank-2'];
    const series = hosts.map((host, h) => ({ metric_name: 'loss', host, steps, values: steps.map((s) => s + h / 10) }));
    expect((await t.team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { series })).status).toBe(200);
    const path = `/metrics/timeseries/${projectId}/${experimentId}/loss`;

    // 10,000 rows end inside step 3333 (3 hosts per step): the page stops before it
    const first = (await t.team.api.get(path)).body;
    expect(first).toMatchObject({ count: 9_999, truncated: true, next_step_min: 3_333 });
    const pages = await readAll(t.team.api, path);
    const got = pages.flatMap((p) => p.points).map((p: any) => `${p.step}/${p.host}`);
    expect(got).toEqual(steps.flatMap((s) => hosts.map((h) => `${s}/${h}`)));

    // a limit smaller than one step's hosts: that step comes whole, and paging still advances
    const small = await readAll(t.team.api, path, 'limit=2&step_max=3');
    expect(small.map((p) => p.count)).toEqual([3, 3, 3, 3]);
    expect(small.map((p) => p.next_step_min)).toEqual([1, 2, 3, null]);
    // a host filter pages like a single-host series
    const one = await readAll(t.team.api, path, 'limit=2000&host=rank-1');
    expect(one.flatMap((p) => p.points).map((p: any) => p.step)).toEqual(steps);
  });

  it('sparse steps: next_step_min is the next stored step', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'p-page-sparse', 'r1');
    const steps = range(10).map((i) => i * 1000);
    await t.team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { series: [{ metric_name: 'm', steps, values: steps }] });
    const r = (await t.team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/m?limit=4`)).body;
    expect(r).toMatchObject({ count: 4, truncated: true, next_step_min: 4000 });
    const last = (await t.team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/m?limit=4&step_min=8000`)).body;
    expect(last).toMatchObject({ count: 2, truncated: false, next_step_min: null });
  });
});
