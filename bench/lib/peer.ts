import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Params } from './args.ts';
import { note } from './report.ts';

const BENCH = path.resolve(import.meta.dirname, '..');
const PY = process.env.BENCH_PEER_PYTHON ?? path.join(BENCH, '.venv/bin/python');
const DRIVER = path.join(BENCH, 'peers/mlflow_driver.py');

/** What bench/peers/mlflow_driver.py prints (times in ms, memory in bytes). */
export interface PeerResult {
  version: string;
  workers: number;
  cold_start_ms: number;
  warm_start_ms: number;
  idle_pss_bytes: number;
  idle_rss_bytes: number;
  processes: number;
  ingest: { points: number; seconds: number; points_per_s: number; errors: number; clients: number; batch_points: number; peak_pss_bytes: number; peak_rss_bytes: number };
  series: { points: number; returned: number; load: string; full_history_ms: number[]; sampled_max_results: number; sampled_ms: number[] };
  summary: { metrics: number; points_per_metric: number; call: string; ms: number[] };
  compare: { runs: number; metrics: number; call: string; ms: number[] };
  disk: { bytes: number; points: number; bytes_per_point: number; what: string };
}

/** Returns undefined (after printing why) when the peer is disabled or not installed. */
export function peerAvailable(p: Params): boolean {
  if (!p.peer) {
    note('peer skipped: disabled (--no-peer)');
    return false;
  }
  if (!fs.existsSync(PY) || spawnSync(PY, ['-c', 'import mlflow'], { stdio: 'ignore' }).status !== 0) {
    note('peer skipped: MLflow is not installed in bench/.venv — run npm run bench:peers');
    return false;
  }
  return true;
}

export async function runPeer(p: Params, parts: { ingest: boolean; query: boolean; fullHistory: boolean }): Promise<PeerResult | undefined> {
  if (!peerAvailable(p)) return undefined;
  const cfg = {
    clients: p.clients,
    ingest_runs: p.ingestRuns,
    ingest_metrics: p.ingestMetrics,
    ingest_seconds: parts.ingest ? p.peerIngestSeconds : 2,
    batch_points: Math.min(1000, p.batchPoints), // MLflow's log_batch cap
    series_points: parts.query ? p.peerSeriesPoints || p.seriesPoints : 1000,
    max_points: p.maxPoints,
    summary_metrics: p.summaryMetrics,
    summary_points: parts.query ? p.summaryPoints : 10,
    compare_runs: p.compareExperiments,
    compare_metrics: p.compareMetrics,
    compare_steps: parts.query ? p.compareSteps : 1,
    reps: p.reps,
    full_history: parts.fullHistory,
    keep: p.keep,
  };
  note(`peer: MLflow driver ${JSON.stringify(cfg)}`);
  return new Promise((resolve) => {
    const proc = spawn(PY, [DRIVER, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errTail = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => {
      const text = b.toString();
      errTail = (errTail + text).slice(-4000);
      for (const line of text.split('\n')) if (line.startsWith('mlflow: ')) console.log(`# ${line}`);
    });
    proc.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(last) as PeerResult);
      } catch (e) {
        note(`peer failed (${(e as Error).message}); figures printed without peer. stderr tail:\n${errTail}`);
        resolve(undefined);
      }
    });
  });
}
