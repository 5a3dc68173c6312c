// the formatter @clickhouse/client itself uses for param_* values
import { formatQueryParams } from '@clickhouse/client-common';
import { beforeAll, describe, expect, it } from 'vitest';
import { seedRun, useTestServer } from './helpers.ts';

/**
 * POST /metrics/series with 500 series: the ClickHouse parameters stay small. Over HTTP,
 * @clickhouse/client sends every parameter in the URL, and a proxy in front of ClickHouse with an
 * 8 KiB URL limit refused the 500-series read when each pair carried its run id.
 */
const t = useTestServer('series-params');
const URL_LIMIT = 8 * 1024;
let projectId: string;
let runs: string[];
const names = Array.from({ length: 250 }, (_, i) => `metric/${String(i).padStart(3, '0')}`);

/** The parameters' part of the URL, as @clickhouse/client writes it. */
const urlBytes = (params: Record<string, unknown>) => new URLSearchParams(Object.entries(params).map(([k, value]) => [`param_${k}`, formatQueryParams({ value })])).toString().length;

beforeAll(async () => {
  runs = [];
  for (const name of ['wide-a', 'wide-b']) {
    const s = await seedRun(t.team.api, 'params', name);
    projectId = s.projectId;
    runs.push(s.experimentId);
    // 200 steps per series: whole-history reads at 10 buckets come from the fine rollup
    const steps = Array.from({ length: 200 }, (_, i) => i);
    const w = await t.team.api.post(`/metrics/batch/${projectId}/${s.experimentId}`, { series: names.map((metric_name, m) => ({ metric_name, steps, values: steps.map((x) => x * m) })) });
    expect(w.status).toBe(200);
  }
}, 120_000);

describe('500-series reads', () => {
  it('every statement of a 500-series read (explicit pairs or experiment_ids; whole history or a window) sends under 8 KiB of parameters', async () => {
    const client = t.srv.ctx.ch.client;
    const sizes: [string, number][] = [];
    const spy = <K extends 'query' | 'exec'>(k: K) => {
      const real = client[k].bind(client) as (p: { query: string; query_params?: Record<string, unknown> }) => unknown;
      (client as unknown as Record<string, unknown>)[k] = (p: { query: string; query_params?: Record<string, unknown> }) => {
        if (/metrics_(summary|rollup_fine|rollup)\b|FROM metrics\b/.test(p.query)) sizes.push([p.query.slice(0, 60), urlBytes(p.query_params ?? {})]);
        return real(p);
      };
      return () => ((client as unknown as Record<string, unknown>)[k] = real);
    };
    const undo = [spy('query'), spy('exec')];
    try {
      const pairs = runs.flatMap((experiment_id) => names.map((metric_name) => ({ experiment_id, metric_name })));
      for (const body of [
        { series: pairs, buckets: 10 },
        { series: pairs, buckets: 10, step_min: 50, step_max: 150 },
        { series: pairs, buckets: 1000 },
        { experiment_ids: runs, buckets: 10 },
      ]) {
        const r = await t.team.api.post('/metrics/series', { project_id: projectId, ...body });
        expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200);
        expect(r.body.series).toHaveLength(500);
        const last = r.body.series[499];
        expect(last).toMatchObject({ experiment_id: runs[1], metric_name: names[249], total_points: 'step_min' in body ? 101 : 200 });
      }
    } finally {
      for (const u of undo) u();
    }
    expect(sizes.length).toBeGreaterThan(4);
    for (const [sql, n] of sizes) expect(n, sql).toBeLessThan(URL_LIMIT);
  });
});
