import { describe, expect, it } from 'vitest';
import { useTestServer } from './helpers.ts';

/**
 * search_runs reads from PostgreSQL only the runs a filter's param/tag equalities can match (SQL
 * pre-filters, then the exact check in memory) and the filtered/ordered metrics of the whole
 * experiment from ClickHouse at the same time. These pin the answers those shortcuts must not
 * change: runs written by Assay's own API (numeric and nested features, plain string tags) match
 * exactly as the in-memory evaluation says, and metric filters/orders see every run.
 */
const t = useTestServer('mlflow-search');
const M = '/api/2.0/mlflow';

async function search(body: Record<string, unknown>): Promise<string[]> {
  const r = await t.team.api.post(`${M}/runs/search`, body);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return ((r.body.runs ?? []) as { info: { run_name: string } }[]).map((x) => x.info.run_name);
}

describe('MLflow search_runs pre-filters', () => {
  it('param and tag equalities match runs logged through either API, and nothing else', async () => {
    const api = t.team.api;
    const p = await api.post('/projects', { name: 'prefilter' });
    const hex = (p.body.id as string).replace(/-/g, '');
    const mk = async (name: string, start: number, params: [string, string][], tags: [string, string][]) => {
      const r = await api.post(`${M}/runs/create`, { experiment_id: hex, run_name: name, start_time: start });
      const b = await api.post(`${M}/runs/log-batch`, { run_id: r.body.run.info.run_id, params: params.map(([key, value]) => ({ key, value })), tags: tags.map(([key, value]) => ({ key, value })) });
      expect(b.status).toBe(200);
    };
    await mk('m1', 1_000, [['lr', '0.01']], [['team', 'a']]);
    await mk('m2', 2_000, [['lr', '0.1']], [['team', 'b']]);
    await mk('m3', 3_000, [['lr', '0.010']], [['team', 'a ']]);
    // Assay's own API: a numeric feature reads back as the param "0.01", a nested one as "opt.lr", a string tag as a tag with value ''
    const own = async (name: string, started: string, body: Record<string, unknown>) => {
      const e = await api.post(`/projects/${p.body.id}/experiments`, { name, started_at: started, ...body });
      expect(e.status, JSON.stringify(e.body)).toBe(201);
    };
    await own('a1', '1970-01-01T00:00:04Z', { features: { lr: 0.01, opt: { lr: '0.01' } }, tags: ['team'] });
    await own('a2', '1970-01-01T00:00:05Z', { features: { lr: [0.01] }, tags: ['other'] });

    const ids = [hex];
    expect(await search({ experiment_ids: ids, filter: "params.lr = '0.01'" })).toEqual(['a1', 'm1']);
    expect(await search({ experiment_ids: ids, filter: "params.lr IN ('0.01', '0.1')", order_by: ['attributes.start_time ASC'] })).toEqual(['m1', 'm2', 'a1']);
    expect(await search({ experiment_ids: ids, filter: "params.lr = '[0.01]'" })).toEqual(['a2']);
    expect(await search({ experiment_ids: ids, filter: "params.`opt.lr` = '0.01'" })).toEqual(['a1']);
    expect(await search({ experiment_ids: ids, filter: "tags.team = 'a'" })).toEqual(['m1']);
    expect(await search({ experiment_ids: ids, filter: "tags.team = ''" })).toEqual(['a1']);
    expect(await search({ experiment_ids: ids, filter: "tags.team IN ('a', 'b') AND params.lr != '0.01'" })).toEqual(['m2']);
    expect(await search({ experiment_ids: ids, filter: "tags.`mlflow.runName` = 'm3'" })).toEqual(['m3']);
  });

  it('metric filters and orders see every run of the experiment; the page carries all its latest metrics', async () => {
    const api = t.team.api;
    const exp = await api.post(`${M}/experiments/create`, { name: 'metric-order' });
    const ids = [exp.body.experiment_id];
    for (let i = 0; i < 12; i++) {
      const r = await api.post(`${M}/runs/create`, { experiment_id: exp.body.experiment_id, run_name: `r${i}`, start_time: 1_000 + i });
      const metrics = [
        { key: 'loss', value: i % 4, timestamp: 1, step: 0 },
        { key: 'loss', value: 10 - i, timestamp: 2, step: 1 }, // the latest step's value is the one compared
        { key: 'acc', value: i / 10, timestamp: 2, step: 1 },
      ];
      expect((await api.post(`${M}/runs/log-batch`, { run_id: r.body.run.info.run_id, metrics, params: [{ key: 'k', value: String(i % 3) }] })).status).toBe(200);
    }
    expect(await search({ experiment_ids: ids, filter: 'metrics.loss < 4', order_by: ['metrics.acc DESC'] })).toEqual(['r11', 'r10', 'r9', 'r8', 'r7']);
    expect(await search({ experiment_ids: ids, filter: "metrics.loss >= 5 AND params.k = '1'", order_by: ['metrics.loss ASC'], max_results: 2 })).toEqual(['r4', 'r1']);
    const page = await api.post(`${M}/runs/search`, { experiment_ids: ids, order_by: ['metrics.loss DESC'], max_results: 1 });
    expect(page.body.runs[0].data.metrics.sort((a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key))).toEqual([
      { key: 'acc', value: 0, timestamp: 2, step: 1 },
      { key: 'loss', value: 10, timestamp: 2, step: 1 },
    ]);
    const all = await search({ experiment_ids: ids, max_results: 50_000 });
    expect(all).toEqual(['r11', 'r10', 'r9', 'r8', 'r7', 'r6', 'r5', 'r4', 'r3', 'r2', 'r1', 'r0']);
  });
});
