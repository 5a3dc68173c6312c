/** The SDK end to end against a real `assay serve` (started by live-server.ts). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AssayClient, AssayConfigError, Experiment, LIMITS, silentLogger, type ExperimentOptions, type WirePoint } from '../src/index.ts';
import { listSegments } from '../src/spool.ts';
import { LiveServer } from './live-server.ts';
import { expectExactlyOnce, gitRepo, range, recordingLogger, removeTempDirs, storedSteps, tempDir, uniq } from './helpers.ts';

let srv: LiveServer;
let client: AssayClient;
let tmp: string;

beforeAll(async () => {
  srv = await LiveServer.create();
  client = new AssayClient({ apiUrl: srv.url, apiKey: srv.apiKey });
  tmp = tempDir('assay-sdk-live');
});
afterAll(async () => {
  await srv?.cleanup();
  removeTempDirs();
});

/** Hand a point to the sender as is, past the checks at the call (what an older SDK might send). */
function addUnchecked(exp: Experiment, p: WirePoint): void {
  (exp as unknown as { sender: { add(p: WirePoint): void } }).sender.add(p);
}

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
    const git = await exp.logCodeSnapshot('git_diff', { cwd: gitRepo() });
    expect(git).toMatchObject({ branch: 'main', dirty: true, untracked: ['notes.txt'] });
    expect(git!.diff).toContain('+lr = 0.3');
    const N = 500;
    for (let step = 0; step < N; step++) {
      exp.logMetric('loss', 1 / (step + 1), { step });
      exp.bufferMetric('accuracy', step / N, { step });
      if (step % 100 === 99) await exp.flushMetrics();
    }
    await exp.flushMetrics();
    const up = await exp.logArtifacts(ckpt, '*.pt');
    expect(up.map((u) => [u.path, u.skipped])).toEqual([
      ['checkpoints/epoch1.pt', false],
      ['checkpoints/epoch2.pt', false],
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
    expect(rec.git).toMatchObject({ commit: git!.commit, branch: 'main', dirty: true });

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
    const e1 = arts.find((a) => a.path === 'checkpoints/epoch1.pt')!;
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

  it('get-or-create: the same name resumes the same experiment, merging tags and features', async () => {
    const name = uniq('resume');
    const a = await Experiment.create(opts({ name, tags: ['base'], features: { model: { arch: 'mlp', depth: 2 } } }));
    for (let i = 0; i < 5; i++) a.logMetric('loss', i);
    expect(await a.finish('complete')).toBe(true);
    const b = await Experiment.create(opts({ name, tags: ['resumed', 'base'], features: { model: { depth: 3 }, resumed: true } }));
    expect(b.id).toBe(a.id);
    expect(b.tags).toEqual(['base', 'resumed']);
    expect(b.features).toEqual({ model: { arch: 'mlp', depth: 3 }, resumed: true });
    expect(b.record?.status).toBe('running');
    expect(b.logMetric('loss', 5)).toBe(5); // auto steps continue after the last logged step
    await b.finish('failed');
    expect((await b.info()).status).toBe('failed');
    expect(await storedSteps(client, b, 'loss')).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('the habits W&B and MLflow users bring: log({..}, {step}), resume by id, setTags, description, features', async () => {
    const a = await Experiment.create(opts({ tags: ['v1'], description: 'first try', features: { lr: 0.1 } }));
    for (let step = 0; step < 3; step++) a.log({ loss: 1 / (step + 1), acc: step / 3 }, { step });
    expect(a.description).toBe('first try');
    await a.finish('complete');
    const b = await Experiment.resume({ ...opts({ name: undefined, tags: ['v2'], features: { optimizer: 'adam' } }), id: a.id! });
    expect(b.name).toBe(a.name);
    expect(b.id).toBe(a.id);
    expect(b.tags).toEqual(['v1', 'v2']);
    expect(b.features).toEqual({ lr: 0.1, optimizer: 'adam' });
    b.log({ loss: 0.1, acc: 1 }); // auto steps continue at 3
    await b.setTags(['final']);
    await b.setDescription('second try, notes\nwith a newline');
    await b.logFeatures({ optimizer: { name: 'adam', beta: 0.9 } });
    expect(b.features).toEqual({ lr: 0.1, optimizer: { name: 'adam', beta: 0.9 } });
    expect(await b.finish('complete')).toBe(true);
    const rec = await client.getExperiment(b.projectId!, b.id!);
    expect(rec).toMatchObject({ tags: ['final'], description: 'second try, notes\nwith a newline', features: { lr: 0.1, optimizer: { name: 'adam', beta: 0.9 } } });
    await expectExactlyOnce(client, b, { loss: 4, acc: 4 });
  });

  it('metric names count code points like the server: 250 emoji stored and read back verbatim, 251 refused at the call', async () => {
    const exp = await Experiment.create(opts());
    const longest = '\u{1F600}'.repeat(LIMITS.metricNameMax); // 500 UTF-16 units, 1000 UTF-8 bytes
    exp.logMetric(longest, 1);
    expect(() => exp.logMetric('\u{1F600}'.repeat(LIMITS.metricNameMax + 1), 1)).toThrow(RangeError);
    expect(() => exp.logMetric('loss\u0000', 1)).toThrow(RangeError);
    expect(await exp.finish()).toBe(true);
    expect(Object.keys((await exp.summary()).metrics)).toEqual([longest]);
    const ts = await exp.getMetric(longest);
    expect(ts.metric_name).toBe(longest);
    expect(ts.points.map((p) => p.value)).toEqual([1]);
  });

  it('a 422 costs only the refused points: 200 valid loss points + 1 bad (SDK check bypassed) arrive as exactly 200', async () => {
    const log = recordingLogger();
    const exp = await Experiment.create(opts({ logger: log.logger }));
    const bad = '\u{1F600}'.repeat(LIMITS.metricNameMax + 1);
    for (let i = 0; i < 100; i++) exp.logMetric('loss', i * 2);
    addUnchecked(exp, { metric_name: bad, metric_value: 1, step: 0, timestamp: Date.now() });
    for (let i = 100; i < 200; i++) exp.logMetric('loss', i * 2);
    expect(await exp.flushMetrics()).toBe(false); // not every point arrived, and it says so
    await expectExactlyOnce(client, exp, { loss: 200 });
    expect(exp.droppedPoints).toEqual({ [bad]: { count: 1, reason: expect.stringMatching(/metric_name: .*250/) } });
    // more refused points than one 422 lists (100 issues): still only those are dropped
    for (let i = 0; i < 150; i++) addUnchecked(exp, { metric_name: `bad\u0000${i % 2}`, metric_value: 1, step: i, timestamp: Date.now() });
    for (let i = 0; i < 50; i++) exp.logMetric('acc', i);
    expect(await exp.finish()).toBe(false);
    await expectExactlyOnce(client, exp, { loss: 200, acc: 50 });
    expect(exp.stats()).toMatchObject({ dropped: 151, acked: 250 });
    expect(Object.values(exp.droppedPoints).map((d) => d.count)).toEqual([1, 75, 75]);
    expect(log.lines.filter((l) => l.level === 'warn' && l.msg.includes('refused points of metric'))).toHaveLength(3); // once per metric
    expect(exp.undelivered).toMatchObject({ points: 0, dropped: 151 });
    expect((await exp.info()).status).toBe('complete');
  });

  it('the last storable timestamp round-trips; one millisecond later is refused at the call', async () => {
    const exp = await Experiment.create(opts());
    exp.logMetric('t', 1, { timestamp: LIMITS.timestampMaxMs });
    exp.logMetric('t', 2, { timestamp: new Date(0) });
    expect(() => exp.logMetric('t', 3, { timestamp: LIMITS.timestampMaxMs + 1 })).toThrow(RangeError);
    expect(() => exp.logMetric('t', 3, { timestamp: new Date(LIMITS.timestampMaxMs + 1).toISOString() })).toThrow(RangeError);
    expect(await exp.finish()).toBe(true);
    const ts = await exp.getMetric('t');
    expect(ts.points.map((p) => p.timestamp.getTime())).toEqual([LIMITS.timestampMaxMs, 0]);
  });

  it('getMetric pages with next_step_min until the series ends; a limit cuts it with truncated: true', async () => {
    const exp = await Experiment.create(opts());
    const N = 5500;
    for (let i = 0; i < N; i++) exp.logMetric('loss', i);
    expect(await exp.finish()).toBe(true);
    const all = await exp.getMetric('loss', { pageSize: 1000 });
    expect(all).toMatchObject({ count: N, truncated: false, next_step_min: null });
    expect(all.points.map((p) => p.step)).toEqual(range(N));
    const cut = await exp.getMetric('loss', { limit: 2500, pageSize: 1000 });
    expect(cut).toMatchObject({ count: 2500, truncated: true, next_step_min: 2500 });
    expect(cut.points.map((p) => p.step)).toEqual(range(2500));
    const rest = await exp.getMetric('loss', { stepMin: cut.next_step_min! });
    expect(rest.points.map((p) => p.step)).toEqual(range(N - 2500, 2500));
    const page = await client.timeseries(exp.projectId!, exp.id!, 'loss', { limit: 1000 });
    expect(page).toMatchObject({ count: 1000, truncated: true, next_step_min: 1000 });
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
    expect(st).toMatchObject({ logged: 2 * N, acked: 2 * N, spooled: 0, dropped: 0, pending: 0 });
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
    const outside = tempDir('nogit');
    expect(await exp.logCodeSnapshot('git_diff', { cwd: outside })).toBeNull();
    expect(warnings.join('\n')).toMatch(/not a git repository/);
    await exp.finish();
  });
});
