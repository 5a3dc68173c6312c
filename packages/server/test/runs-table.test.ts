import { beforeAll, describe, expect, it } from 'vitest';
import { seedRun, useTestServer } from './helpers.ts';

/** GET /projects/{p}/runs-table: the UI's runs table in one request, cross-checked against summary and compare. */
const t = useTestServer('runs-table');
let p: string;
const id: Record<string, string> = {};

const batch = async (run: string, metrics: { metric_name: string; metric_value: number | string; step: number; host?: string }[]) => {
  const r = await t.team.api.post(`/metrics/batch/${p}/${id[run]}`, { metrics });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
};
const points = (metric: string, values: (number | string)[], host?: string) => values.map((v, step) => ({ metric_name: metric, metric_value: v, step, ...(host ? { host } : {}) }));
const table = (query = '') => t.team.api.get(`/projects/${p}/runs-table${query}`);

beforeAll(async () => {
  for (const name of ['alpha', 'bravo', 'charlie', 'delta', 'echo']) {
    const r = await seedRun(t.team.api, 'table', name);
    p = r.projectId;
    id[name] = r.experimentId;
  }
  await t.team.api.patch(`/projects/${p}/experiments/alpha`, { tags: ['baseline'], features: { optimizer: { name: 'adam', lr: 0.001 } }, description: 'first' });
  // alpha: loss re-logs step 2 — its earlier 0.1 stays in the summary's min but not in best
  await batch('alpha', points('loss', [5, 4, 0.1, 2]));
  await batch('alpha', [{ metric_name: 'loss', metric_value: 3, step: 2 }]);
  await batch('alpha', points('acc', [0.1, 0.7, 0.4]));
  // bravo derives from alpha (and compares to charlie)
  await t.team.api.post(`/projects/${p}/experiments/bravo/references`, { to_experiment: 'alpha', kind: 'derived_from' });
  await t.team.api.post(`/projects/${p}/experiments/bravo/references`, { to_experiment: 'charlie', kind: 'compares_to' });
  await batch('bravo', points('loss', [9, 'Infinity', 1, 'NaN']));
  // charlie: two hosts at each step — best is over the per-step means (2, 1), not the points (min 0)
  await batch('charlie', points('loss', [1, 2], 'gpu0'));
  await batch('charlie', points('loss', [3, 0], 'gpu1'));
  // echo: only NaN
  await batch('echo', points('loss', ['NaN', 'NaN']));
  // acc minimized by project configuration; a derived metric over both
  expect((await t.team.api.put(`/projects/${p}/metrics/acc`, { direction: 'minimize' })).status).toBe(200);
  expect((await t.team.api.put(`/projects/${p}/metrics/gap`, { source_type: 'derived', expression: 'loss - acc' })).status).toBe(200);
}, 120_000);

