import { load } from '../lib/ingest.ts';
import { metricNames, type RunSpec } from '../lib/data.ts';
import { timeCalls } from '../lib/http.ts';
import { figure, note } from '../lib/report.ts';
import { fmt, median, quantile } from '../lib/stats.ts';
import { newExperiment, type Ctx } from '../lib/context.ts';

const enc = encodeURIComponent;
const n = (x: number) => x.toLocaleString('en-US');

function stats(ms: number[] & { server?: number[] }) {
  const server = ms.server?.length ? { server_p50_ms: median(ms.server), server_p95_ms: quantile(ms.server, 0.95) } : {};
  return { reps: ms.length, p50_ms: median(ms), p95_ms: quantile(ms, 0.95), min_ms: Math.min(...ms), max_ms: Math.max(...ms), ...server };
}

/** Prints the server-reported time next to a round-trip figure when the server sends one. */
function serverNote(name: string, ms: number[] & { server?: number[] }): void {
  if (ms.server?.length) note(`${name}: server-reported time p50 ${fmt(median(ms.server))} ms (round trip p50 ${fmt(median(ms))} ms)`);
}

async function loadRuns(ctx: Ctx, runs: RunSpec[]): Promise<void> {
  const t = Date.now();
  const pts = await load(ctx.api, ctx.projectId, runs, ctx.params.batchPoints, ctx.format);
  ctx.pointsWritten += pts;
  note(`loaded ${n(pts)} points (${ctx.format} format) in ${fmt((Date.now() - t) / 1000)} s; table now ≈ ${n(ctx.pointsWritten)} points`);
}

/** Timeseries of one big metric with max_points: client round trip on loopback, median of reps. */
async function seriesFigure(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  const exp = await newExperiment(ctx, 'series');
  await loadRuns(ctx, [{ experimentId: exp, seed: 7, metrics: ['train/loss'], steps: p.seriesPoints }]);
  const path = `/api/v1/metrics/timeseries/${ctx.projectId}/${exp}/${enc('train/loss')}?max_points=${p.maxPoints}`;
  const first = JSON.parse((await ctx.api.raw('GET', path)).text);
  note(`timeseries: ${n(p.seriesPoints)}-point metric, max_points=${p.maxPoints} → ${first.points?.length} points returned, downsampled=${first.downsampled}`);
  const ms = await timeCalls(p.reps, 3, () => ctx.api.raw('GET', path));
  serverNote('timeseries_1m_max_points_ms', ms);
  const s = ctx.peer?.series;
  figure({ name: 'timeseries_1m_max_points_ms', value: median(ms), unit: 'ms', higherIsBetter: false, peer: s ? median(s.full_history_ms) : undefined, detail: { ...stats(ms), points: p.seriesPoints, max_points: p.maxPoints, returned: first.points?.length } });
  if (s) {
    figure({ name: 'timeseries_1m_vs_mlflow_sampled_ms', value: median(ms), unit: 'ms', higherIsBetter: false, peer: median(s.sampled_ms), detail: { peer_call: `get-history-bulk-interval max_results=${s.sampled_max_results}`, peer_reps: s.sampled_ms.length } });
    note(`peer timeseries: MLflow client.get_metric_history (all ${n(s.returned)} points, ${s.full_history_ms.length} call) and get-history-bulk-interval max_results=${s.sampled_max_results} (${s.sampled_ms.length} calls); the ${n(s.points)}-point series was bulk-loaded into its SQLite metrics table`);
  }
}

async function summaryFigure(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  const exp = await newExperiment(ctx, 'summary');
  await loadRuns(ctx, [{ experimentId: exp, seed: 11, metrics: metricNames(p.summaryMetrics), steps: p.summaryPoints }]);
  const path = `/api/v1/metrics/summary/${ctx.projectId}/${exp}`;
  const body = JSON.parse((await ctx.api.raw('GET', path)).text);
  const got = Object.keys(body.metrics ?? {}).length;
  if (got !== p.summaryMetrics) note(`WARNING summary returned ${got} metrics, expected ${p.summaryMetrics}`);
  note(`summary: experiment with ${p.summaryMetrics} metrics × ${n(p.summaryPoints)} points = ${n(p.summaryMetrics * p.summaryPoints)} points (issue size: 100 × 100,000; --summary-points=100000)`);
  const ms = await timeCalls(p.reps, 3, () => ctx.api.raw('GET', path));
  serverNote('summary_ms', ms);
  const s = ctx.peer?.summary;
  figure({ name: 'summary_ms', value: median(ms), unit: 'ms', higherIsBetter: false, peer: s ? median(s.ms) : undefined, detail: { ...stats(ms), metrics: p.summaryMetrics, points_per_metric: p.summaryPoints } });
  if (s) note(`peer summary: MLflow client.get_run (latest value per metric only, no min/max/avg), ${s.metrics} metrics × ${n(s.points_per_metric)} points`);
}

