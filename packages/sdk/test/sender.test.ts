/** Sender / Experiment behaviour against an in-process fake server (fault injection). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Experiment, type ExperimentOptions } from '../src/experiment.ts';
import { syncSpool } from '../src/ops.ts';
import { listSegments } from '../src/spool.ts';
import { silentLogger } from '../src/logger.ts';
import { FakeServer } from './fake-server.ts';

let srv: FakeServer;
let spoolDir: string;
const exps: Experiment[] = [];

beforeEach(async () => {
  srv = new FakeServer();
  await srv.start();
  spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-sender-'));
});
afterEach(async () => {
  for (const e of exps.splice(0)) await e.finish('complete', { timeoutMs: 100 }).catch(() => {});
  await srv.stop();
  fs.rmSync(spoolDir, { recursive: true, force: true });
});

async function mk(o: Partial<ExperimentOptions> = {}): Promise<Experiment> {
  const e = await Experiment.create({
    project: 'proj',
    name: `exp-${Math.random().toString(36).slice(2, 8)}`,
    apiUrl: srv.url,
    apiKey: srv.apiKey,
    spoolDir,
    systemMetrics: false,
    heartbeatIntervalMs: 0,
    flushIntervalMs: 50,
    spoolAfterMs: 60_000,
    backoff: { baseMs: 20, maxMs: 200 },
    logger: silentLogger,
    ...o,
  });
  exps.push(e);
  return e;
}

const steps = (metric: string) => srv.pointsOf(metric).map((p) => p.step).sort((a, b) => a - b);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('Experiment against a fake server', () => {
  it('auto-steps per metric, encodes NaN/Inf, flushes and finishes', async () => {
    const e = await mk({ teamId: 'team-123' });
    expect(e.online).toBe(true);
    for (let i = 0; i < 5; i++) e.logMetric('loss', 1 / (i + 1));
    e.logMetric('acc', 0.5, { step: 10 });
    e.logMetric('acc', 0.6); // continues after the explicit step
    e.bufferMetric('weird', NaN);
    e.bufferMetric('weird', Infinity);
    e.bufferMetric('weird', -Infinity);
    await e.flushMetrics();
    expect(steps('loss')).toEqual([0, 1, 2, 3, 4]);
    expect(steps('acc')).toEqual([10, 11]);
    expect(srv.pointsOf('weird').map((p) => p.metric_value)).toEqual(['NaN', 'Infinity', '-Infinity']);
    expect(typeof srv.pointsOf('loss')[0].timestamp).toBe('number');
    await e.finish('complete');
    expect(srv.experiments.get(e.id!)!.status).toBe('complete');
    expect(listSegments(spoolDir)).toEqual([]);
  });

  it('rejects a teamId that is not the key’s team', async () => {
    await expect(mk({ teamId: 'other-team' })).rejects.toThrow(/does not match/);
  });

  it('retries 5xx with the same batch_id: exactly once', async () => {
    const e = await mk();
    let fails = 3;
    srv.hook = (req) => (req.url!.includes('/metrics/batch/') && fails-- > 0 ? { status: 502, body: { detail: 'bad gateway' } } : undefined);
    for (let i = 0; i < 100; i++) e.logMetric('loss', i);
    await e.flushMetrics();
    expect(steps('loss')).toEqual(range(100));
    const ids = srv.requests.filter((r) => r.batch_id).map((r) => r.batch_id);
    expect(ids.length).toBe(4);
    expect(new Set(ids).size).toBe(1);
    expect(e.stats()).toMatchObject({ acked: 100, retries: 3, rejected: 0 });
  });

  it('honours Retry-After on 429', async () => {
    const e = await mk();
    let first = true;
    srv.hook = (req) => {
      if (req.url!.includes('/metrics/batch/') && first) {
        first = false;
        return { status: 429, body: { detail: 'slow down' }, headers: { 'retry-after': '1' } };
      }
      return undefined;
    };
    e.logMetric('loss', 1);
    const t0 = Date.now();
    await e.flushMetrics();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(steps('loss')).toEqual([0]);
  });

  it('does not retry other 4xx; training continues', async () => {
    const e = await mk();
    let first = true;
    srv.hook = (req) => {
      if (req.url!.includes('/metrics/batch/') && first) {
        first = false;
        return { status: 422, body: { detail: [{ loc: ['body'], msg: 'bad', type: 'x' }] } };
      }
      return undefined;
    };
    e.logMetric('loss', 1);
    await e.flushMetrics();
    e.logMetric('loss', 2);
    await e.flushMetrics();
    expect(srv.requests.filter((r) => r.batch_id)).toHaveLength(2);
    expect(e.stats()).toMatchObject({ rejected: 1, acked: 1 });
  });

  it('splits a batch on 413 and gzips large bodies', async () => {
    const e = await mk({ batchSize: 4000 });
    srv.maxBodyBytes = 40_000; // compressed bytes
    for (let i = 0; i < 4000; i++) e.logMetric('loss', Math.random());
    await e.flushMetrics();
    expect(steps('loss')).toEqual(range(4000));
    const sent = srv.requests.filter((r) => r.batch_id);
    expect(sent.some((r) => r.batch_id!.endsWith('.0'))).toBe(true);
    expect(sent.every((r) => r.gzip)).toBe(true);
  });

  it('pipelines batches, but never reorders writes of the same (metric, step)', async () => {
    srv.latencyMs = () => Math.random() * 10;
    const e = await mk({ batchSize: 50, maxInFlight: 4 });
    for (let i = 0; i < 1000; i++) e.logMetric('y', i);
    await e.flushMetrics();
    expect(steps('y')).toEqual(range(1000));
    expect(srv.maxConcurrent).toBeGreaterThan(1); // independent batches did overlap

    // one point per batch, each step written twice in a row: the second write must land last
    const f = await mk({ batchSize: 1, maxInFlight: 4 });
    for (let i = 0; i < 100; i++) {
      f.logMetric('x', 1, { step: i });
      f.logMetric('x', 2, { step: i });
      f.logMetric('z', i);
    }
    await f.flushMetrics();
    const last = new Map<number, unknown>();
    for (const p of srv.pointsOf('x')) last.set(p.step, p.metric_value);
    expect(last.size).toBe(100);
    expect([...last.values()].filter((v) => v !== 2)).toEqual([]);
  });

  it('flushMetrics resolves only after the server acked', async () => {
    const e = await mk();
    srv.latencyMs = 300;
    e.logMetric('loss', 1);
    const t0 = Date.now();
    await e.flushMetrics();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(srv.points).toHaveLength(1);
  });

  it('server down then back: in-memory retries, spool, replay — every point exactly once', async () => {
    const e = await mk({ spoolAfterMs: 200 });
    const port = srv.port;
    const N = 3000;
    for (let i = 0; i < N; i++) {
      e.logMetric('loss', i);
      if (i === 1000) await srv.stop();
      if (i === 1500) await new Promise((r) => setTimeout(r, 500)); // longer than spoolAfterMs
      if (i === 2000) await srv.start(port);
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(e.stats().spooled).toBeGreaterThan(0);
    await e.finish('complete');
    expect(steps('loss')).toEqual(range(N));
    expect(srv.experiments.get(e.id!)!.status).toBe('complete');
    expect(listSegments(spoolDir)).toEqual([]);
  });

  it('server unreachable at start: runs offline, creates the experiment when it appears', async () => {
    const port = srv.port;
    await srv.stop();
    const e = await mk({ spoolAfterMs: 300, name: 'late' });
    expect(e.online).toBe(false);
    await e.logFeatures({ lr: 0.01 });
    for (let i = 0; i < 500; i++) e.logMetric('loss', i);
    await e.flushMetrics();
    expect(e.stats().spooling).toBe(true);
    expect(listSegments(spoolDir)).toHaveLength(1);
    await srv.start(port);
    for (let i = 0; i < 500; i++) e.logMetric('loss', i);
    await e.finish('complete');
    expect(e.online).toBe(true);
    expect(steps('loss')).toEqual(range(1000));
    const rec = [...srv.experiments.values()].find((x) => x.name === 'late')!;
    expect(rec).toMatchObject({ status: 'complete', features: { lr: 0.01 } });
    expect(listSegments(spoolDir)).toEqual([]);
  });

  it('bounds memory by spilling to the spool, never dropping', async () => {
    const port = srv.port;
    await srv.stop();
    const e = await mk({ maxBufferedPoints: 1000, batchSize: 100, name: 'bounded', spoolAfterMs: 300 });
    // never yields to the event loop: only the synchronous spill can bound memory
    for (let i = 0; i < 10_000; i++) {
      e.logMetric('loss', i);
      expect(e.stats().pending).toBeLessThanOrEqual(1001);
    }
    expect(e.stats().spooled).toBeGreaterThanOrEqual(9000);
    await srv.start(port);
    await e.finish('complete');
    expect(steps('loss')).toEqual(range(10_000));
  });

  it('finish() with the server gone leaves a spool that syncSpool uploads exactly once', async () => {
    const e = await mk({ spoolAfterMs: 100, name: 'gone' });
    const port = srv.port;
    for (let i = 0; i < 200; i++) e.logMetric('loss', i);
    await e.flushMetrics();
    await srv.stop();
    for (let i = 0; i < 200; i++) e.logMetric('loss', i);
    await e.finish('failed', { timeoutMs: 500 });
    expect(listSegments(spoolDir)).toHaveLength(1);
    await srv.start(port);
    const r = await syncSpool(spoolDir, { apiKey: srv.apiKey, logger: silentLogger });
    expect(r).toMatchObject({ synced: 1, failed: 0, points: 200 });
    expect(steps('loss')).toEqual(range(400));
    expect(srv.experiments.get(e.id!)!.status).toBe('failed');
  });

  it('finish waits as long as the server makes progress, then gives up after finishPatienceMs', async () => {
    const e = await mk({ batchSize: 100, maxInFlight: 1, finishPatienceMs: 1000 });
    srv.latencyMs = 100;
    for (let i = 0; i < 2000; i++) e.logMetric('loss', i); // 20 batches × 100 ms ≫ patience
    await e.finish('complete');
    expect(steps('loss')).toEqual(range(2000));
    expect(e.stats().spooled).toBe(0);
    expect(srv.experiments.get(e.id!)!.status).toBe('complete');

    const g = await mk({ spoolAfterMs: 60_000, finishPatienceMs: 300, name: 'patience' });
    await srv.stop();
    for (let i = 0; i < 50; i++) g.logMetric('loss', i);
    const t0 = Date.now();
    await g.finish('complete');
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(g.stats().spooled).toBe(50); // still retrying in memory at the deadline → written to disk
    expect(listSegments(spoolDir)).toHaveLength(1);
  });

  it('without a spool, finish gives up loudly instead of hanging', async () => {
    const errors: string[] = [];
    const e = await mk({ spoolDir: false, finishPatienceMs: 300, logger: { ...silentLogger, error: (m) => errors.push(m) } });
    await srv.stop();
    e.logMetric('loss', 1);
    await e.finish('complete');
    expect(errors.join('\n')).toMatch(/1 points could not be delivered/);
  });

  it('ASSAY_MODE=offline never contacts the server', async () => {
    const e = await mk({ mode: 'offline', name: 'off' });
    for (let i = 0; i < 10; i++) e.logMetric('loss', i);
    await e.logFeatures({ a: 1 });
    await e.finish('complete', { timeoutMs: 200 });
    expect(srv.requests).toHaveLength(0);
    const r = await syncSpool(spoolDir, { apiKey: srv.apiKey, logger: silentLogger });
    expect(r).toMatchObject({ synced: 1, points: 10 });
    const rec = [...srv.experiments.values()].find((x) => x.name === 'off')!;
    expect(rec).toMatchObject({ status: 'complete', features: { a: 1 } });
  });
});

describe('process exit', () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, '../../..');
  const run = (body: string) => {
    const script = path.join(spoolDir, 'script.mts');
    fs.writeFileSync(
      script,
      `import { Experiment, silentLogger } from ${JSON.stringify(path.join(root, 'packages/sdk/src/index.ts'))};\n` +
        `const exp = await Experiment.create({ project: 'p', name: 'child', apiUrl: ${JSON.stringify(srv.url)}, apiKey: ${JSON.stringify(srv.apiKey)},` +
        ` spoolDir: ${JSON.stringify(path.join(spoolDir, 'sp'))}, systemMetrics: false, logger: silentLogger, flushIntervalMs: 60000 });\n` +
        body,
    );
    return new Promise<{ status: number | null; stderr: string }>((resolve) => {
      // async spawn: the fake server lives in this process
      import('node:child_process').then(({ spawn }) => {
        const c = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        c.stderr.on('data', (d) => (stderr += d));
        c.on('exit', (status) => resolve({ status, stderr }));
      });
    });
  };
  void spawnSync;

  it('auto-finishes when the script ends without finish()', async () => {
    const r = await run(`for (let i = 0; i < 100; i++) exp.logMetric('loss', i);\n`);
    expect(r.status).toBe(0);
    expect(steps('loss')).toEqual(range(100));
    expect([...srv.experiments.values()][0].status).toBe('complete');
  });

  it('process.exit / crash spills unsent points with status failed to the spool', async () => {
    const r = await run(`for (let i = 0; i < 100; i++) exp.logMetric('loss', i);\nsetTimeout(() => { throw new Error('boom'); }, 1);\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/100 unsent points written/);
    expect(srv.points).toHaveLength(0);
    const s = await syncSpool(path.join(spoolDir, 'sp'), { apiKey: srv.apiKey, logger: silentLogger });
    expect(s).toMatchObject({ synced: 1, points: 100 });
    expect(steps('loss')).toEqual(range(100));
    expect([...srv.experiments.values()][0].status).toBe('failed');
  });
});