describe('GET /projects/{p}/runs-table', () => {
  it('lists every run newest first with its row, lineage parents and features as stored', async () => {
    const r = await table();
    expect(r.status).toBe(200);
    expect(r.body.truncated).toBe(false);
    expect(r.body.items.map((x: any) => x.name)).toEqual(['echo', 'delta', 'charlie', 'bravo', 'alpha']);
    const alpha = r.body.items.find((x: any) => x.name === 'alpha');
    expect(alpha).toMatchObject({ id: id.alpha, status: 'running', tags: ['baseline'], description: 'first', features: { optimizer: { name: 'adam', lr: 0.001 } }, parent_ids: [], finished_at: null });
    expect(Object.keys(alpha).sort()).toEqual(
      ['created_at', 'description', 'features', 'finished_at', 'host', 'id', 'last_heartbeat_at', 'metrics', 'name', 'parent_ids', 'started_at', 'status', 'tags'].sort(),
    );
    expect(r.body.items.find((x: any) => x.name === 'bravo').parent_ids).toEqual([id.alpha, id.charlie]);
    expect(r.body.items.find((x: any) => x.name === 'delta').metrics).toEqual({});
  });

  it('names every metric with its direction and aggregation', async () => {
    const r = await table();
    expect(r.body.metrics).toEqual([
      { name: 'acc', direction: 'minimize', aggregation: 'last', configured: true },
      { name: 'gap', direction: 'maximize', aggregation: 'last', configured: true },
      { name: 'loss', direction: 'minimize', aggregation: 'last', configured: false },
    ]);
  });

  it('summaries equal GET /metrics/summary and best equals compare include=best, run by run (exact)', async () => {
    const r = await table();
    const names = Object.keys(id);
    const cmp = await t.team.api.post(`/metrics/compare?project_id=${p}&${names.map((n) => `experiment_ids=${id[n]}`).join('&')}&include=best`);
    expect(cmp.status).toBe(200);
    let cells = 0;
    for (const row of r.body.items) {
      const summary = await t.team.api.get(`/metrics/summary/${p}/${row.id}`);
      expect(Object.keys(row.metrics).sort(), row.name).toEqual(Object.keys(summary.body.metrics).sort());
      for (const [metric, s] of Object.entries<any>(summary.body.metrics)) {
        const best = cmp.body.experiments[row.id][metric].best;
        expect(row.metrics[metric], `${row.name}/${metric}`).toEqual({ last: s.last, min: s.min, max: s.max, count: s.count, last_step: s.last_step, best });
        cells++;
      }
    }
    expect(cells).toBe(6);
    // and the values themselves, so the cross-check cannot pass on two equal mistakes
    const m = (name: string) => r.body.items.find((x: any) => x.name === name).metrics;
    expect(m('alpha').loss).toEqual({ last: 2, min: 0.1, max: 5, best: 2, count: 5, last_step: 3 });
    expect(m('alpha').acc).toEqual({ last: 0.4, min: 0.1, max: 0.7, best: 0.1, count: 3, last_step: 2 });
    expect(m('alpha').gap).toMatchObject({ best: 5 - 0.1, count: 3, last_step: 2 }); // gap = loss - acc, maximized by default
    expect(m('bravo').loss).toEqual({ last: 'NaN', min: 1, max: 'Infinity', best: 1, count: 4, last_step: 3 });
    expect(m('charlie').loss).toMatchObject({ min: 0, max: 3, best: 1, count: 4 });
    expect(m('echo').loss).toEqual({ last: 'NaN', min: null, max: null, best: 'NaN', count: 2, last_step: 1 });
  });

  it('since: only runs changed, heartbeating or written to after the time', async () => {
    const mark1 = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    expect((await t.team.api.patch(`/projects/${p}/experiments/alpha`, { tags: ['baseline', 'seen'] })).status).toBe(200);
    expect((await table(`?since=${encodeURIComponent(mark1)}`)).body.items.map((x: any) => x.name)).toEqual(['alpha']);
    const mark2 = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    await batch('delta', points('loss', [7]));
    const after = await table(`?since=${encodeURIComponent(mark2)}`);
    expect(after.body.items.map((x: any) => [x.name, x.metrics.loss?.last])).toEqual([['delta', 7]]);
    const mark3 = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    expect((await t.team.api.post(`/projects/${p}/experiments/echo/heartbeat`)).status).toBe(200);
    expect((await table(`?since=${encodeURIComponent(mark3)}`)).body.items.map((x: any) => x.name)).toEqual(['echo']);
    expect((await table('?since=yesterday')).status).toBe(422);
  });

  it('soft-deleted runs only with include_deleted=true', async () => {
    const del = await t.team.api.post('/api/2.0/mlflow/runs/delete', { run_id: id.delta.replace(/-/g, '') });
    expect(del.status).toBe(200);
    expect((await table()).body.items.map((x: any) => x.name)).not.toContain('delta');
    expect((await table('?include_deleted=true')).body.items.map((x: any) => x.name)).toContain('delta');
  });

  it("another team's project is a 404", async () => {
    const other = await t.srv.newTeam('table-other');
    expect((await other.api.get(`/projects/${p}/runs-table`)).status).toBe(404);
    expect((await other.api.get('/projects/table/runs-table')).status).toBe(404);
  });
});

