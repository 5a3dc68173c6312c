import { gzipSync } from 'node:zlib';
import { Api, sendBatch } from './http.ts';
import { runBatches, type RunSpec } from './data.ts';
import { nowMs } from './stats.ts';

export interface Job {
  path: string;
  body: Buffer;
  points: number;
  headers?: Record<string, string>;
}

export interface IngestResult {
  points: number;
  requests: number;
  bytes: number;
  seconds: number;
  pointsPerSec: number;
  retries: number;
  latencyMs: number[]; // per request round trip (ack latency)
}

export function batchPath(projectId: string, experimentId: string): string {
  return `/api/v1/metrics/batch/${projectId}/${experimentId}`;
}

/** Materializes every request body up front so that timing measures the server, not the generator. */
export function buildJobs(projectId: string, runs: RunSpec[], batchPoints: number, format: 'row' | 'columnar', gzip = false): Job[][] {
  return runs.map((run) => {
    const path = batchPath(projectId, run.experimentId);
    return [...runBatches(run, batchPoints, format)].map((b) =>
      gzip ? { path, body: gzipSync(b.body, { level: 1 }), points: b.points, headers: { 'content-encoding': 'gzip' } } : { path, ...b },
    );
  });
}

/**
 * `clients` concurrent senders; queue i goes to client i % clients, each client sends its
 * queues' batches one after another (like an SDK flushing), honouring 429/503 Retry-After.
 * Throughput = acknowledged points / wall time from first send to last ack.
 */
export async function drive(api: Api, queues: Job[][], clients: number): Promise<IngestResult> {
  const perClient: Job[][] = Array.from({ length: clients }, () => []);
  queues.forEach((q, i) => perClient[i % clients].push(...q));
  let points = 0;
  let requests = 0;
  let bytes = 0;
  let retries = 0;
  const latencyMs: number[] = [];
  const t0 = nowMs();
  await Promise.all(
    perClient.map(async (jobs) => {
      for (const job of jobs) {
        const r = await sendBatch(api, job.path, job.body, job.headers);
        const acked = JSON.parse(r.resp.text).count as number;
        if (acked !== job.points) throw new Error(`server acked ${acked} of ${job.points} points`);
        points += job.points;
        bytes += job.body.length;
        requests++;
        retries += r.retries;
        latencyMs.push(r.resp.ms);
      }
    }),
  );
  const seconds = (nowMs() - t0) / 1000;
  return { points, requests, bytes, seconds, pointsPerSec: points / seconds, retries, latencyMs };
}

/** Untimed loading of data sets: generates lazily, a few requests in flight. */
export async function load(api: Api, projectId: string, runs: RunSpec[], batchPoints: number, format: 'row' | 'columnar', clients = 4): Promise<number> {
  const gens = runs.map((r) => ({ path: batchPath(projectId, r.experimentId), it: runBatches(r, batchPoints, format) }));
  let next = 0;
  let points = 0;
  const take = (): { path: string; body: Buffer; points: number } | undefined => {
    while (gens.length) {
      const g = gens[next % gens.length];
      const n = g.it.next();
      if (!n.done) {
        next++;
        return { path: g.path, ...n.value };
      }
      gens.splice(next % gens.length, 1);
    }
    return undefined;
  };
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let job = take(); job; job = take()) {
        await sendBatch(api, job.path, job.body);
        points += job.points;
      }
    }),
  );
  return points;
}
