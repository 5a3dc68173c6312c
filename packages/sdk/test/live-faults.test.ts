/**
 * Exactly-once delivery against a real server that crashes (SIGKILL) and restarts mid-run, and one
 * that is down for the whole run (spool → syncSpool). "Exactly once" is checked on both the
 * timeseries (deduplicated by step) and the summary counts (which would count a double insert).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AssayClient, Experiment, silentLogger, syncSpool, type ExperimentOptions } from '../src/index.ts';
import { listSegments } from '../src/spool.ts';
import { LiveServer } from './live-server.ts';

let srv: LiveServer;
let client: AssayClient;
let tmp: string;
let spoolDir: string;
let n = 0;

beforeAll(async () => {
  srv = await LiveServer.create({ noStart: true });
  client = new AssayClient({ apiUrl: srv.url, apiKey: srv.apiKey });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-sdk-faults-'));
});
afterEach(async () => {
  if (!srv.running) await srv.start();
});
afterAll(async () => {
  await srv?.cleanup();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function opts(o: Partial<ExperimentOptions> = {}): ExperimentOptions {
  spoolDir = path.join(tmp, `spool-${++n}`);
  return {
    project: 'faults',
    name: `run-${n}-${Date.now()}`,
    apiUrl: srv.url,
    apiKey: srv.apiKey,
    spoolDir,
    systemMetrics: false,
    heartbeatIntervalMs: 0,
    flushIntervalMs: 100,
    batchSize: 500,
    backoff: { baseMs: 100, maxMs: 1000 },
    logger: silentLogger,
    ...o,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function expectExactlyOnce(exp: { projectId: string | null; id: string | null }, metrics: Record<string, number>) {
  const sum = await client.summary(exp.projectId!, exp.id!);
  for (const [m, count] of Object.entries(metrics)) {
    const ts = await client.timeseries(exp.projectId!, exp.id!, m, { limit: count + 10 });
    expect(ts.count, `${m} timeseries count`).toBe(count);
    expect(ts.points.map((p) => p.step)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(ts.points.every((p) => p.value === p.step * 2)).toBe(true);
    expect(sum.metrics[m]?.count, `${m} summary count`).toBe(count);
  }
}

/** Log `total` points per metric at a steady pace, calling `during(i)` along the way. */
async function train(exp: Experiment, total: number, during: (i: number) => Promise<void> | void) {
  for (let i = 0; i < total; i++) {
    exp.logMetric('loss', i * 2);
    exp.logMetric('acc', i * 2);
    await during(i);
    if (i % 100 === 0) await sleep(5);
  }
}

describe('exactly once across server failures', () => {
  it('server killed (SIGKILL) and restarted mid-run, retried in memory', async () => {
    await srv.start();
    const exp = await Experiment.create(opts({ spoolAfterMs: 120_000 }));
    const N = 6000;
    await train(exp, N, async (i) => {
      if (i === 2000) await srv.kill();
      if (i === 4000) await srv.start();
    });
    await exp.finish('complete');
    const st = exp.stats();
    expect(st.spooled).toBe(0);
    expect(st.retries).toBeGreaterThan(0);
    expect((await client.getExperiment(exp.projectId!, exp.id!)).status).toBe('complete');
    await expectExactlyOnce(exp, { loss: N, acc: N });
  });

  it('server killed and restarted mid-run, spooled to disk and replayed', async () => {
    await srv.start();
    const exp = await Experiment.create(opts({ spoolAfterMs: 300 }));
    const N = 6000;
    await train(exp, N, async (i) => {
      if (i === 1500) await srv.kill();
      if (i === 3000) await sleep(800); // down for longer than spoolAfterMs
      if (i === 4000) await srv.start();
    });
    expect(exp.stats().spooled).toBeGreaterThan(0);
    await exp.finish('complete');
    expect(listSegments(spoolDir)).toEqual([]);
    expect((await client.getExperiment(exp.projectId!, exp.id!)).status).toBe('complete');
    await expectExactlyOnce(exp, { loss: N, acc: N });
  });

  it('server killed while finish() waits: finish completes once it is back', async () => {
    await srv.start();
    const exp = await Experiment.create(opts({ spoolAfterMs: 500 }));
    const N = 3000;
    await train(exp, N, () => {});
    const restart = (async () => {
      await srv.kill();
      await sleep(1000);
      await srv.start();
    })();
    await exp.finish('complete', { timeoutMs: 90_000, patienceMs: 60_000 });
    await restart;
    expect((await client.getExperiment(exp.projectId!, exp.id!)).status).toBe('complete');
    await expectExactlyOnce(exp, { loss: N, acc: N });
  });

  it('server down for the whole run: spool, then syncSpool delivers exactly once', async () => {
    await srv.stop();
    const features = { optimizer: { lr: 0.01 } };
    const exp = await Experiment.create(opts({ spoolAfterMs: 300, features }));
    expect(exp.online).toBe(false);
    await exp.logFeatures({ model: 'mlp' });
    const N = 5000;
    await train(exp, N, () => {});
    await exp.finish('complete', { timeoutMs: 500 });
    const segs = listSegments(spoolDir);
    expect(segs).toHaveLength(1);

    await srv.start();
    const r = await syncSpool(spoolDir, { apiKey: srv.apiKey, logger: silentLogger });
    expect(r).toMatchObject({ synced: 1, failed: 0, rejected: 0, points: 2 * N });
    expect(listSegments(spoolDir)).toEqual([]);
    // a second sync finds nothing to do
    expect(await syncSpool(spoolDir, { apiKey: srv.apiKey, logger: silentLogger })).toMatchObject({ segments: 0 });

    const rec = (await client.listExperiments('faults', { name: exp.name })).items.find((e) => e.name === exp.name)!;
    expect(rec).toMatchObject({ status: 'complete', features: { optimizer: { lr: 0.01 }, model: 'mlp' } });
    await expectExactlyOnce({ projectId: rec.project_id, id: rec.id }, { loss: N, acc: N });
  });

  it('server down at start, up mid-run: the run creates its experiment and replays by itself', async () => {
    await srv.stop();
    const exp = await Experiment.create(opts({ spoolAfterMs: 300 }));
    expect(exp.online).toBe(false);
    const N = 4000;
    await train(exp, N, async (i) => {
      if (i === 1000) await srv.start();
    });
    await exp.finish('complete');
    expect(exp.online).toBe(true);
    expect(listSegments(spoolDir)).toEqual([]);
    expect((await client.getExperiment(exp.projectId!, exp.id!)).status).toBe('complete');
    await expectExactlyOnce(exp, { loss: N, acc: N });
  });
});