/**
 * `best` comes from the fine rollup's extremes unless a bucket holds a re-logged step; these re-logs
 * make a stored extreme stale (must fall back to the exact rule) or move it (must follow it).
 */
describe('runs-table best after re-logged steps (the later write wins)', () => {
  const rid: Record<string, string> = {};
  let rp: string;
  const post = async (run: string, metrics: { metric_name: string; metric_value: number | string; step: number }[]) => {
    const r = await t.team.api.post(`/metrics/batch/${rp}/${rid[run]}`, { metrics });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };
  const best = async () => {
    const r = await t.team.api.get(`/projects/${rp}/runs-table`);
    expect(r.status).toBe(200);
    const names = Object.keys(rid);
    const cmp = await t.team.api.post(`/metrics/compare?project_id=${rp}&${names.map((n) => `experiment_ids=${rid[n]}`).join('&')}&include=best`);
    const out: Record<string, Record<string, unknown>> = {};
    for (const row of r.body.items) {
      out[row.name] = Object.fromEntries(Object.entries<any>(row.metrics).map(([m, c]) => [m, c.best]));
      for (const [m, c] of Object.entries<any>(row.metrics)) expect(c.best, `${row.name}/${m} vs compare`).toEqual(cmp.body.experiments[row.id][m].best);
    }
    return out;
  };

  it('a worse re-log of the extreme gives the next live value, a better one is taken, NaN skipped, across rollup buckets', async () => {
    for (const name of ['better', 'worse', 'long', 'nan', 'same', 'nanfirst']) {
      const r = await seedRun(t.team.api, 'relog', name);
      rp = r.projectId;
      rid[name] = r.experimentId;
    }
    const series = (metric: string, values: (number | string)[]) => values.map((v, step) => ({ metric_name: metric, metric_value: v, step }));
    await post('better', series('loss', [5, 4, 3, 2]));
    await post('worse', [...series('loss', [5, 0.1, 3, 2]), ...series('score', [1, 9, 3])]);
    await post('long', series('loss', Array.from({ length: 600 }, (_, s) => 1000 - s))); // minimum 401 at step 599, third rollup bucket
    await post('nan', series('loss', [3, 1]));
    await post('same', series('loss', [7, 6]));
    await post('nanfirst', series('loss', [...Array(8).fill('NaN'), 4, 2])); // a first bucket of NaN only
    expect(await best()).toEqual({
      nanfirst: { loss: 2 },
      same: { loss: 6 },
      nan: { loss: 1 },
      long: { loss: 401 },
      worse: { loss: 0.1, score: 9 },
      better: { loss: 2 },
    });
    await post('better', [{ metric_name: 'loss', metric_value: 0.5, step: 1 }]);
    await post('worse', [{ metric_name: 'loss', metric_value: 9, step: 1 }, { metric_name: 'score', metric_value: 2, step: 1 }]);
    await post('long', [{ metric_name: 'loss', metric_value: 1000, step: 599 }]);
    await post('nan', [{ metric_name: 'loss', metric_value: 'NaN', step: 1 }]);
    await post('same', [{ metric_name: 'loss', metric_value: 6, step: 1 }]);
    await post('nanfirst', [{ metric_name: 'loss', metric_value: 'NaN', step: 9 }]);
    expect(await best()).toEqual({
      nanfirst: { loss: 4 },
      same: { loss: 6 },
      nan: { loss: 3 },
      long: { loss: 402 },
      worse: { loss: 2, score: 3 },
      better: { loss: 0.5 },
    });
    // the stale maximum re-logged higher again: the rollup's extreme is live once more
    await post('worse', [{ metric_name: 'score', metric_value: 11, step: 0 }]);
    expect((await best()).worse).toEqual({ loss: 2, score: 11 });
  });
});
