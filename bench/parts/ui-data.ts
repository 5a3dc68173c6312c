import { load } from '../lib/ingest.ts';
import { metricNames, type RunSpec } from '../lib/data.ts';
import { timeCalls, type Api } from '../lib/http.ts';
import { figure, note } from '../lib/report.ts';
import { fmt, median, quantile } from '../lib/stats.ts';
import type { Ctx } from '../lib/context.ts';

const n = (x: number) => x.toLocaleString('en-US');

async function project(api: Api, name: string): Promise<string> {
  return (await api.json<{ id: string }>('POST', '/api/v1/projects?if_exists=return', { name: `${name}-${Date.now().toString(36)}` })).id;
}

async function runs(api: Api, projectId: string, count: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const e = await api.json<{ id: string }>('POST', `/api/v1/projects/${projectId}/experiments`, {
      name: `${prefix}-${i}`,
      features: { lr: 1e-4 * (1 + (i % 7)), seed: i % 5, model: { depth: 6 + (i % 4) * 6 } },
      tags: i % 3 ? ['sweep'] : ['sweep', 'baseline'],
    });
    ids.push(e.id);
  }
  return ids;
}

/** Median of timed calls as a figure, with the server's own time (Server-Timing) beside the round trip. */
async function timed(ctx: Ctx, name: string, call: () => ReturnType<Api['raw']>, detail: Record<string, unknown>): Promise<void> {
  const ms = await timeCalls(ctx.params.reps, 2, call);
  const bytes = (await call()).text.length;
  figure({
    name,
    value: median(ms),
    unit: 'ms',
    higherIsBetter: false,
    detail: { ...detail, reps: ms.length, p50_ms: median(ms), p95_ms: quantile(ms, 0.95), server_p50_ms: ms.server.length ? median(ms.server) : undefined, response_bytes: bytes },
  });
  if (ms.server.length) note(`${name}: server time p50 ${fmt(median(ms.server))} ms, round trip p50 ${fmt(median(ms))} ms, ${n(bytes)} response bytes`);
}

/**
 * The web UI's reads (issue 11): POST /metrics/series for one 1M-point series in 1,000 buckets
 * and for uiChartRuns × uiChartMetrics series of uiChartSteps steps in one request (the compare
 * view; raw at buckets = steps, buckets at 1,000), its live poll (step_min past the last step), and
 * GET …/runs-table for uiTableRuns runs × uiTableMetrics metrics of uiTableSteps steps.
 */
export async function uiDataPart(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  const api = ctx.api;

  const big = await project(api, 'ui-big');
  const [bigRun] = await runs(api, big, 1, 'big');
  let t = Date.now();
  ctx.pointsWritten += await load(api, big, [{ experimentId: bigRun, seed: 7, metrics: ['train/loss'], steps: p.seriesPoints }], p.batchPoints, ctx.format);
  note(`ui-data: loaded 1 series × ${n(p.seriesPoints)} points in ${fmt((Date.now() - t) / 1000)} s`);
  const one = JSON.stringify({ project_id: big, series: [{ experiment_id: bigRun, metric_name: 'train/loss' }], buckets: 1000 });
  await timed(ctx, 'ui_series_1m_1000_buckets_ms', () => api.raw('POST', '/api/v1/metrics/series', one), { points: p.seriesPoints, buckets: 1000 });

  const charts = await project(api, 'ui-charts');
  const chartRuns = await runs(api, charts, p.uiChartRuns, 'c');
  const names = metricNames(p.uiChartMetrics);
  t = Date.now();
  const specs: RunSpec[] = chartRuns.map((id, i) => ({ experimentId: id, seed: 100 + i, metrics: names, steps: p.uiChartSteps }));
  ctx.pointsWritten += await load(api, charts, specs, p.batchPoints, ctx.format);
  note(`ui-data: loaded ${p.uiChartRuns} runs × ${p.uiChartMetrics} metrics × ${n(p.uiChartSteps)} steps in ${fmt((Date.now() - t) / 1000)} s`);
  const series = chartRuns.flatMap((id) => names.map((m) => ({ experiment_id: id, metric_name: m })));
  const shape = { series: series.length, steps: p.uiChartSteps, points: series.length * p.uiChartSteps };
  const raw = JSON.stringify({ project_id: charts, series, buckets: Math.min(10_000, p.uiChartSteps) });
  await timed(ctx, 'ui_series_compare_raw_ms', () => api.raw('POST', '/api/v1/metrics/series', raw), { ...shape, buckets: Math.min(10_000, p.uiChartSteps) });
  const bucketed = JSON.stringify({ project_id: charts, series, buckets: 1000 });
  await timed(ctx, 'ui_series_compare_1000_buckets_ms', () => api.raw('POST', '/api/v1/metrics/series', bucketed), { ...shape, buckets: 1000 });
  const poll = JSON.stringify({ project_id: charts, series, buckets: 1000, step_min: p.uiChartSteps });
  await timed(ctx, 'ui_series_live_poll_ms', () => api.raw('POST', '/api/v1/metrics/series', poll), { ...shape, step_min: p.uiChartSteps });

  const tableProject = await project(api, 'ui-table');
  t = Date.now();
  const tableRuns = await runs(api, tableProject, p.uiTableRuns, 'r');
  const tableNames = metricNames(p.uiTableMetrics);
  ctx.pointsWritten += await load(api, tableProject, tableRuns.map((id, i) => ({ experimentId: id, seed: 500 + i, metrics: tableNames, steps: p.uiTableSteps })), p.batchPoints, ctx.format);
  note(`ui-data: created and loaded ${p.uiTableRuns} runs × ${p.uiTableMetrics} metrics × ${p.uiTableSteps} steps in ${fmt((Date.now() - t) / 1000)} s`);
  const first = JSON.parse((await api.raw('GET', `/api/v1/projects/${tableProject}/runs-table`)).text);
  if (first.items?.length !== p.uiTableRuns || Object.keys(first.items[0].metrics).length !== p.uiTableMetrics) throw new Error(`runs-table answered ${JSON.stringify(first).slice(0, 300)}`);
  await timed(ctx, 'ui_runs_table_ms', () => api.raw('GET', `/api/v1/projects/${tableProject}/runs-table`), { runs: p.uiTableRuns, metrics: p.uiTableMetrics, steps: p.uiTableSteps });
  const since = new Date(Date.now() + 1000).toISOString();
  await timed(ctx, 'ui_runs_table_since_ms', () => api.raw('GET', `/api/v1/projects/${tableProject}/runs-table?since=${encodeURIComponent(since)}`), { runs: p.uiTableRuns, changed: 0 });
}
