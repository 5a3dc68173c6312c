/**
 * Sender behaviour against the real server, with a fault-injecting proxy (fault-proxy.ts) in front
 * of it for what the server cannot do on cue. Everything asserted about stored points is read back
 * from the real server.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Experiment, type ExperimentOptions } from '../src/experiment.ts';
import { AssayClient } from '../src/client.ts';
import { syncSpool } from '../src/sync.ts';
import { listSegments, SpoolSegment } from '../src/spool.ts';
import { silentLogger } from '../src/logger.ts';
import { FaultProxy } from './fault-proxy.ts';
import { LiveServer } from './live-server.ts';
import { expectExactlyOnce, range, recordingLogger, removeTempDirs, sleep, storedSteps, tempDir, uniq } from './helpers.ts';

let srv: LiveServer;
let client: AssayClient;
let proxy: FaultProxy;
let spoolDir: string;
const exps: Experiment[] = [];

beforeAll(async () => {
  srv = await LiveServer.create();
  client = new AssayClient({ apiUrl: srv.url, apiKey: srv.apiKey });
});
afterAll(async () => {
  await srv?.cleanup();
});
beforeEach(async () => {
  proxy = await new FaultProxy(srv.url).start();
  spoolDir = tempDir('assay-sender');
});
afterEach(async () => {
  for (const e of exps.splice(0)) await e.finish('complete', { timeoutMs: 100 }).catch(() => {});
  await proxy.close();
  removeTempDirs();
});

async function mk(o: Partial<ExperimentOptions> = {}): Promise<Experiment> {
  const e = await Experiment.create({
    project: 'sender',
    name: uniq('exp'),
    apiUrl: proxy.url,
    apiKey: srv.apiKey,
    spoolDir,
    systemMetrics: false,
    heartbeatIntervalMs: 0,
    flushIntervalMs: 50,
    offlineGraceMs: 60_000,
    backoff: { baseMs: 20, maxMs: 200 },
    logger: silentLogger,
    ...o,
  });
  exps.push(e);
  return e;
}

const isBatch = (r: { batch_id?: string }) => r.batch_id !== undefined;

describe('Experiment against the real server, through a fault-injecting proxy', () => {
  it('retries 5xx with the same batch_id: stored exactly once', async () => {
    const e = await mk();
    let fails = 3;
    proxy.rule = (r) => (isBatch(r) && fails-- > 0 ? { status: 502, body: { detail: 'bad gateway' } } : undefined);
    for (let i = 0; i < 100; i++) e.logMetric('loss', i);
    expect(await e.flushMetrics()).toBe(true);
    const ids = proxy.batches().map((r) => r.batch_id);
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(1);
    expect(e.stats()).toMatchObject({ acked: 100, retries: 3, dropped: 0 });
    await expectExactlyOnce(client, e, { loss: 100 });
  });

  it('honours Retry-After on 429', async () => {
    const e = await mk();
    let first = true;
    proxy.rule = (r) => {
      if (!isBatch(r) || !first) return undefined;
      first = false;
      return { status: 429, body: { detail: 'slow down' }, headers: { 'retry-after': '1' } };
    };
    e.logMetric('loss', 1);
    const t0 = Date.now();
    expect(await e.flushMetrics()).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(await storedSteps(client, e, 'loss')).toEqual([0]);
  });

  it('splits a batch on 413 (derived batch ids) and gzips large bodies', async () => {
    const e = await mk({ batchSize: 4000 });
    proxy.rule = (r) => (isBatch(r) && r.bytes > 40_000 ? { status: 413, body: { detail: 'Request body too large' } } : undefined);
    for (let i = 0; i < 4000; i++) e.logMetric('loss', Math.random());
    expect(await e.flushMetrics()).toBe(true);
    const sent = proxy.batches();
    expect(sent.some((r) => r.batch_id!.endsWith('.0'))).toBe(true);
    expect(sent.every((r) => r.gzip)).toBe(true);
    await expectExactlyOnce(client, e, { loss: 4000 });
  });

  it('pipelines independent batches, but never reorders writes of one (metric, step)', async () => {
    proxy.rule = () => ({ delayMs: Math.random() * 10 });
    const e = await mk({ batchSize: 50, maxInFlight: 4 });
    for (let i = 0; i < 1000; i++) e.logMetric('y', i);
    await e.flushMetrics();
    expect(await storedSteps(client, e, 'y')).toEqual(range(1000));
    expect(proxy.maxConcurrentBatches).toBeGreaterThan(1); // independent batches did overlap

    // one point per batch, each step written twice in a row: the second write must land last
    const f = await mk({ batchSize: 1, maxInFlight: 4 });
    for (let i = 0; i < 20; i++) {
      f.logMetric('x', 1, { step: i });
      f.logMetric('x', 2, { step: i });
      f.logMetric('z', i);
    }
    await f.flushMetrics();
    const x = await f.getMetric('x');
    expect(x.points.map((p) => p.step)).toEqual(range(20));
    expect(x.points.filter((p) => p.value !== 2)).toEqual([]);
  });

  it('flushMetrics resolves only after the server acknowledged', async () => {
    const e = await mk();
    proxy.rule = (r) => (isBatch(r) ? { delayMs: 300 } : undefined);
    e.logMetric('loss', 1);
    const t0 = Date.now();
    expect(await e.flushMetrics()).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(await storedSteps(client, e, 'loss')).toEqual([0]);
  });

  it('server down, then back: in-memory retries, spool, replay — every point exactly once', async () => {
    const e = await mk({ offlineGraceMs: 200 });
    const N = 3000;
    for (let i = 0; i < N; i++) {
      e.logMetric('loss', i);
      if (i === 1000) {
        proxy.down = true;
        proxy.dropAll();
      }
      if (i === 1500) await sleep(500); // longer than the grace
      if (i === 2000) proxy.down = false;
      if (i % 50 === 0) await sleep(5);
    }
    expect(e.stats().spooled).toBeGreaterThan(0);
    expect(await e.finish('complete')).toBe(true);
    await expectExactlyOnce(client, e, { loss: N });
    expect((await e.info()).status).toBe('complete');
    expect(listSegments(spoolDir)).toEqual([]);
  });

  it('a server that stops answering mid-run: flush returns within the grace, the run replays by itself once it answers', async () => {
    const grace = 1500;
    const e = await mk({ offlineGraceMs: grace });
    for (let i = 0; i < 100; i++) e.logMetric('loss', i);
    expect(await e.flushMetrics()).toBe(true);
    proxy.rule = () => 'hang';
    for (let i = 100; i < 200; i++) e.logMetric('loss', i);
    let t0 = Date.now();
    expect(await e.flushMetrics()).toBe(false); // nothing acknowledged: spooled, and it says so
    expect(Date.now() - t0).toBeLessThan(grace + 1000);
    expect(e.stats()).toMatchObject({ spooling: true, unsentOnDisk: 100 });
    t0 = Date.now();
    await e.logFeatures({ phase: 'hung' }); // spooled behind the points, no waiting
    expect(Date.now() - t0).toBeLessThan(grace + 1000);
    proxy.rule = null;
    proxy.dropAll();
    for (let i = 200; i < 300; i++) e.logMetric('loss', i);
    expect(await e.finish('complete', { timeoutMs: 30_000 })).toBe(true);
    await expectExactlyOnce(client, e, { loss: 300 });
    expect((await e.info()).features).toMatchObject({ phase: 'hung' });
  });

  it('server unreachable at start: runs offline, creates the experiment when it appears', async () => {
    proxy.down = true;
    const name = uniq('late');
    const e = await mk({ offlineGraceMs: 300, name, tags: ['a'], features: { lr: 0.01 } });
    expect(e.online).toBe(false);
    await e.logFeatures({ opt: { name: 'adam' } });
    expect(e.features).toEqual({ lr: 0.01, opt: { name: 'adam' } });
    for (let i = 0; i < 500; i++) e.logMetric('loss', i);
    expect(await e.flushMetrics()).toBe(false);
    expect(e.stats().spooling).toBe(true);
    expect(listSegments(spoolDir)).toHaveLength(1);
    proxy.down = false;
    for (let i = 0; i < 500; i++) e.logMetric('loss', i + 500);
    expect(await e.finish('complete')).toBe(true);
    expect(e.online).toBe(true);
    await expectExactlyOnce(client, e, { loss: 1000 });
    expect(await client.getExperiment('sender', name)).toMatchObject({ status: 'complete', tags: ['a'], features: { lr: 0.01, opt: { name: 'adam' } } });
    expect(listSegments(spoolDir)).toEqual([]);
  });

  it('Experiment.resume by id while the server is down: resumes that run (tags merged) once it answers', async () => {
    const first = await mk({ tags: ['v1'] });
    first.logMetric('loss', 0);
    expect(await first.finish('complete')).toBe(true);
    proxy.down = true;
    const again = await Experiment.resume({ project: 'sender', id: first.id!, apiUrl: proxy.url, apiKey: srv.apiKey, spoolDir, systemMetrics: false, heartbeatIntervalMs: 0, offlineGraceMs: 300, logger: silentLogger, tags: ['v2'] });
    exps.push(again);
    expect(again.online).toBe(false);
    again.logMetric('loss', 1, { step: 1 });
    proxy.down = false;
    expect(await again.finish('complete')).toBe(true);
    expect(again.id).toBe(first.id);
    expect(again.name).toBe(first.name);
    expect(await client.getExperiment(first.projectId!, first.id!)).toMatchObject({ tags: ['v1', 'v2'], status: 'complete' });
    await expectExactlyOnce(client, first, { loss: 2 });
  });

  it('bounds memory by spilling to the spool, never dropping', async () => {
    proxy.down = true;
    const e = await mk({ maxBufferedPoints: 1000, batchSize: 100, offlineGraceMs: 300 });
    // never yields to the event loop: only the synchronous spill can bound memory
    for (let i = 0; i < 10_000; i++) {
      e.logMetric('loss', i);
      expect(e.stats().pending).toBeLessThanOrEqual(1001);
    }
    expect(e.stats().spooled).toBeGreaterThanOrEqual(9000);
    proxy.down = false;
    expect(await e.finish('complete')).toBe(true);
    await expectExactlyOnce(client, e, { loss: 10_000 });
  });

  it('finish() with the server gone leaves a spool that syncSpool uploads exactly once', async () => {
    const e = await mk({ offlineGraceMs: 5000 });
    for (let i = 0; i < 200; i++) e.logMetric('loss', i);
    expect(await e.flushMetrics()).toBe(true);
    proxy.down = true;
    proxy.dropAll();
    for (let i = 200; i < 400; i++) e.logMetric('loss', i);
    expect(await e.finish('failed', { timeoutMs: 500 })).toBe(false);
    expect(e.undelivered).toMatchObject({ points: 200, spoolDir, command: `ASSAY_API_KEY=<key> npx assay-sdk sync ${spoolDir}` });
    expect(listSegments(spoolDir)).toHaveLength(1);
    const r = await syncSpool(spoolDir, { apiUrl: srv.url, apiKey: srv.apiKey, logger: silentLogger });
    expect(r).toMatchObject({ synced: 1, failed: 0, points: 200, dropped: 0, foreign: [] });
    expect(await syncSpool(spoolDir, { apiUrl: srv.url, apiKey: srv.apiKey, logger: silentLogger })).toMatchObject({ segments: 0 });
    await expectExactlyOnce(client, e, { loss: 400 });
    expect((await client.getExperiment(e.projectId!, e.id!)).status).toBe('failed');
  });

  it('finish waits as long as the server makes progress, then gives up after finishPatienceMs', async () => {
    // patience 3 s: one batch (or the status PATCH) on a loaded CI machine can take over 1 s, and
    // that is a server without progress for the SDK (a 1 s patience failed CI at load 30)
    const e = await mk({ batchSize: 100, maxInFlight: 1, finishPatienceMs: 3000 });
    proxy.rule = (r) => (isBatch(r) ? { delayMs: 150 } : undefined);
    for (let i = 0; i < 4000; i++) e.logMetric('loss', i); // 40 batches × 150 ms ≫ patience
    const started = Date.now();
    expect(await e.finish('complete')).toBe(true);
    expect(Date.now() - started).toBeGreaterThan(3000); // it waited past its patience: progress kept it going
    expect(e.stats().spooled).toBe(0);
    await expectExactlyOnce(client, e, { loss: 4000 });

    proxy.rule = null;
    const g = await mk({ finishPatienceMs: 300 });
    proxy.down = true;
    for (let i = 0; i < 50; i++) g.logMetric('loss', i);
    const t0 = Date.now();
    expect(await g.finish('complete')).toBe(false);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(g.stats().spooled).toBe(50); // still retrying in memory at the deadline → written to disk
    expect(listSegments(spoolDir)).toHaveLength(1);
  });

  it('without a spool, finish gives up loudly instead of hanging', async () => {
    const log = recordingLogger();
    const e = await mk({ spoolDir: false, finishPatienceMs: 300, logger: log.logger });
    proxy.down = true;
    e.logMetric('loss', 1);
    expect(await e.finish('complete')).toBe(false);
    expect(log.text('error')).toMatch(/1 points could not be delivered/);
  });

  it('ASSAY_MODE=offline never contacts the server; sync delivers it', async () => {
    const name = uniq('off');
    const e = await mk({ mode: 'offline', name });
    for (let i = 0; i < 10; i++) e.logMetric('loss', i);
    await e.logFeatures({ a: 1 });
    await e.setTags(['offline']);
    expect(await e.finish('complete', { timeoutMs: 200 })).toBe(false);
    expect(proxy.seen).toHaveLength(0);
    const r = await syncSpool(spoolDir, { apiKey: srv.apiKey, logger: silentLogger });
    expect(r).toMatchObject({ synced: 1, points: 10 });
    expect(await client.getExperiment('sender', name)).toMatchObject({ status: 'complete', features: { a: 1 }, tags: ['offline'] });
  });
});

describe('syncSpool against the real server', () => {
  const header = (experiment: string) => ({ api_url: proxy.url, project: 'sync', experiment, project_id: null, experiment_id: null });
  const pts = (n: number, from = 0) => range(n, from).map((i) => ({ metric_name: 'loss', metric_value: i, step: i }));

  it('creates the experiment by name, replays in order, marks the status and deletes the segment', async () => {
    const name = uniq('e');
    const seg = SpoolSegment.create(spoolDir, { ...header(name), create: { features: { lr: 0.1 } } });
    seg.append([
      { type: 'metrics', batch_id: `${uniq('r')}-1`, metrics: pts(10) },
      { type: 'features', features: { opt: 'adam' } },
      { type: 'metrics', batch_id: `${uniq('r')}-2`, metrics: pts(10, 10) },
      { type: 'patch', patch: { description: 'from the spool' } },
      { type: 'status', status: 'complete' },
    ]);
    expect(await syncSpool(spoolDir, { apiKey: srv.apiKey, logger: silentLogger })).toMatchObject({ locked: 1 }); // still owned by this process
    seg.close();
    const r = await syncSpool(spoolDir, { apiKey: srv.apiKey, logger: silentLogger });
    expect(r).toMatchObject({ segments: 1, synced: 1, points: 20, failed: 0, rejected: 0 });
    expect(fs.readdirSync(spoolDir)).toEqual([]);
    const rec = await client.getExperiment('sync', name);
    expect(rec).toMatchObject({ status: 'complete', features: { lr: 0.1, opt: 'adam' }, description: 'from the spool' });
    await expectExactlyOnce(client, { projectId: rec.project_id, id: rec.id }, { loss: 20 });
  });

  it('resumes after a failure without duplicating points, and marks a run without final status crashed', async () => {
    const name = uniq('e2');
    const seg = SpoolSegment.create(spoolDir, header(name));
    const run = uniq('y');
    for (let b = 0; b < 5; b++) seg.append([{ type: 'metrics', batch_id: `${run}-${b}`, metrics: pts(4, b * 4) }]);
    seg.close();
    let n = 0;
    proxy.rule = (r) => (isBatch(r) && ++n >= 3 ? { status: 503, body: { detail: 'down' } } : undefined);
    let r = await syncSpool(spoolDir, { apiKey: srv.apiKey, logger: silentLogger, maxAttempts: 2, backoff: { baseMs: 1, maxMs: 2 } });
    expect(r).toMatchObject({ synced: 0, failed: 1 });
    proxy.rule = null;
    r = await syncSpool(spoolDir, { apiKey: srv.apiKey, logger: silentLogger });
    expect(r).toMatchObject({ synced: 1, failed: 0 });
    const rec = await client.getExperiment('sync', name);
    expect(rec.status).toBe('crashed');
    await expectExactlyOnce(client, { projectId: rec.project_id, id: rec.id }, { loss: 20 });
    expect(new Set(proxy.batches().map((q) => q.batch_id)).size).toBe(5);
  });

  it('stops on a bad key and keeps the spool', async () => {
    const seg = SpoolSegment.create(spoolDir, header(uniq('e3')));
    seg.append([{ type: 'metrics', batch_id: uniq('z'), metrics: pts(1) }]);
    seg.close();
    const r = await syncSpool(spoolDir, { apiKey: 'assay_wrong', logger: silentLogger });
    expect(r.failed).toBe(1);
    expect(r.errors[0]).toMatch(/401/);
    expect(listSegments(spoolDir)).toHaveLength(1);
  });
});

describe('process exit', () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const run = (name: string, body: string) => {
    const script = path.join(spoolDir, 'script.mts');
    fs.writeFileSync(
      script,
      `import { Experiment, silentLogger } from ${JSON.stringify(path.join(here, '../src/index.ts'))};\n` +
        `const exp = await Experiment.create({ project: 'exit', name: ${JSON.stringify(name)}, apiUrl: ${JSON.stringify(proxy.url)}, apiKey: ${JSON.stringify(srv.apiKey)},` +
        ` spoolDir: ${JSON.stringify(path.join(spoolDir, 'sp'))}, systemMetrics: false, logger: silentLogger, flushIntervalMs: 60000 });\n` +
        body,
    );
    return new Promise<{ status: number | null; stderr: string }>((resolve) => {
      // cwd outside any git work tree; tsx by absolute URL (it is not resolvable from there)
      const env = { ...process.env, TSX_DISABLE_CACHE: '1' }; // no transform cache left in TMPDIR
      const c = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script], { cwd: spoolDir, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      c.stderr.on('data', (d) => (stderr += d));
      c.on('exit', (status) => resolve({ status, stderr }));
    });
  };

  it('auto-finishes when the script ends without finish()', async () => {
    const name = uniq('auto');
    const r = await run(name, `for (let i = 0; i < 100; i++) exp.logMetric('loss', i);\n`);
    expect(r.status).toBe(0);
    const rec = await client.getExperiment('exit', name);
    expect(rec.status).toBe('complete');
    await expectExactlyOnce(client, { projectId: rec.project_id, id: rec.id }, { loss: 100 });
  });

  it('process.exit / crash spills unsent points with status failed to the spool', async () => {
    const name = uniq('crash');
    const r = await run(name, `for (let i = 0; i < 100; i++) exp.logMetric('loss', i);\nsetTimeout(() => { throw new Error('boom'); }, 1);\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/100 unsent points written/);
    expect(r.stderr).toContain('npx assay-sdk sync');
    const rec = await client.getExperiment('exit', name);
    expect((await client.summary(rec.project_id, rec.id)).metrics.loss).toBeUndefined();
    const s = await syncSpool(path.join(spoolDir, 'sp'), { apiKey: srv.apiKey, logger: silentLogger });
    expect(s).toMatchObject({ synced: 1, points: 100 });
    expect((await client.getExperiment('exit', name)).status).toBe('failed');
    await expectExactlyOnce(client, { projectId: rec.project_id, id: rec.id }, { loss: 100 });
  });
});
