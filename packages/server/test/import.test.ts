import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureValue, writeMlruns, writeTfevents } from '../../../bench/lib/import-fixtures.ts';
import { runImport, type ImportKind, type ImportOptions } from '../src/importers/index.ts';
import { startTestServer, type TestServer, type TestTeam } from './helpers.ts';

/*
 * `assay import` end to end: fixtures written by mlflow (file store) and tensorboardX in a cached
 * venv (python/tests/import_fixtures.py), imported into a live server over HTTP, read back through
 * the API; every import runs twice and the second must change nothing.
 */

let srv: TestServer;
let url: string;
let tmp: string;
let py: string;
let expected: { mlflow: { runs: Record<string, string> }; tensorboard: { bad_file: string; bad_crc_offset: number; truncated_offset: number } };

const REQS = ['mlflow-skinny==3.17.2', 'tensorboardX==2.6.5'];

beforeAll(async () => {
  const venv = spawnSync('python3', ['-c', `import venvs; print(venvs.venv_python("importers", ${JSON.stringify(REQS)}))`], { cwd: path.resolve('python/tests'), encoding: 'utf8', timeout: 1_200_000 });
  if (venv.status !== 0) throw new Error(`venv: ${venv.stderr}`);
  py = venv.stdout.trim().split('\n').pop()!;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-import-'));
  const gen = spawnSync(py, [path.resolve('python/tests/import_fixtures.py'), 'generate', tmp], { encoding: 'utf8', timeout: 300_000 });
  if (gen.status !== 0) throw new Error(`fixtures: ${gen.stderr}`);
  expected = JSON.parse(fs.readFileSync(path.join(tmp, 'expected.json'), 'utf8'));
  srv = await startTestServer();
  await srv.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(srv.app.server.address() as { port: number }).port}`;
}, 1_500_000);
afterAll(async () => {
  await srv?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const imp = (team: TestTeam, kind: ImportKind, source: string, o: Partial<ImportOptions> = {}) => runImport(kind, source, { url, apiKey: team.apiKey, ...o });

async function experiments(team: TestTeam, project: string) {
  const r = await team.api.get(`/projects/${encodeURIComponent(project)}/experiments?limit=1000`);
  expect(r.status).toBe(200);
  return (r.body.items as Record<string, any>[])
    .map((e) => ({ name: e.name, status: e.status, started_at: e.started_at, finished_at: e.finished_at, description: e.description, features: e.features }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}
async function series(team: TestTeam, project: string, experiment: string, metric: string) {
  const r = await team.api.get(`/metrics/timeseries/${encodeURIComponent(project)}/${encodeURIComponent(experiment)}/${encodeURIComponent(metric)}?limit=100000`);
  expect(r.status).toBe(200);
  return r.body.points as { step: number; value: number | string; timestamp: string }[];
}
async function metricNames(team: TestTeam, project: string, experiment: string) {
  const r = await team.api.get(`/metrics/names/${encodeURIComponent(project)}/${encodeURIComponent(experiment)}`);
  return Object.fromEntries((r.body.items as { metric_name: string; total_points: number }[]).map((m) => [m.metric_name, m.total_points]));
}
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Through Assay's MLflow API (the project tags live there): each project's tags and lifecycle with
 * its deleted_at, and each deleted run's lifecycle, deleted_at and its first loss value.
 */
async function deletedState(team: TestTeam, ids: Record<string, string>) {
  const call = async (p: string, body?: unknown) => {
    const r = await fetch(`${url}/api/2.0/mlflow/${p}`, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${team.apiKey}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    expect(r.status).toBe(200);
    return (await r.json()) as Record<string, any>;
  };
  const exps = (await call('experiments/search', { view_type: 'ALL', max_results: 100 })).experiments as Record<string, any>[];
  const tags: Record<string, Record<string, string>> = {};
  const stages: Record<string, string> = {};
  const runs: Record<string, [string, unknown]> = {};
  const at: Record<string, unknown> = {};
  for (const e of exps.filter((x) => x.name !== 'Default')) {
    tags[e.name] = Object.fromEntries((e.tags ?? []).map((t: { key: string; value: string }) => [t.key, t.value]));
    stages[e.name] = e.lifecycle_stage;
    at[e.name] = e.last_update_time;
    for (const r of (await call('runs/search', { experiment_ids: [e.experiment_id], run_view_type: 'DELETED_ONLY' })).runs ?? []) {
      const loss = (r.data.metrics ?? []).find((m: { key: string }) => m.key === 'loss');
      runs[r.info.run_name] = [r.info.lifecycle_stage, loss?.value];
      if (ids[r.info.run_name]) expect(r.data.tags.find((t: { key: string }) => t.key === 'assay.import.run_id')?.value).toBe(ids[r.info.run_name]);
    }
  }
  const projects = (await team.api.get('/projects?include_deleted=true&limit=100')).body.items as { name: string; deleted_at: string | null }[];
  const inA = (await team.api.get('/projects/exp-a/experiments?include_deleted=true&limit=100')).body.items as { name: string; deleted_at: string | null }[];
  const deletedAt = Object.fromEntries([...projects, ...inA].filter((x) => x.deleted_at).map((x) => [x.name, x.deleted_at]));
  expect(Object.keys(deletedAt).sort()).toEqual(['exp-c', 'gone']);
  return { tags, stages, runs, at, deletedAt };
}
const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

describe('mlflow', () => {
  let team: TestTeam;
  beforeAll(async () => {
    team = await srv.newTeam('imp-mlflow');
  });

  it('imports a file store written by mlflow: runs, params, tags, statuses, times, histories, artifacts; again changes nothing', async () => {
    const ids = expected.mlflow.runs;
    const first = await imp(team, 'mlflow', path.join(tmp, 'mlruns'), { artifacts: true });
    expect(first.warnings).toEqual([]);
    expect(first.counts).toEqual({ projects: 3, experiments: 6, experimentsExisting: 0, params: 4, points: 1156, pointsExisting: 0, artifacts: 2, artifactsExisting: 0, warnings: 0, deleted: 3 });

    const a = await experiments(team, 'exp-a');
    const alpha = `alpha-${ids.alpha.slice(0, 8)}`;
    expect(a).toEqual([
      {
        name: alpha, status: 'complete', started_at: iso(1_700_000_000_000), finished_at: iso(1_700_000_200_000), description: 'first try',
        features: { lr: '0.01', batch_size: '32', 'opt/name': 'adam', mlflow: { tags: { team: 'vision', 'mlflow.note.content': 'first try', 'mlflow.runName': 'alpha', 'assay.import.run_id': ids.alpha } } },
      },
      {
        name: `alpha-${ids.alpha2.slice(0, 8)}`, status: 'crashed', started_at: iso(1_700_000_500_000), finished_at: iso(1_700_000_600_000), description: null,
        features: { mlflow: { tags: { 'mlflow.runName': 'alpha', 'assay.import.run_id': ids.alpha2 } } },
      },
      {
        name: 'beta', status: 'failed', started_at: iso(1_700_000_300_000), finished_at: iso(1_700_000_400_000), description: null,
        features: { lr: '0.1', mlflow: { tags: { 'mlflow.runName': 'beta', 'assay.import.run_id': ids.beta } } },
      },
    ].sort((x, y) => (x.name < y.name ? -1 : 1)));
    const [gamma] = await experiments(team, 'exp-b');
    expect([gamma.name, gamma.status, gamma.started_at, gamma.finished_at]).toEqual(['gamma', 'running', iso(1_700_001_000_000), null]);

    const loss = await series(team, 'exp-a', alpha, 'loss');
    expect(loss.map((p) => [p.step, p.value, p.timestamp])).toEqual(Array.from({ length: 100 }, (_, s) => [s, 1 / (s + 1), iso(1_700_000_000_000 + s * 1000)]));
    expect((await series(team, 'exp-a', alpha, 'acc')).map((p) => [p.step, p.value])).toEqual(Array.from({ length: 50 }, (_, s) => [s * 2, s / 50]));
    expect((await series(team, 'exp-a', 'beta', 'loss')).map((p) => p.value)).toEqual(['NaN', 'Infinity', 2.5]);
    const mx = await series(team, 'exp-b', 'gamma', 'm/x');
    expect(mx.length).toBe(1000);
    expect(mx[999]).toEqual({ step: 999, value: 999, timestamp: iso(1_700_001_000_999) });

    const arts = await team.api.get(`/projects/exp-a/experiments/${alpha}/artifacts`);
    const runDir = path.join(tmp, 'mlruns', fs.readdirSync(path.join(tmp, 'mlruns')).find((d) => fs.existsSync(path.join(tmp, 'mlruns', d, ids.alpha)))!, ids.alpha, 'artifacts');
    expect(arts.body.items.map((x: { path: string; sha256: string }) => [x.path, x.sha256]).sort()).toEqual([
      ['model.bin', sha(path.join(runDir, 'model.bin'))],
      ['notes/readme.txt', sha(path.join(runDir, 'notes', 'readme.txt'))],
    ]);

    const lifecycle = await deletedState(team, ids);
    expect(lifecycle.tags).toEqual({ 'exp-a': { owner: 'vision-team', dataset: 'cifar10' }, 'exp-b': {}, 'exp-c': { stage: 'abandoned' } });
    expect(lifecycle.stages).toEqual({ 'exp-a': 'active', 'exp-b': 'active', 'exp-c': 'deleted' });
    // mlflow's file store marks the runs of a deleted experiment deleted too
    expect(lifecycle.runs).toEqual({ gone: ['deleted', 1], delta: ['deleted', 0.25] });

    // the second import leaves the deleted project alone (its one run counts as already there) and the deleted run deleted
    const second = await imp(team, 'mlflow', path.join(tmp, 'mlruns'), { artifacts: true });
    expect(second.counts).toEqual({ projects: 0, experiments: 0, experimentsExisting: 6, params: 4, points: 0, pointsExisting: 1155, artifacts: 0, artifactsExisting: 2, warnings: 0, deleted: 0 });
    expect(await deletedState(team, ids)).toEqual(lifecycle);
    expect(await experiments(team, 'exp-a')).toEqual(a);
    expect(await experiments(team, 'exp-b')).toEqual([gamma]);
    expect((await series(team, 'exp-a', alpha, 'loss')).length).toBe(100);
    expect(await metricNames(team, 'exp-a', alpha)).toEqual({ loss: 100, acc: 50 });
  });

  it('imports from an MLflow REST server (Assay\'s own MLflow API of another team) with paging and artifacts', async () => {
    const target = await srv.newTeam('imp-rest');
    const env = { MLFLOW_TRACKING_TOKEN: team.apiKey };
    const first = await imp(target, 'mlflow', url, { artifacts: true, env });
    // the runs of a deleted experiment are read in full, as from a real MLflow server
    expect(first.warnings).toEqual([]);
    // the source's deleted run and deleted experiment (with its run, deleted with it) come over deleted
    expect(first.counts).toEqual({ projects: 3, experiments: 6, experimentsExisting: 0, params: 4, points: 1156, pointsExisting: 0, artifacts: 2, artifactsExisting: 0, warnings: 0, deleted: 3 });
    const got3 = await deletedState(target, {});
    expect([got3.tags, got3.stages]).toEqual([(await deletedState(team, {})).tags, { 'exp-a': 'active', 'exp-b': 'active', 'exp-c': 'deleted' }]);
    const strip = (l: Awaited<ReturnType<typeof experiments>>) => l.map(({ name, features, ...rest }) => ({ ...rest, base: name.split('-')[0], params: Object.fromEntries(Object.entries(features).filter(([k]) => k !== 'mlflow')) }));
    const src = await experiments(team, 'exp-a');
    const got = await experiments(target, 'exp-a');
    expect(strip(got).sort((x, y) => (x.started_at < y.started_at ? -1 : 1))).toEqual(strip(src).sort((x, y) => (x.started_at < y.started_at ? -1 : 1)));
    const alphaSrc = src.find((e) => e.status === 'complete')!;
    const alphaGot = got.find((e) => e.status === 'complete')!;
    expect(await series(target, 'exp-a', alphaGot.name, 'loss')).toEqual(await series(team, 'exp-a', alphaSrc.name, 'loss'));
    expect((await target.api.get(`/projects/exp-a/experiments/${alphaGot.name}/artifacts`)).body.items.map((x: { path: string }) => x.path).sort()).toEqual(['model.bin', 'notes/readme.txt']);
    const second = await imp(target, 'mlflow', url, { artifacts: true, env });
    expect([second.counts.experiments, second.counts.points, second.counts.pointsExisting, second.counts.artifacts, second.counts.deleted]).toEqual([0, 0, 1155, 0, 0]);
    expect(await deletedState(target, {})).toEqual(got3);
  });
});

describe('tensorboard', () => {
  it('imports scalars (simple_value, TF2 tensors), hparams, one experiment per run dir; again changes nothing', async () => {
    const team = await srv.newTeam('imp-tb');
    const first = await imp(team, 'tensorboard', path.join(tmp, 'tb'), { project: 'tb' });
    expect(first.warnings).toEqual([]);
    expect(first.counts).toEqual({ projects: 1, experiments: 3, experimentsExisting: 0, params: 3, points: 271, pointsExisting: 0, artifacts: 0, artifactsExisting: 0, warnings: 0, deleted: 0 });
    const list = await experiments(team, 'tb');
    expect(list.map((e) => [e.name, e.status, e.features])).toEqual([
      ['group/runB', 'complete', {}],
      ['runA', 'complete', {}],
      ['runA/hp', 'complete', { lr: 0.1, optimizer: 'sgd', layers: 3 }],
    ]);
    expect(list[1].started_at).toBe(iso(1_700_000_000_000));
    expect(list[1].finished_at).toBe(iso(1_700_000_199_000));
    expect(await metricNames(team, 'tb', 'runA')).toEqual({ 'train/loss': 200, 'tf2/acc': 30, 'tf2/acc64': 30 });
    expect((await series(team, 'tb', 'runA', 'train/loss')).map((p) => [p.step, p.value])).toEqual(Array.from({ length: 200 }, (_, s) => [s, Math.fround(1 / (s + 1))]));
    expect((await series(team, 'tb', 'runA', 'tf2/acc')).map((p) => p.value)).toEqual(Array.from({ length: 30 }, (_, s) => Math.fround(s / 30)));
    expect((await series(team, 'tb', 'runA', 'tf2/acc64')).map((p) => p.value)).toEqual(Array.from({ length: 30 }, (_, s) => s / 7));
    expect((await series(team, 'tb', 'runA/hp', 'hp/acc')).map((p) => [p.step, p.value])).toEqual([[5, Math.fround(0.9)]]);
    expect((await series(team, 'tb', 'group/runB', 'val/loss')).map((p) => p.value)).toEqual(['NaN', 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    const second = await imp(team, 'tensorboard', path.join(tmp, 'tb'), { project: 'tb' });
    expect([second.counts.experiments, second.counts.experimentsExisting, second.counts.points, second.counts.pointsExisting]).toEqual([0, 3, 0, 271]);
    expect(await experiments(team, 'tb')).toEqual(list);
  });

  it('a flipped data CRC and a truncated record are warnings with file and offset; the intact records are imported', async () => {
    const team = await srv.newTeam('imp-tb-bad');
    const t = expected.tensorboard;
    const r = await imp(team, 'tensorboard', path.join(tmp, 'tb-bad'));
    expect(r.warnings).toEqual([
      `${t.bad_file}: offset ${t.bad_crc_offset}: data CRC mismatch; record skipped`,
      `${t.bad_file}: offset ${t.truncated_offset}: truncated record (46 bytes announced, 20 left)`,
    ]);
    expect((await series(team, 'tb-bad', 'runC', 'val/loss')).map((p) => p.step)).toEqual([0, 1, 3, 4, 5, 6]);
  });
});

describe('resume', () => {
  it('an import cut off after some batches continues: those batches are answered as duplicates, no point is written twice', async () => {
    const team = await srv.newTeam('imp-resume');
    fs.writeFileSync(path.join(tmp, 'cut.csv'), 'step,loss\n' + Array.from({ length: 250 }, (_, s) => `${s},${s / 4}`).join('\n') + '\n');
    // a proxy that lets two batches through and then fails like a dying connection would
    let batches = 0;
    const proxy = http.createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      if (req.url!.startsWith('/api/v1/metrics/batch/') && ++batches > 2) {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"detail":"cut off"}');
        return;
      }
      const { host: _h, connection: _c, 'content-length': _l, ...headers } = req.headers as Record<string, string>;
      const r = await fetch(url + req.url, { method: req.method, headers, body: body.length ? new Uint8Array(body) : undefined });
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await r.arrayBuffer()));
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    const via = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const o = { project: 'r', experiment: 'e', batchPoints: 100, concurrency: 1 };
    await expect(runImport('csv', path.join(tmp, 'cut.csv'), { url: via, apiKey: team.apiKey, ...o })).rejects.toThrow('cut off');
    proxy.close();
    expect(await metricNames(team, 'r', 'e')).toEqual({ loss: 200 });
    const resumed = await imp(team, 'csv', path.join(tmp, 'cut.csv'), o);
    expect([resumed.counts.points, resumed.counts.pointsExisting, resumed.counts.experiments, resumed.counts.experimentsExisting]).toEqual([50, 200, 0, 1]);
    expect((await series(team, 'r', 'e', 'loss')).map((p) => [p.step, p.value])).toEqual(Array.from({ length: 250 }, (_, s) => [s, s / 4]));
    expect(await metricNames(team, 'r', 'e')).toEqual({ loss: 250 }); // points written, counted by the server: none twice
  });
});

describe('benchmark fixtures', () => {
  it('the hand-written mlruns and tfevents read back identically through mlflow and tensorboardX, and import exactly', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'bench-'));
    const shape = { runs: 2, metrics: 2, steps: 5 };
    writeMlruns(path.join(dir, 'mlruns'), shape);
    writeTfevents(path.join(dir, 'tb'), shape);
    const read = spawnSync(py, [path.resolve('python/tests/import_fixtures.py'), 'read-bench', path.join(dir, 'mlruns'), path.join(dir, 'tb')], { encoding: 'utf8', timeout: 120_000 });
    expect(read.stderr.split('\n').filter((l) => /Error|Traceback/.test(l))).toEqual([]);
    const seen = JSON.parse(read.stdout);
    const hist = (r: number, m: number) => Array.from({ length: 5 }, (_, s) => [s, fixtureValue(r, m, s)]);
    for (let r = 0; r < 2; r++) {
      const run = seen.mlflow[`bench/run-${r}`];
      expect([run.status, run.params, run.start_time]).toEqual(['FINISHED', { seed: String(r) }, 1_700_000_000_000]);
      for (let m = 0; m < 2; m++) expect(run.history[`m${m}`].map((p: number[]) => [p[0], p[1]])).toEqual(hist(r, m));
      const tb = Object.entries(seen.tensorboard).find(([f]) => f.startsWith(`run-${r}/`))![1] as Record<string, number[][]>;
      for (let m = 0; m < 2; m++) expect(tb[`m${m}`].map((p) => [p[0], p[1]])).toEqual(hist(r, m));
    }
    const team = await srv.newTeam('imp-bench');
    expect((await imp(team, 'mlflow', path.join(dir, 'mlruns'))).counts.points).toBe(20);
    expect((await imp(team, 'tensorboard', path.join(dir, 'tb'))).counts.points).toBe(20);
    expect((await series(team, 'tb', 'run-1', 'm1')).map((p) => p.value)).toEqual(hist(1, 1).map((p) => p[1]));
  });
});

describe('wandb and tables', () => {
  it('W&B history + config, wide and long CSV, JSONL; second imports change nothing', async () => {
    const team = await srv.newTeam('imp-tables');
    const run = path.join(tmp, 'wandb', 'run-20240101_000000-abc123', 'files');
    fs.mkdirSync(run, { recursive: true });
    fs.writeFileSync(path.join(run, 'config.yaml'), 'wandb_version: 1\n_wandb:\n  desc: null\n  value: {cli_version: 0.17.0}\nlr:\n  desc: null\n  value: 0.01\nmodel:\n  desc: null\n  value: {depth: 4}\n');
    fs.writeFileSync(path.join(run, 'wandb-metadata.json'), JSON.stringify({ startedAt: '2024-01-01T00:00:00.000000' }));
    fs.writeFileSync(path.join(run, 'wandb-history.jsonl'), [
      { _step: 0, _timestamp: 1704067200.5, _runtime: 1, loss: 1.0, acc: 0.1, img: { _type: 'image-file', path: 'media/a.png' } },
      { _step: 1, _timestamp: 1704067201.5, _runtime: 2, loss: 0.5 },
      { _step: 2, _timestamp: 1704067202.5, _runtime: 3, loss: 'NaN', acc: 0.3 },
    ].map((x) => JSON.stringify(x)).join('\n') + '\n');
    const w = await imp(team, 'wandb', path.join(tmp, 'wandb'), { project: 'wb' });
    expect(w.counts).toMatchObject({ experiments: 1, params: 2, points: 5, warnings: 0 });
    const [e] = await experiments(team, 'wb');
    expect([e.name, e.features, e.started_at, e.finished_at]).toEqual(['run-20240101_000000-abc123', { lr: 0.01, model: { depth: 4 } }, '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:02.500Z']);
    expect((await series(team, 'wb', e.name, 'loss')).map((p) => [p.step, p.value, p.timestamp])).toEqual([
      [0, 1, '2024-01-01T00:00:00.500Z'], [1, 0.5, '2024-01-01T00:00:01.500Z'], [2, 'NaN', '2024-01-01T00:00:02.500Z'],
    ]);

    fs.writeFileSync(path.join(tmp, 'wide.csv'), 'step,timestamp,loss,acc\n0,1700000000,1.5,\n1,1700000001,1.25,0.5\n2,1700000002,oops,0.75\n');
    const wide = await imp(team, 'csv', path.join(tmp, 'wide.csv'), { project: 'tables', experiment: 'wide' });
    expect(wide.counts).toMatchObject({ experiments: 1, points: 4, warnings: 1 });
    expect(wide.warnings[0]).toContain('1 rows or cells without a readable step or value skipped');
    expect((await series(team, 'tables', 'wide', 'acc')).map((p) => [p.step, p.value, p.timestamp])).toEqual([[1, 0.5, iso(1_700_000_001_000)], [2, 0.75, iso(1_700_000_002_000)]]);

    fs.writeFileSync(path.join(tmp, 'long.csv'), 'metric,step,value\nloss,0,3\nloss,1,2\nacc,0,inf\n');
    expect((await imp(team, 'csv', path.join(tmp, 'long.csv'), { project: 'tables', experiment: 'long' })).counts.points).toBe(3);
    expect(await metricNames(team, 'tables', 'long')).toEqual({ loss: 2, acc: 1 });
    expect((await series(team, 'tables', 'long', 'acc'))[0].value).toBe('Infinity');

    fs.writeFileSync(path.join(tmp, 'long.jsonl'), '{"metric":"x","step":5,"value":1,"timestamp":"2024-01-01T00:00:00Z"}\n{"metric":"x","step":6,"value":2,"timestamp":"2024-01-01T00:00:01Z"}\n');
    expect((await imp(team, 'jsonl', path.join(tmp, 'long.jsonl'), { project: 'tables', experiment: 'jl' })).counts.points).toBe(2);
    expect((await series(team, 'tables', 'jl', 'x')).map((p) => [p.step, p.value, p.timestamp])).toEqual([[5, 1, '2024-01-01T00:00:00.000Z'], [6, 2, '2024-01-01T00:00:01.000Z']]);

    const again = await Promise.all([
      imp(team, 'wandb', path.join(tmp, 'wandb'), { project: 'wb' }),
      imp(team, 'csv', path.join(tmp, 'wide.csv'), { project: 'tables', experiment: 'wide' }),
      imp(team, 'csv', path.join(tmp, 'long.csv'), { project: 'tables', experiment: 'long' }),
      imp(team, 'jsonl', path.join(tmp, 'long.jsonl'), { project: 'tables', experiment: 'jl' }),
    ]);
    expect(again.map((r) => [r.counts.experiments, r.counts.points, r.counts.pointsExisting])).toEqual([[0, 0, 5], [0, 0, 4], [0, 0, 3], [0, 0, 2]]);
    expect(await metricNames(team, 'tables', 'wide')).toEqual({ loss: 2, acc: 2 });
  });
});