async function compareFigure(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  const names = metricNames(p.compareMetrics);
  const runs: RunSpec[] = [];
  for (let i = 0; i < p.compareExperiments; i++) runs.push({ experimentId: await newExperiment(ctx, 'compare'), seed: 100 + i, metrics: names, steps: p.compareSteps });
  await loadRuns(ctx, runs);
  const qs = [`project_id=${ctx.projectId}`, ...runs.map((r) => `experiment_ids=${r.experimentId}`), ...names.map((m) => `metric_names=${enc(m)}`)].join('&');
  const path = `/api/v1/metrics/compare?${qs}`;
  const body = JSON.parse((await ctx.api.raw('POST', path)).text);
  const got = Object.keys(body.experiments ?? {}).length;
  if (got !== p.compareExperiments) note(`WARNING compare returned ${got} experiments, expected ${p.compareExperiments}`);
  note(`compare: ${p.compareExperiments} experiments × ${p.compareMetrics} metrics × ${p.compareSteps} points, one POST /metrics/compare`);
  const ms = await timeCalls(p.reps, 3, () => ctx.api.raw('POST', path));
  serverNote('compare_ms', ms);
  const s = ctx.peer?.compare;
  figure({ name: 'compare_ms', value: median(ms), unit: 'ms', higherIsBetter: false, peer: s ? median(s.ms) : undefined, detail: { ...stats(ms), experiments: p.compareExperiments, metrics: p.compareMetrics } });
  if (s) note(`peer compare: MLflow client.search_runs over ${s.runs} runs (latest metrics of each run)`);
}

/** History probe: an experiment of probeMetrics × probeSteps; each read is one full metric. */
export interface Probe {
  exp: string;
  names: string[];
  small?: { ms: number[]; table: number };
}

export async function historySmall(ctx: Ctx): Promise<Probe> {
  const p = ctx.params;
  const probe: Probe = { exp: await newExperiment(ctx, 'probe'), names: metricNames(p.probeMetrics) };
  await loadRuns(ctx, [{ experimentId: probe.exp, seed: 3, metrics: probe.names, steps: p.probeSteps }]);
  probe.small = { ms: await probeReads(ctx, probe), table: ctx.pointsWritten };
  return probe;
}

async function probeReads(ctx: Ctx, probe: Probe): Promise<number[]> {
  let i = 0;
  const paths = probe.names.map((m) => `/api/v1/metrics/timeseries/${ctx.projectId}/${probe.exp}/${enc(m)}?limit=${ctx.params.probeSteps}`);
  return timeCalls(ctx.params.reps, 3, () => ctx.api.raw('GET', paths[i++ % paths.length]));
}

export async function historyBig(ctx: Ctx, probe: Probe): Promise<void> {
  const p = ctx.params;
  const fill = p.bigTablePoints - ctx.pointsWritten;
  if (fill > 0) {
    const per = 100 * 10_000;
    const runs: RunSpec[] = [];
    for (let left = fill, i = 0; left > 0; left -= per, i++) {
      runs.push({ experimentId: await newExperiment(ctx, 'filler'), seed: 5000 + i, metrics: metricNames(100), steps: Math.ceil(Math.min(per, left) / 100) });
    }
    note(`history: filling the table with ${n(fill)} more points in ${runs.length} experiments (--big-table-points=${n(p.bigTablePoints)})`);
    await loadRuns(ctx, runs);
  }
  const big = await probeReads(ctx, probe);
  const small = probe.small!;
  const detail = { probe: `${p.probeMetrics} metrics × ${p.probeSteps} points, full read (limit=${p.probeSteps})`, small_table_points: small.table, big_table_points: ctx.pointsWritten };
  figure({ name: 'history_small_table_ms', value: median(small.ms), unit: 'ms', higherIsBetter: false, detail: { ...detail, ...stats(small.ms) } });
  figure({ name: 'history_big_table_ms', value: median(big), unit: 'ms', higherIsBetter: false, detail: { ...detail, ...stats(big) } });
  figure({ name: 'history_big_vs_small_ratio', value: median(big) / median(small.ms), unit: 'x', higherIsBetter: false, detail });
  note(`history: same ${p.probeSteps}-point metric read with ${n(small.table)} vs ${n(ctx.pointsWritten)} points in the table (issue: 1M vs 100M)`);
}

export async function queryPart(ctx: Ctx, probe?: Probe): Promise<void> {
  const pr = probe ?? (await historySmall(ctx));
  await seriesFigure(ctx);
  await summaryFigure(ctx);
  await compareFigure(ctx);
  await historyBig(ctx, pr);
}
