import { batchPath, buildJobs, drive, type IngestResult } from '../lib/ingest.ts';
import { metricNames, T0, type RunSpec } from '../lib/data.ts';
import { cpuSeconds, sampleRss } from '../lib/server.ts';
import { figure, note } from '../lib/report.ts';
import { median, quantile, fmt } from '../lib/stats.ts';
import { newExperiment, type Ctx } from '../lib/context.ts';

const MB = 2 ** 20;

/** Does the batch endpoint take the columnar form? 422 (or a wrong count) → no. */
export async function probeColumnar(ctx: Ctx): Promise<boolean> {
  const exp = await newExperiment(ctx, 'probe-columnar');
  const body = JSON.stringify({
    batch_id: `probe-${exp}`,
    series: [{ metric_name: 'probe', steps: [0, 1, 2], values: [1.5, 'NaN', 2.5], timestamps: [T0, T0 + 1, T0 + 2] }],
  });
  const r = await ctx.api.raw('POST', batchPath(ctx.projectId, exp), body);
  if (r.status === 200 || r.status === 201) {
    const count = JSON.parse(r.text).count;
    if (count === 3) {
      ctx.pointsWritten += 3;
      return true;
    }
    note(`columnar probe: server answered ${r.status} with count ${count} (expected 3) — treating columnar as unsupported`);
    return false;
  }
  note(`columnar batch format skipped: server answered ${r.status} ${r.text.slice(0, 160)}`);
  return false;
}

async function runFormat(ctx: Ctx, format: 'row' | 'columnar', gzip = false): Promise<IngestResult & { peakRss: number; hwm: number; cpuUsPerPoint: number }> {
  const p = ctx.params;
  const runs: RunSpec[] = [];
  for (let i = 0; i < p.ingestRuns; i++) {
    runs.push({ experimentId: await newExperiment(ctx, `ingest-${format}`), seed: 1000 + i, metrics: metricNames(p.ingestMetrics), steps: p.ingestSteps });
  }
  const t = Date.now();
  const queues = buildJobs(ctx.projectId, runs, p.batchPoints, format, gzip);
  const bytes = queues.flat().reduce((s, j) => s + j.body.length, 0);
  const total = p.ingestRuns * p.ingestMetrics * p.ingestSteps;
  note(
    `ingest ${format}${gzip ? ' gzip' : ''}: ${p.ingestRuns} experiments × ${p.ingestMetrics} metrics × ${p.ingestSteps} steps = ${total.toLocaleString('en-US')} points, ` +
      `${queues.flat().length} requests of ${p.batchPoints} points (${fmt(bytes / total)} B/point ${gzip ? 'gzip' : 'JSON'}), ${p.clients} clients; bodies prebuilt in ${Date.now() - t} ms`,
  );
  const sampler = sampleRss(ctx.server);
  const cpu0 = cpuSeconds(ctx.server.pid);
  const res = await drive(ctx.api, queues, p.clients);
  const cpu = cpuSeconds(ctx.server.pid) - cpu0;
  const { peakRss } = sampler.stop();
  ctx.pointsWritten += res.points;
  return { ...res, peakRss, hwm: ctx.server.memory().hwm, cpuUsPerPoint: (cpu * 1e6) / res.points };
}

/**
 * Acked ingest: points/s over POST /metrics/batch with `clients` concurrent keep-alive clients;
 * the clock runs from the first request to the last 200 (the server acks after the durable write).
 */
export async function ingestPart(ctx: Ctx): Promise<void> {
  const peer = ctx.peer?.ingest;
  let peak = 0;
  let hwm = 0;
  const variants: { format: 'row' | 'columnar'; gzip: boolean; key: string }[] = [
    { format: 'row', gzip: false, key: 'row' },
    { format: 'columnar', gzip: false, key: 'columnar' },
  ];
  if (ctx.params.gzip) variants.push({ format: 'row', gzip: true, key: 'row_gzip' });
  for (const { format, gzip, key } of variants) {
    if (format === 'columnar' && !ctx.columnar) {
      note('ingest_columnar_points_per_s skipped: the server does not accept the columnar batch format');
      continue;
    }
    const r = await runFormat(ctx, format, gzip);
    peak = Math.max(peak, r.peakRss);
    hwm = Math.max(hwm, r.hwm);
    ctx.results[`ingest_${key}`] = { ...r, latencyMs: undefined, ack_ms_p50: median(r.latencyMs), ack_ms_p99: quantile(r.latencyMs, 0.99) };
    figure({
      name: `ingest_${key}_points_per_s`,
      value: r.pointsPerSec,
      unit: 'points/s',
      higherIsBetter: true,
      peer: peer?.points_per_s,
      detail: { points: r.points, seconds: r.seconds, requests: r.requests, retries: r.retries, ack_ms_p50: median(r.latencyMs), ack_ms_p99: quantile(r.latencyMs, 0.99), mb_per_s: r.bytes / MB / r.seconds },
    });
    // CPU per point varies less than points/s between runs (background merges, neighbours)
    figure({ name: `ingest_${key}_server_cpu_us_per_point`, value: r.cpuUsPerPoint, unit: 'µs', higherIsBetter: false });
    note(`ingest ${key}: ${r.points.toLocaleString('en-US')} points in ${fmt(r.seconds)} s, ${r.retries} retries (429/503), ack latency p50 ${fmt(median(r.latencyMs))} ms p99 ${fmt(quantile(r.latencyMs, 0.99))} ms, ${fmt(r.bytes / MB / r.seconds)} MiB/s`);
  }
  if (peer) note(`peer ingest: MLflow log_batch (${peer.batch_points} metrics/call, its cap is 1000), ${peer.clients} threads, ${peer.points.toLocaleString('en-US')} points in ${fmt(peer.seconds)} s, ${peer.errors} errors`);
  figure({
    name: 'ingest_peak_rss_mb',
    value: peak / MB,
    unit: 'MiB',
    higherIsBetter: false,
    peer: peer ? peer.peak_pss_bytes / MB : undefined,
    detail: { sampled_every_ms: 100, vm_hwm_mb: hwm / MB },
  });
  note(`ingest_peak_rss_mb = max VmRSS of the server process sampled every 100 ms during ingest (VmHWM since start: ${fmt(hwm / MB)} MiB)`);
}
