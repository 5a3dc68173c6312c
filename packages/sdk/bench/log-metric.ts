/**
 * Micro-benchmark of the TS SDK hot path: `logMetric` cost while the background sender delivers to a
 * live server, with the server down (spooling), and end-to-end delivery rate.
 *   node --import tsx packages/sdk/bench/log-metric.ts [points=2000000]
 * Starts its own server (packages/server/bin/assay.mjs) in a temp dir.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Experiment, silentLogger } from '../src/index.ts';
import { LiveServer } from '../test/live-server.ts';

const N = Number(process.argv[2] ?? 2_000_000);
const CHUNK = 1000;

function pct(sorted: number[], p: number) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function run(label: string, exp: Experiment, finishTimeoutMs = 600_000) {
  // individual timings (includes ~hrtime overhead) sampled every 10th call, chunk averages for all
  const single: number[] = [];
  const chunkAvg: number[] = [];
  const t0 = process.hrtime.bigint();
  let yieldNs = 0n;
  let maxNs = 0;
  for (let i = 0; i < N; i += CHUNK) {
    const c0 = process.hrtime.bigint();
    for (let j = 0; j < CHUNK; j++) {
      if (j % 10 === 0) {
        const a = process.hrtime.bigint();
        exp.logMetric('loss', Math.random(), i + j);
        const d = Number(process.hrtime.bigint() - a);
        single.push(d);
        if (d > maxNs) maxNs = d;
      } else exp.logMetric('loss', Math.random(), i + j);
    }
    chunkAvg.push(Number(process.hrtime.bigint() - c0) / CHUNK);
    // a training step yields to the event loop now and then (await on GPU/data): let the sender run
    if ((i / CHUNK) % 10 === 9) {
      const y0 = process.hrtime.bigint();
      await new Promise((r) => setImmediate(r));
      yieldNs += process.hrtime.bigint() - y0;
    }
  }
  const loopMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const f0 = Date.now();
  await exp.finish('complete', { timeoutMs: finishTimeoutMs });
  const finishMs = Date.now() - f0;
  single.sort((a, b) => a - b);
  chunkAvg.sort((a, b) => a - b);
  const st = exp.stats();
  console.log(
    JSON.stringify({
      scenario: label,
      points: N,
      log_metric_ns_median: pct(single, 50),
      log_metric_ns_p99: pct(single, 99),
      log_metric_ns_p999: pct(single, 99.9),
      log_metric_ns_max_sampled: maxNs,
      chunk_avg_ns_median: pct(chunkAvg, 50),
      chunk_avg_ns_p99: pct(chunkAvg, 99),
      loop_ms: Math.round(loopMs),
      time_in_yields_ms: Math.round(Number(yieldNs) / 1e6),
      finish_ms: finishMs,
      delivered_points_per_s: st.acked ? Math.round((st.acked / (loopMs + finishMs)) * 1000) : 0,
      acked: st.acked,
      spooled: st.spooled,
    }),
  );
}

const srv = await LiveServer.create();
const spool = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-bench-spool-'));
const base = { apiUrl: srv.url, apiKey: srv.apiKey, systemMetrics: false, logger: silentLogger, spoolDir: spool } as const;
try {
  await run('live server', await Experiment.create({ ...base, project: 'bench', name: `live-${Date.now()}` }));
  const down = await Experiment.create({ ...base, project: 'bench', name: `down-${Date.now()}`, spoolAfterMs: 200 });
  await srv.stop();
  await run('server down (spooling)', down, 1000).catch((e) => console.error(e));
} finally {
  await srv.cleanup();
  fs.rmSync(spool, { recursive: true, force: true });
}
