/** The SDK end to end against a real `assay serve` (started by live-server.ts). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AssayClient, AssayConfigError, Experiment, silentLogger, type ExperimentOptions } from '../src/index.ts';
import { listSegments } from '../src/spool.ts';
import { LiveServer } from './live-server.ts';

let srv: LiveServer;
let client: AssayClient;
let tmp: string;

beforeAll(async () => {
  srv = await LiveServer.create();
  client = new AssayClient({ apiUrl: srv.url, apiKey: srv.apiKey });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-sdk-live-'));
});
afterAll(async () => {
  await srv?.cleanup();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const uniq = (p: string) => `${p}-${randomBytes(3).toString('hex')}`;

function opts(o: Partial<ExperimentOptions> = {}): ExperimentOptions {
  return {
    project: 'sdk-live',
    name: uniq('exp'),
    apiUrl: srv.url,
    apiKey: srv.apiKey,
    spoolDir: path.join(tmp, 'spool'),
    systemMetrics: false,
    logger: silentLogger,
    ...o,
  };
}

describe('TypeScript SDK against a live server', () => {
  it('runs the seed flow end to end and reads everything back', async () => {
    const ckpt = path.join(tmp, 'checkpoints');
    fs.mkdirSync(path.join(ckpt, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(ckpt, 'epoch1.pt'), randomBytes(300_000));
    fs.writeFileSync(path.join(ckpt, 'epoch2.pt'), 'small');
    fs.writeFileSync(path.join(ckpt, 'notes.txt'), 'not matched');
    fs.writeFileSync(path.join(ckpt, 'sub', 'deep.pt'), 'only with **');

    const exp = await Experiment.create(
      opts({ project: 'vision_transformer', name: uniq('vit_base_imagenet'), teamId: 'team-123', features: { dataset: 'imagenet' }, tags: ['vit'] }),
    );
    expect(exp.online).toBe(true);
    expect(exp.record?.status).toBe('running');
    await exp.logFeatures({ model: { arch: 'vit_base', patch: 16 }, optimizer: { name: 'adamw', lr: 1e-4 } });
    await exp.logFeatures({ optimizer: { lr: 3e-4 } }); // deep merge keeps optimizer.name
    const git = await exp.logCodeSnapshot('git_diff', { cwd: process.cwd() });
    const N = 500;
    for (let step = 0; step < N; step++) {
      exp.logMetric('loss', 1 / (step + 1), { step });
      exp.bufferMetric('accuracy', step / N, { step });
      if (step % 100 === 99) await exp.flushMetrics();
    }
    await exp.flushMetrics();
    const up = await exp.logArtifacts(ckpt, '*.pt');
    expect(up.map((u) => [u.path, u.skipped])).toEqual([
      ['epoch1.pt', false],
      ['epoch2.pt', false],
    ]);
    const again = await exp.logArtifacts(ckpt, '*.pt');
    expect(again.every((u) => u.skipped)).toBe(true);
    const deep = await exp.logArtifacts(ckpt, '**/*.pt', { prefix: 'ckpt' });
    expect(deep.map((u) => u.path).sort()).toEqual(['ckpt/epoch1.pt', 'ckpt/epoch2.pt', 'ckpt/sub/deep.pt']);
    await exp.finish('complete');

    const rec = await client.getExperiment(exp.projectId!, exp.id!);
    expect(rec.status).toBe('complete');
    expect(rec.finished_at).toBeTruthy();
    expect(rec.features).toMatchObject({ dataset: 'imagenet', model: { arch: 'vit_base', patch: 16 }, optimizer: { name: 'adamw', lr: 3e-4 } });
    if (git) expect(rec.git).toMatchObject({ commit: git.commit, branch: git.branch, dirty: git.dirty });

    const loss = await client.timeseries('vision_transformer', exp.name, 'loss');
    expect(loss.count).toBe(N);
    expect(loss.points.map((p) => p.step)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(loss.points[9].value).toBeCloseTo(0.1, 12);
    expect(loss.points[0].timestamp).toBeInstanceOf(Date);
    const sum = await exp.summary();
    expect(sum.metrics.loss).toMatchObject({ count: N, first_step: 0, last_step: N - 1, max: 1 });
    expect(sum.metrics.loss.last).toBeCloseTo(1 / N, 12);
    expect(sum.metrics.accuracy.count).toBe(N);

    const arts = await client.listArtifacts(exp.projectId!, exp.id!);
    const e1 = arts.find((a) => a.path === 'epoch1.pt')!;
    expect(e1.size).toBe(300_000);
    const dl = await client.downloadArtifact(exp.projectId!, exp.id!, e1.id);
    expect(Buffer.from(await dl.arrayBuffer()).equals(fs.readFileSync(path.join(ckpt, 'epoch1.pt')))).toBe(true);

    const projects = await client.listProjects({ name: 'vision_transformer' });
    expect(projects.items.map((p) => p.name)).toContain('vision_transformer');
    const names = [];
    for await (const e of client.iterExperiments('vision_transformer', { status: 'complete' })) names.push(e.name);
    expect(names).toContain(exp.name);
    expect(listSegments(path.join(tmp, 'spool'))).toEqual([]);
  });

  it('get-or-create: the same name resumes the same experiment', async () => {
    const name = uniq('resume');
    const a = await Experiment.create(opts({ name }));
    for (let i = 0; i < 5; i++) a.logMetric('loss', i);
    await a.finish('complete');
    const b = await Experiment.create(opts({ name, features: { resumed: true } }));
    expect(b.id).toBe(a.id);
    expect(b.record?.features).toMatchObject({ resumed: true });
    expect(b.record?.status).toBe('running');
    expect(b.logMetric('loss', 5)).toBe(5); // auto steps continue after the last logged step
    await b.finish('failed');
    expect((await b.info()).status).toBe('failed');
    expect((await b.getMetric('loss')).points.map((p) => p.step)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('checks teamId by name and UUID against /me', async () => {
    const a = await Experiment.create(opts({ teamId: srv.team.team_id }));
    await a.finish();
    await expect(Experiment.create(opts({ teamId: 'someone-else' }))).rejects.toBeInstanceOf(AssayConfigError);
    await expect(Experiment.create(opts({ apiKey: 'assay_wrong' }))).rejects.toMatchObject({ status: 401 });
  });

  it('auto-increments steps per metric', async () => {
    const exp = await Experiment.create(opts());
    for (let i = 0; i < 7; i++) exp.logMetric('a', i);
    for (let i = 0; i < 3; i++) exp.logMetric('b', i);
    exp.logMetric('b', 100, { step: 50 });
    exp.logMetric('b', 101);
    await exp.finish();
    expect((await exp.getMetric('a')).points.map((p) => p.step)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect((await exp.getMetric('b')).points.map((p) => [p.step, p.value])).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
      [50, 100],
      [51, 101],
    ]);
  });

  it('round-trips NaN and ±Infinity', async () => {
    const exp = await Experiment.create(opts());
    const vals = [1.5, NaN, Infinity, -Infinity, -0.25, Number.MAX_VALUE, 5e-324];
    vals.forEach((v) => exp.logMetric('special', v));
    exp.logMetric('odd/name with spaces & ünïcödé 🔥', 1);
    await exp.finish();
    const ts = await exp.getMetric('special');
    expect(ts.points.map((p) => p.value)).toEqual(vals);
    const odd = await exp.getMetric('odd/name with spaces & ünïcödé 🔥');
    expect(odd.count).toBe(1);
  });

  it('flushMetrics and finish resolve only after the server has every point', async () => {
    const exp = await Experiment.create(opts({ flushIntervalMs: 60_000 }));
    const N = 20_000;
    for (let i = 0; i < N; i++) exp.logMetric('x', i);
    await exp.flushMetrics();
    // no sleep: flush returned, so the points are durable and readable
    expect((await exp.summary()).metrics.x.count).toBe(N);
    for (let i = 0; i < N; i++) exp.logMetric('y', i);
    await exp.finish();
    expect((await exp.summary()).metrics.y.count).toBe(N);
    expect((await client.timeseries(exp.projectId!, exp.id!, 'y', { limit: N })).count).toBe(N);
    const st = exp.stats();
    expect(st).toMatchObject({ logged: 2 * N, acked: 2 * N, spooled: 0, rejected: 0, pending: 0 });
  });

  it('compares experiments', async () => {
    const project = uniq('cmp');
    const a = await Experiment.create(opts({ project, name: 'lr_1e5' }));
    const b = await Experiment.create(opts({ project, name: 'lr_1e4' }));
    [3, 2, 1].forEach((v) => a.logMetric('loss', v));
    [4, 1, 0.5].forEach((v) => b.logMetric('loss', v));
    await Promise.all([a.finish(), b.finish()]);
    const c = await client.compare(project, [a.id!, b.id!], ['loss']);
    expect(c.experiments[a.id!].loss).toMatchObject({ last: 1, min: 1, max: 3, count: 3 });
    expect(c.experiments[b.id!].loss).toMatchObject({ last: 0.5, min: 0.5, max: 4, count: 3 });
    expect(c.experiments[b.id!].loss.avg).toBeCloseTo(5.5 / 3, 12);
  });

  it('heartbeats while running', async () => {
    const exp = await Experiment.create(opts({ heartbeatIntervalMs: 200 }));
    const before = (await client.getExperiment(exp.projectId!, exp.id!)).heartbeat_at!;
    await new Promise((r) => setTimeout(r, 700));
    const after = (await client.getExperiment(exp.projectId!, exp.id!)).heartbeat_at!;
    expect(Date.parse(after)).toBeGreaterThan(Date.parse(before));
    await exp.finish();
  });

  it('logCodeSnapshot outside a git repository warns instead of failing', async () => {
    const warnings: string[] = [];
    const exp = await Experiment.create(opts({ logger: { ...silentLogger, warn: (m) => warnings.push(m) } }));
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'nogit-'));
    expect(await exp.logCodeSnapshot('git_diff', { cwd: outside })).toBeNull();
    expect(warnings.join('\n')).toMatch(/not a git repository/);
    await exp.finish();
    fs.rmSync(outside, { recursive: true, force: true });
  });
});
