/**
 * Exactly-once delivery against a real server that crashes (SIGKILL) and restarts mid-run, one
 * that is down for the whole run (spool → syncSpool), one that hangs (accepts connections, never
 * answers), and an API key revoked mid-run. "Exactly once" is checked on both the timeseries
 * (deduplicated by step) and the summary counts (which would count a double insert).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { AssayClient, Experiment, silentLogger, syncSpool, type ExperimentOptions } from '../src/index.ts';
import { listSegments, readRecords } from '../src/spool.ts';
import { LiveServer } from './live-server.ts';
import { hungServer } from './fault-proxy.ts';
import { expectExactlyOnce as exactlyOnce, gitRepo, range, recordingLogger, removeTempDirs, storedSteps, tempDir, uniq } from './helpers.ts';

let srv: LiveServer;
let client: AssayClient;
let tmp: string;
let spoolDir: string;
let n = 0;

beforeAll(async () => {
  srv = await LiveServer.create({ noStart: true });
  client = new AssayClient({ apiUrl: srv.url, apiKey: srv.apiKey });
  tmp = tempDir('assay-sdk-faults');
});
afterEach(async () => {
  if (!srv.running) await srv.start();
});
afterAll(async () => {
  await srv?.cleanup();
  removeTempDirs();
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
  await exactlyOnce(client, exp, metrics);
  for (const m of Object.keys(metrics)) expect((await client.getMetric(exp.projectId!, exp.id!, m)).points.every((p) => p.value === p.step * 2)).toBe(true);
}

/** Steps of `metric` in the spool segments of `dir`. */
function spooledSteps(dir: string, metric: string): number[] {
  const out: number[] = [];
  for (const f of listSegments(dir)) {
    for (const { record } of readRecords(f, 0)) if (record.type === 'metrics') for (const p of record.metrics) if (p.metric_name === metric) out.push(p.step);
  }
  return out;
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
    const exp = await Experiment.create(opts({ offlineGraceMs: 120_000 }));
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
    const exp = await Experiment.create(opts({ offlineGraceMs: 300 }));
    const N = 6000;
    await train(exp, N, async (i) => {
      if (i === 1500) await srv.kill();
      if (i === 3000) await sleep(800); // down for longer than offlineGraceMs
      if (i === 4000) await srv.start();
    });
    expect(exp.stats().spooled).toBeGreaterThan(0);
    expect(await exp.finish('complete')).toBe(true);
    expect(listSegments(spoolDir)).toEqual([]);
    expect((await client.getExperiment(exp.projectId!, exp.id!)).status).toBe('complete');
    await expectExactlyOnce(exp, { loss: N, acc: N });
  });

  it('server killed while finish() waits: finish completes once it is back', async () => {
    await srv.start();
    const exp = await Experiment.create(opts({ offlineGraceMs: 500 }));
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
    const exp = await Experiment.create(opts({ offlineGraceMs: 300, features }));
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
    const exp = await Experiment.create(opts({ offlineGraceMs: 300 }));
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

  it('an API key revoked mid-run: sending stops, every point is on the server or in the spool, finish() is false and says how to send them; sync with a valid key delivers them exactly once', async () => {
    await srv.start();
    const key = await srv.api<{ id: string; api_key: string }>('POST', '/api-keys', { name: uniq('run-key') });
    const log = recordingLogger();
    const exp = await Experiment.create(opts({ apiKey: key.api_key, logger: log.logger, heartbeatIntervalMs: 0 }));
    const N = 3000;
    await train(exp, N, async (i) => {
      if (i === 1000) await srv.api('DELETE', `/api-keys/${key.id}`);
    });
    await exp.logFeatures({ after: 'revocation' }); // spooled like the points
    const t0 = Date.now();
    expect(await exp.finish('complete')).toBe(false);
    expect(Date.now() - t0).toBeLessThan(5000);
    const u = exp.undelivered!;
    expect(u.reason).toMatch(/refused the API key \(.*401/);
    expect(u.command).toBe(`ASSAY_API_KEY=<key> npx assay-sdk sync ${spoolDir}`);
    expect(u.message).toContain(`${u.points} points`);
    expect(u.message).toContain(u.command!);
    expect(log.text('error')).toContain(u.message);
    // every point is on the server or in the spool (a batch in flight at the revocation may be in both)
    for (const m of ['loss', 'acc']) {
      const stored = await storedSteps(client, exp, m);
      const spooled = spooledSteps(spoolDir, m);
      expect(stored.length).toBeGreaterThan(0);
      expect(spooled.length).toBeGreaterThan(0);
      expect([...new Set([...stored, ...spooled])].sort((a, b) => a - b)).toEqual(range(N));
    }
    expect(u.points).toBe(spooledSteps(spoolDir, 'loss').length + spooledSteps(spoolDir, 'acc').length);

    const r = await syncSpool(spoolDir, { apiKey: srv.apiKey, logger: silentLogger });
    expect(r).toMatchObject({ synced: 1, failed: 0, dropped: 0 });
    expect(listSegments(spoolDir)).toEqual([]);
    await expectExactlyOnce(exp, { loss: N, acc: N });
    expect(await client.getExperiment(exp.projectId!, exp.id!)).toMatchObject({ status: 'complete', features: { after: 'revocation' } });
  });

  it('a hung server (accepts connections, never answers): no call blocks longer than the grace or its timeout; the spool replays exactly once', async () => {
    await srv.start();
    const hung = await hungServer();
    const grace = 500;
    const slack = 700;
    try {
      let t0 = Date.now();
      const exp = await Experiment.create(opts({ apiUrl: hung.url, offlineGraceMs: grace, features: { a: 1 }, requestTimeoutMs: 60_000 }));
      expect(Date.now() - t0).toBeLessThan(grace + slack);
      expect(exp.online).toBe(false);
      expect(hung.connections()).toBeGreaterThan(0);
      t0 = Date.now();
      await exp.logFeatures({ b: 2 });
      expect(await exp.logCodeSnapshot('git_diff', { cwd: gitRepo() })).toMatchObject({ branch: 'main' });
      expect(Date.now() - t0).toBeLessThan(grace + slack);
      const N = 2000;
      await train(exp, N, () => {});
      t0 = Date.now();
      expect(await exp.flushMetrics()).toBe(false);
      expect(Date.now() - t0).toBeLessThan(grace + slack);
      t0 = Date.now();
      expect(await exp.flushMetrics(100)).toBe(false);
      expect(Date.now() - t0).toBeLessThan(100 + slack);
      t0 = Date.now();
      expect(await exp.finish('complete', { timeoutMs: 1000 })).toBe(false);
      expect(Date.now() - t0).toBeLessThan(1000 + slack);
      expect(exp.undelivered).toMatchObject({ points: 2 * N, reason: 'the server was not reachable' });
      expect(listSegments(spoolDir)).toHaveLength(1);

      const r = await syncSpool(spoolDir, { apiUrl: srv.url, apiKey: srv.apiKey, logger: silentLogger });
      expect(r).toMatchObject({ synced: 1, failed: 0, points: 2 * N });
      expect(await syncSpool(spoolDir, { apiUrl: srv.url, apiKey: srv.apiKey, logger: silentLogger })).toMatchObject({ segments: 0 });
      const rec = await client.getExperiment('faults', exp.name);
      expect(rec).toMatchObject({ status: 'complete', features: { a: 1, b: 2 }, git: { branch: 'main', dirty: true } });
      await expectExactlyOnce({ projectId: rec.project_id, id: rec.id }, { loss: N, acc: N });
    } finally {
      await hung.close();
    }
  });
});
