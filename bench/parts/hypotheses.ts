import { load } from '../lib/ingest.ts';
import { metricNames, type RunSpec } from '../lib/data.ts';
import { timeCalls } from '../lib/http.ts';
import { figure, note } from '../lib/report.ts';
import { fmt, median, quantile } from '../lib/stats.ts';
import type { Ctx } from '../lib/context.ts';

const n = (x: number) => x.toLocaleString('en-US');

/**
 * Hypothesis evaluation time: hypRuns runs × hypMetrics metrics × hypSteps points each, in arms of
 * hypSeeds replicates (features {learning_rate, seed}); one hypothesis on every metric, baseline =
 * the first arm, candidates = every other run. Timed: `POST …/hypotheses/{key}/evaluate` round
 * trips on loopback (median of hypReps after one warmup) — per-run aggregates of every metric from
 * the deduplicated points, the Welch tests, and the evidence/evaluation writes.
 */
export async function hypothesesPart(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  const project = await ctx.api.json<{ id: string }>('POST', '/api/v1/projects?if_exists=return', { name: `bench-hypotheses-${Date.now().toString(36)}` });
  const names = metricNames(p.hypMetrics);
  const runs: RunSpec[] = [];
  const runNames: string[] = [];
  for (let i = 0; i < p.hypRuns; i++) {
    const arm = Math.floor(i / p.hypSeeds);
    const name = `arm${arm}_s${i % p.hypSeeds}`;
    const e = await ctx.api.json<{ id: string }>('POST', `/api/v1/projects/${project.id}/experiments`, {
      name,
      features: { learning_rate: 1e-5 * 10 ** (arm / 4), seed: i % p.hypSeeds, model: { name: 'vit_base', depth: 12 } },
    });
    runs.push({ experimentId: e.id, seed: 9000 + i, metrics: names, steps: p.hypSteps });
    runNames.push(name);
  }
  const t = Date.now();
  const pts = await load(ctx.api, project.id, runs, p.batchPoints, ctx.format);
  ctx.pointsWritten += pts;
  note(`hypotheses: loaded ${n(pts)} points (${p.hypRuns} runs × ${p.hypMetrics} metrics × ${n(p.hypSteps)} steps) in ${fmt((Date.now() - t) / 1000)} s`);
  for (const name of runNames) await ctx.api.json('PATCH', `/api/v1/projects/${project.id}/experiments/${name}`, { status: 'complete' });

  await ctx.api.json('POST', `/api/v1/projects/${project.id}/hypotheses`, { key: 'h-bench', baseline_experiment: runNames[0], target_metrics: names });
  const path = `/api/v1/projects/${project.id}/hypotheses/h-bench/evaluate`;
  const first = JSON.parse((await ctx.api.raw('POST', path)).text);
  if (!Array.isArray(first.metrics)) throw new Error(`evaluate failed: ${JSON.stringify(first).slice(0, 500)}`);
  note(`hypotheses: evaluation → ${first.status}, ${first.arms.length} candidate arms, ${first.metrics.length} metric × arm rows, baseline n=${first.baseline.n}`);
  const ms = await timeCalls(p.hypReps, 1, () => ctx.api.raw('POST', path));
  if (ms.server?.length) note(`hypothesis_evaluate_ms: server-reported time p50 ${fmt(median(ms.server))} ms (round trip p50 ${fmt(median(ms))} ms)`);
  figure({
    name: 'hypothesis_evaluate_ms',
    value: median(ms),
    unit: 'ms',
    higherIsBetter: false,
    detail: { reps: ms.length, p50_ms: median(ms), p95_ms: quantile(ms, 0.95), min_ms: Math.min(...ms), max_ms: Math.max(...ms), runs: p.hypRuns, metrics: p.hypMetrics, steps: p.hypSteps, points: pts, arms: first.arms.length + 1 },
  });
}
