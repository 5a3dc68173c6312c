import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scalarEvent } from '../../../bench/lib/import-fixtures.ts';
import { runImport, type ImportKind, type ImportOptions } from '../src/importers/index.ts';
import { parseTime } from '../src/importers/table.ts';
import { EventType, HParamsType } from '../src/importers/tb-proto.ts';
import { frameRecord } from '../src/importers/tfrecord.ts';
import { BIN, ChildServer, childEnv, createTeam, freePort } from './child-server.ts';
import { startListeningServer, stopListeningServer, type TestServer, type TestTeam } from './helpers.ts';
import { metricTotals, points } from './import-reads.ts';

/*
 * `assay import` against damaged and hostile sources and an unlucky operator (issue 12): a damaged
 * source is a warning naming the file (and line or offset) and the rest goes on; nothing reaches the
 * server as an error; a second run changes nothing; every point is imported exactly once.
 */

let srv: TestServer;
let url: string;
let tmp: string;

beforeAll(async () => void ({ srv, url, tmp } = await startListeningServer('assay-hostile-')), 120_000);
afterAll(() => stopListeningServer({ srv, tmp }));

const imp = (team: TestTeam, kind: ImportKind, source: string, o: Partial<ImportOptions> = {}) => runImport(kind, source, { url, apiKey: team.apiKey, ...o });
const write = (file: string | Buffer, data: string | Buffer) => {
  fs.mkdirSync(path.dirname(file.toString()), { recursive: true });
  fs.writeFileSync(file, data);
};
const bytesPath = (dir: string, ...name: number[]) => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name)]);

async function experimentNames(team: TestTeam, project: string) {
  const r = await team.api.get(`/projects/${encodeURIComponent(project)}/experiments?limit=100`);
  expect(r.status).toBe(200);
  return (r.body.items as { name: string; started_at: string | null }[]).map((e) => [e.name, e.started_at]).sort();
}

describe('a hostile MLflow file store', () => {
  it('bad names, metas, times and lines are warnings naming the file; the rest imports; a second run changes nothing', async () => {
    const root = path.join(tmp, 'mlruns');
    const run = (exp: string, id: string, meta: string) => write(path.join(root, exp, id, 'meta.yaml'), `run_id: ${id}\nstatus: 3\n${meta}`);
    write(path.join(root, '1', 'meta.yaml'), 'experiment_id: "1"\nname: "lab\\uD800"\n');
    run('1', 'r1', 'run_name: "one\\uDC00"\nstart_time: -5\nend_time: 1700000000000\n');
    const metrics = path.join(root, '1', 'r1', 'metrics');
    // 0xff is no UTF-8 byte: the name read as text names no file
    write(bytesPath(metrics, 0x6c, 0xff), '1700000000000 7 0\n');
    write(path.join(metrics, 'loss'), [
      '1700000000000 0.5 0\r', '1700000000001 nan 1', '1700000000002 1\0 2', '1700000000003 3 3 extra', '', 'x'.repeat(10 << 20),
      '1700000000004 -inf 4\r', '1700000000005 0.25 5', '1700000000006 0.125',
    ].join('\n'));
    write(bytesPath(path.join(root, '1', 'r1', 'params'), 0x70, 0xed, 0xa0, 0x80), '3');
    write(path.join(root, '1', 'r1', 'tags', 'team'), Buffer.from([0x61, 0xc3, 0x28])); // a cut 2-byte sequence
    fs.symlinkSync(root, path.join(metrics, 'loop'));
    fs.symlinkSync(path.join(root, '1'), path.join(root, 'loop'));
    // a copy of r1 in another experiment directory (the same run id), and runs whose meta.yaml is damaged
    fs.cpSync(path.join(root, '1', 'meta.yaml'), path.join(root, '2', 'meta.yaml'));
    fs.cpSync(path.join(root, '1', 'r1', 'meta.yaml'), path.join(root, '2', 'r1', 'meta.yaml'));
    write(path.join(root, '2', 'r1', 'metrics', 'loss'), '1700000000000 9 0\n');
    run('1', 'r2', 'start_time: 99999999999999999\n');
    write(path.join(root, '1', 'r2', 'params', 'bad'), 'a\0b'); // NUL: no text the server stores
    write(path.join(root, '1', 'r3', 'meta.yaml'), 'run_id: [\n');
    write(path.join(root, '1', 'r4', 'metrics', 'loss'), '1 1 0\n');
    write(path.join(root, '3', 'meta.yaml'), '- not\n- a mapping\n');
    write(path.join(root, '4', 'meta.yaml'), 'experiment_id: "4"\nname: ""\n');
    run('4', 'r5', 'start_time: 1700000000000\nartifact_uri: file://elsewhere/mlruns/4/r5/artifacts\n');
    write(path.join(root, '4', 'r5', 'metrics', 'acc'), '1700000000000 1 0\n');

    const team = await srv.newTeam('hostile-mlflow');
    const first = await imp(team, 'mlflow', root);
    // runs import concurrently: the order of their warnings is not fixed
    expect(first.warnings.map((w) => w.replaceAll(root, '<root>').replace(/projects\/[-0-9a-f]+\//, 'projects/<id>/')).sort()).toEqual([
      '<root>/1/meta.yaml: name: "lab\\ud800" read as "lab\uFFFD"',
      '<root>/1/r1/meta.yaml: run_name: "one\\udc00" read as "one\uFFFD"',
      '<root>/1/r1/meta.yaml: start_time: -5 is no time in epoch ms from 1970 to 2106; left out',
      '<root>/1/r1/params/p\uFFFD\uFFFD\uFFFD: the file name is not UTF-8; read as "p\uFFFD\uFFFD\uFFFD"',
      '<root>/1/r1/metrics/l\uFFFD: the file name is not UTF-8; read as "l\uFFFD"',
      '<root>/1/r1/tags/team: not UTF-8; read with U+FFFD in place of the bad bytes',
      '<root>/1/r2/meta.yaml: start_time: 100000000000000000 is no time in epoch ms from 1970 to 2106; left out',
      "<root>/1/r3/meta.yaml: not an MLflow run's meta.yaml (a YAML mapping with run_id); run directory skipped",
      "<root>/1/r4/meta.yaml: not an MLflow run's meta.yaml (a YAML mapping with run_id); run directory skipped",
      '<root>/2/meta.yaml: name: "lab\\ud800" read as "lab\uFFFD"',
      '<root>/2/r1: run id r1 was read from <root>/1/r1 already; this copy is skipped',
      "<root>/3/meta.yaml: not an MLflow experiment's meta.yaml (a YAML mapping with experiment_id); directory skipped",
      '<root>/4/meta.yaml: name: "" is no name; "4" used',
      '<root>/4/r5/meta.yaml: artifact_uri "file://elsewhere/mlruns/4/r5/artifacts" is no file URL; <root>/4/r5/artifacts used',
      '<root>/1/r2: run not imported: POST /api/v1/projects/<id>/experiments?if_exists=return: HTTP 422 [{"loc":["body","features","bad"],"msg":"text must not contain NUL (\\\\u0000)","type":"custom"}]',
      '<root>/1/r1/metrics/loss: 3 unreadable lines skipped',
      // a last line cut after its value reads as MLflow's two-field form (step 0)
      "one\uFFFD: metric 'loss' logs 1 points at a step logged before; Assay keeps one value per step (the last logged)",
    ].sort());
    expect([first.counts.experiments, first.counts.points]).toEqual([2, 7]);
    expect((await experimentNames(team, 'lab\uFFFD')).map(([name]) => name)).toEqual(['one\uFFFD']); // started_at: the server's time
    const [one] = (await team.api.get(`/projects/${encodeURIComponent('lab\uFFFD')}/experiments`)).body.items;
    expect([one.features['p\uFFFD\uFFFD\uFFFD'], one.features.mlflow.tags.team]).toEqual(['3', 'a\uFFFD(']);
    expect(await experimentNames(team, '4')).toEqual([['r5', '2023-11-14T22:13:20.000Z']]);
    expect(await points(team, 'lab\uFFFD', 'one\uFFFD', 'loss')).toEqual([[0, 0.125], [1, 'NaN'], [4, '-Infinity'], [5, 0.25]]);
    expect(await metricTotals(team, 'lab\uFFFD', 'one\uFFFD')).toEqual({ loss: 5, 'l\uFFFD': 1 });

    const second = await imp(team, 'mlflow', root);
    expect([second.counts.experiments, second.counts.experimentsExisting, second.counts.points, second.counts.pointsExisting]).toEqual([0, 2, 0, 7]);
    expect(await metricTotals(team, 'lab\uFFFD', 'one\uFFFD')).toEqual({ loss: 5, 'l\uFFFD': 1 });
  }, 60_000);

  it('runs whose params are more than the server takes in one request (422 past featuresJsonMax, 413 past the body limit) are left out with a warning; the other runs import', async () => {
    const root = path.join(tmp, 'mlruns-big-params');
    write(path.join(root, '1', 'meta.yaml'), 'experiment_id: "1"\nname: "big"\n');
    const run = (id: string, params: number) => {
      write(path.join(root, '1', id, 'meta.yaml'), `run_id: ${id}\nrun_name: ${id}\nstatus: 3\n`);
      for (let i = 0; i < params; i++) write(path.join(root, '1', id, 'params', `p${i}`), 'v'.repeat(6000)); // MLflow's longest param value
      write(path.join(root, '1', id, 'metrics', 'loss'), '1700000000000 0.5 0\n');
    };
    run('fine', 3);
    run('over', 200); // 1.2M code points of JSON
    run('huge', 1100); // 6.6 MB
    const team = await srv.newTeam('hostile-big-params');
    const r = await imp(team, 'mlflow', root);
    expect(r.warnings.map((w) => w.replaceAll(root, '<root>').replace(/projects\/[-0-9a-f]+\//, 'projects/<id>/').replace(/HTTP (\d+) .*/s, 'HTTP $1')).sort()).toEqual([
      '<root>/1/huge: run not imported: POST /api/v1/projects/<id>/experiments?if_exists=return: HTTP 413',
      '<root>/1/over: run not imported: POST /api/v1/projects/<id>/experiments?if_exists=return: HTTP 422',
    ]);
    expect((await experimentNames(team, 'big')).map(([name]) => name)).toEqual(['fine']);
    expect(await points(team, 'big', 'fine', 'loss')).toEqual([[0, 0.5]]);
  }, 60_000);

  it('a run name cut at 255 UTF-16 units is not cut through an emoji (half of one is refused)', async () => {
    const root = path.join(tmp, 'mlruns-long');
    write(path.join(root, '1', 'meta.yaml'), 'experiment_id: "1"\nname: long\n');
    write(path.join(root, '1', 'r1', 'meta.yaml'), `run_id: r1\nrun_name: "${'a'.repeat(254)}\u{1F600}tail"\n`);
    write(path.join(root, '1', 'r1', 'metrics', 'loss'), '1700000000000 1 0\n');
    const team = await srv.newTeam('hostile-long');
    const r = await imp(team, 'mlflow', root);
    expect([r.warnings, r.counts.points]).toEqual([[], 1]);
    expect((await experimentNames(team, 'long')).map(([n]) => n)).toEqual(['a'.repeat(254)]);
  });
});

describe('hostile tfevents', () => {
  const hparams = (content: Buffer) => Buffer.from(EventType.encode({ wall_time: 1_700_000_000, step: 1, summary: { value: [{ tag: '_hparams_/session_start_info', metadata: { plugin_data: { plugin_name: 'hparams', content } } }] } }).finish());
  const records = [frameRecord(scalarEvent(1_700_000_000, 0, 'loss', 1)), frameRecord(scalarEvent(1_700_000_001, 1, 'loss', 2)), frameRecord(scalarEvent(1_700_000_002, 2, 'loss', 3))];

  it('hparams that do not decode (their CRCs intact) are a warning; the scalars around them import', async () => {
    const logdir = path.join(tmp, 'tb-hp');
    write(path.join(logdir, 'run', 'events.out.tfevents.1'), Buffer.concat([records[0], frameRecord(hparams(Buffer.from([0xff, 0xff, 0xff]))), records[1]]));
    write(path.join(logdir, 'empty', 'events.out.tfevents.1'), '');
    const notUtf8 = bytesPath(logdir, 0x72, 0xff);
    fs.mkdirSync(notUtf8);
    fs.writeFileSync(Buffer.concat([notUtf8, Buffer.from('/events.out.tfevents.1')]), records[2]);
    const team = await srv.newTeam('hostile-tb');
    const r = await imp(team, 'tensorboard', logdir, { project: 'tb' });
    expect(r.warnings).toEqual([`${logdir}/run/events.out.tfevents.1: step 1: hparams "_hparams_/session_start_info" not readable (index out of range: 3 + 1 > 3); skipped`]);
    expect(await points(team, 'tb', 'run', 'loss')).toEqual([[0, 1], [1, 2]]);
    expect(await points(team, 'tb', 'r\uFFFD', 'loss')).toEqual([[2, 3]]);
    expect((await experimentNames(team, 'tb')).map(([n]) => n)).toEqual(['empty', 'run', 'r\uFFFD']);
  });

  it('hparams the server refuses (NUL in a value): the run is imported without them, with a warning, its status still set; the other runs import', async () => {
    const logdir = path.join(tmp, 'tb-hp-nul');
    const content = Buffer.from(HParamsType.encode({ session_start_info: { hparams: { lr: { number_value: 0.1 }, opt: { string_value: 'a\u0000b' } } } }).finish());
    write(path.join(logdir, 'bad', 'events.out.tfevents.1'), Buffer.concat([records[0], frameRecord(hparams(content))]));
    write(path.join(logdir, 'good', 'events.out.tfevents.1'), records[1]);
    const team = await srv.newTeam('hostile-tb-nul');
    const r = await imp(team, 'tensorboard', logdir, { project: 'tbn' });
    expect(r.warnings.map((w) => w.replace(/projects\/[-0-9a-f]+\/experiments\/[-0-9a-f]+/, 'projects/<id>/experiments/<id>').replace(/HTTP (\d+) .*/s, 'HTTP $1'))).toEqual([
      'bad: features not stored: PATCH /api/v1/projects/<id>/experiments/<id>: HTTP 422',
    ]);
    const bad = (await team.api.get('/projects/tbn/experiments/bad')).body;
    expect([bad.status, bad.features]).toEqual(['complete', {}]);
    expect(await points(team, 'tbn', 'bad', 'loss')).toEqual([[0, 1]]);
    expect(await points(team, 'tbn', 'good', 'loss')).toEqual([[1, 2]]);
  });

  it('a file cut at every byte offset: no crash, one warning with file and offset, the records before the cut imported', async () => {
    const whole = Buffer.concat(records);
    const starts = [0, records[0].length, records[0].length + records[1].length];
    const file = path.join(tmp, 'tb-cut', 'run', 'events.out.tfevents.1');
    for (let cut = 0; cut <= whole.length; cut++) {
      write(file, whole.subarray(0, cut));
      const r = await runImport('tensorboard', path.dirname(path.dirname(file)), { url: 'http://unused', apiKey: 'x', dryRun: true });
      const complete = starts.filter((s, i) => cut >= s + records[i].length).length;
      const at = starts[complete];
      const left = cut - (at ?? cut);
      const expected = left === 0 ? [] : [`${file}: offset ${at}: ${left < 12 ? `truncated record header (${left} bytes left of 12)` : `truncated record (${records[complete].length} bytes announced, ${left} left)`}`];
      expect([cut, r.warnings, r.counts.points]).toEqual([cut, expected, complete]);
    }
  });
});

describe('hostile tables and W&B exports', () => {
  it('JSONL: BOM, CRLF, Python\'s bare NaN/Infinity, lines that are no JSON object, steps that are not numbers', async () => {
    const file = path.join(tmp, 'hostile.jsonl');
    write(file, [
      '\uFEFF{"step": 0, "loss": NaN, "note": "NaN Infinity"}', '{"step": 1, "loss": Infinity}', '{"step": 2, "loss": -Infinity}', '{"step": 3, "lo', 'null', '[1, 2]',
      '{"step": null, "loss": 9}', '{"step": true, "loss": 9}', '{"step": [], "loss": 9}', '{"step": -1, "loss": 9}', '{"step": 9007199254740993, "loss": 9}', '{"step": "4", "loss": "inf"}', '{"step": 5, "loss": 0.5}',
    ].join('\r\n'));
    const team = await srv.newTeam('hostile-jsonl');
    const r = await imp(team, 'jsonl', file, { project: 't', experiment: 'j' });
    expect(r.warnings).toEqual([`${file}: line 4: not a JSON object; skipped`, `${file}: 3 lines were not JSON objects`, `${file}: 6 rows or cells without a readable step or value skipped`]);
    expect(await points(team, 't', 'j', 'loss')).toEqual([[0, 'NaN'], [1, 'Infinity'], [2, '-Infinity'], [4, 'Infinity'], [5, 0.5]]);
    expect(await metricTotals(team, 't', 'j')).toEqual({ loss: 5 }); // 5 steps that are no numbers, and "note" (text, no metric)
    const again = await imp(team, 'jsonl', file, { project: 't', experiment: 'j' });
    expect([again.counts.points, again.counts.pointsExisting]).toEqual([0, 5]);
  });

  it('JSONL whose rows change shape: a long row in a wide file is read as long', async () => {
    const file = path.join(tmp, 'mixed.jsonl');
    write(file, '{"step": 0, "loss": 1}\n{"metric": "acc", "step": 1, "value": 0.5}\n{"step": 2, "loss": 2, "key": 3, "value": 4}\n');
    const team = await srv.newTeam('hostile-mixed');
    const r = await imp(team, 'jsonl', file, { project: 't', experiment: 'm' });
    expect(r.warnings).toEqual([]);
    expect(await metricTotals(team, 't', 'm')).toEqual({ loss: 2, acc: 1, key: 1, value: 1 });
    expect(await points(team, 't', 'm', 'acc')).toEqual([[1, 0.5]]);
  });

  it('an ISO time without a zone is UTC whatever the importing machine\'s zone', () => {
    const tz = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(['2024-01-01T00:00:00', '2024-01-01 00:00:00.250', '2024-01-01T00:00:00+01:00', '2024-01-01'].map(parseTime)).toEqual([
        Date.UTC(2024, 0, 1), Date.UTC(2024, 0, 1, 0, 0, 0, 250), Date.UTC(2023, 11, 31, 23), Date.UTC(2024, 0, 1),
      ]);
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });

  it('CSV: a column twice in the header is read once; an unclosed quote keeps the rows before it; an empty file is a warning', async () => {
    const team = await srv.newTeam('hostile-csv');
    const dup = path.join(tmp, 'dup.csv');
    write(dup, '\uFEFFstep,loss,"a,b",loss\r\n0,1,2,3\r\n1,4,"5",6\r\n');
    const d = await imp(team, 'csv', dup, { project: 't', experiment: 'dup' });
    expect(d.warnings).toEqual([`${dup}: column "loss" more than once in the header; the last of each is read`]);
    expect(d.counts.points).toBe(4);
    expect(await points(team, 't', 'dup', 'loss')).toEqual([[0, 3], [1, 6]]);
    expect(await metricTotals(team, 't', 'dup')).toEqual({ loss: 2, 'a,b': 2 });

    const quote = path.join(tmp, 'quote.csv');
    write(quote, 'step,loss\n0,1\n1,2\n2,"3\n3,4\n');
    const q = await imp(team, 'csv', quote, { project: 't', experiment: 'quote' });
    expect(q.warnings).toEqual([`${quote}: line 5: Quote Not Closed: the parsing is finished with an opening quote at line 5; the rest of the file is skipped`]);
    expect(await points(team, 't', 'quote', 'loss')).toEqual([[0, 1], [1, 2]]);

    const empty = path.join(tmp, 'empty.csv');
    write(empty, '');
    expect((await imp(team, 'csv', empty, { project: 't', experiment: 'empty' })).warnings).toEqual([`${empty}: no header row (empty file); nothing imported`]);
  });

  it('W&B: a config.yaml that is no YAML is a warning; the history (NaN as Python writes it) imports', async () => {
    const root = path.join(tmp, 'wandb-bad');
    write(path.join(root, 'run-1', 'files', 'wandb-history.jsonl'), '{"_step": 0, "_timestamp": 1704067200, "loss": NaN}\n{"_step": 1, "_timestamp": 1704067201, "loss": 1.5}\n');
    write(path.join(root, 'run-1', 'files', 'config.yaml'), 'lr: [\n');
    const team = await srv.newTeam('hostile-wandb');
    const r = await imp(team, 'wandb', root, { project: 'wb' });
    expect(r.warnings).toEqual([`${root}/run-1/files/config.yaml: not YAML (Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1:); the run is imported without its config`]);
    expect(await points(team, 'wb', 'run-1', 'loss')).toEqual([[0, 'NaN'], [1, 1.5]]);
  });

  it('W&B: a run whose config is more than the server takes (past featuresJsonMax) is left out with a warning; the other runs import', async () => {
    const root = path.join(tmp, 'wandb-big');
    for (const [run, config] of [['run-big', `notes: ${'x'.repeat(1_000_001)}\n`], ['run-ok', 'lr: 0.1\n']]) {
      write(path.join(root, run, 'files', 'wandb-history.jsonl'), '{"_step": 0, "_timestamp": 1704067200, "loss": 0.5}\n');
      write(path.join(root, run, 'files', 'config.yaml'), config);
    }
    const team = await srv.newTeam('hostile-wandb-big');
    const r = await imp(team, 'wandb', root, { project: 'wbb' });
    expect(r.warnings.map((w) => w.replace(/projects\/[-0-9a-f]+\//, 'projects/<id>/').replace(/HTTP (\d+) .*/s, 'HTTP $1'))).toEqual([
      `${root}/run-big/files: run not imported: POST /api/v1/projects/<id>/experiments?if_exists=return: HTTP 422`,
    ]);
    expect((await experimentNames(team, 'wbb')).map(([name]) => name)).toEqual(['run-ok']);
  });
});

describe('an unlucky operator', () => {
  it('a server that takes the connection and never answers: the import stops with a clear message within its --timeout', async () => {
    const sockets: net.Socket[] = [];
    const hung = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const file = path.join(tmp, 'hung.csv');
    write(file, 'step,loss\n0,1\n');
    const t0 = Date.now();
    try {
      await expect(runImport('csv', file, { url: `http://127.0.0.1:${(hung.address() as net.AddressInfo).port}`, apiKey: 'k', project: 'p', experiment: 'e', timeoutSeconds: 1 }))
        .rejects.toThrow(/^POST http:\/\/127\.0\.0\.1:\d+\/api\/v1\/projects\?if_exists=return: no answer from the server within 1 s \(--timeout\); is it hung\?$/);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      for (const s of sockets) s.destroy();
      hung.close();
    }
  });

  it('an MLflow source server that never answers: the import stops with a clear message within its --timeout', async () => {
    const sockets: net.Socket[] = [];
    const hung = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const t0 = Date.now();
    try {
      const team = await srv.newTeam('hostile-rest');
      await expect(imp(team, 'mlflow', `http://127.0.0.1:${(hung.address() as net.AddressInfo).port}`, { timeoutSeconds: 1 }))
        .rejects.toThrow(/^MLflow (GET|POST) \/api\/2\.0\/mlflow\/\S+: no answer from the MLflow server within 1 s \(--timeout\); is it hung\?$/);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      for (const s of sockets) s.destroy();
      hung.close();
    }
  });

  it('no server at the URL: after ~20 s of retries the import says why', async () => {
    const file = path.join(tmp, 'down.csv');
    write(file, 'step,loss\n0,1\n');
    await expect(runImport('csv', file, { url: `http://127.0.0.1:${await freePort()}`, apiKey: 'k', project: 'p', experiment: 'e' }))
      .rejects.toThrow(/^POST http:\/\/127\.0\.0\.1:\d+\/api\/v1\/projects\?if_exists=return: fetch failed \(ECONNREFUSED\); is the server running\?$/);
  }, 60_000);

  it('--url (or the MLflow source) naming something that is no such server (an HTML page): a clear message', async () => {
    const web = http.createServer((req, res) => res.writeHead(req.url!.startsWith('/api/2.0/') ? 200 : 404, { 'content-type': 'text/html' }).end('<!doctype html><title>x</title>'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    const file = path.join(tmp, 'web.csv');
    write(file, 'step,loss\n0,1\n');
    const webUrl = `http://127.0.0.1:${(web.address() as net.AddressInfo).port}`;
    try {
      await expect(runImport('csv', file, { url: `${webUrl}/`, apiKey: 'k', project: 'p', experiment: 'e' }))
        .rejects.toThrow(/^POST http:\/\/127\.0\.0\.1:\d+\/api\/v1\/projects\?if_exists=return: HTTP 404 text\/html that is not JSON: is http:\/\/127\.0\.0\.1:\d+ an Assay server\?$/);
      // and as the MLflow source: answered 200 with the page
      await expect(runImport('mlflow', webUrl, { url, apiKey: 'k' }))
        .rejects.toThrow(/^MLflow (GET|POST) \/api\/2\.0\/mlflow\/\S+: HTTP 200 text\/html that is not JSON: is http:\/\/127\.0\.0\.1:\d+ an MLflow tracking server\?$/);
    } finally {
      web.close();
    }
  });

  it('a revoked API key: `assay import` says so and exits non-zero, without a stack trace', async () => {
    const team = await srv.newTeam('hostile-key');
    const key = await team.api.post('/api-keys', { name: 'importer' });
    expect(key.status).toBe(201);
    expect((await team.api.delete(`/api-keys/${key.body.id}`)).status).toBe(200);
    const file = path.join(tmp, 'key.csv');
    write(file, 'step,loss\n0,1\n');
    const child = spawn(process.execPath, [BIN, 'import', 'csv', file, '--project', 'p', '--experiment', 'e', '--url', url, '--api-key', key.body.api_key], { env: childEnv });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    expect([code, stderr.trim()]).toEqual([1, 'assay: Invalid or revoked API key']);
  }, 60_000);

  it('the same import started three times at once: every point once; each batch counts as written in one run, already there in the others', async () => {
    const team = await srv.newTeam('hostile-thrice');
    const n = 20_000;
    const file = path.join(tmp, 'thrice.csv');
    write(file, 'step,loss,acc\n' + Array.from({ length: n }, (_, s) => `${s},${s / 8},${s}`).join('\n') + '\n');
    const o = { project: 'p', experiment: 'e', batchPoints: 500, concurrency: 4 };
    const runs = await Promise.all([imp(team, 'csv', file, o), imp(team, 'csv', file, o), imp(team, 'csv', file, o)]);
    expect(runs.reduce((s, r) => s + r.counts.points, 0)).toBe(2 * n); // each batch is written by one of them
    expect(runs.map((r) => r.counts.points + r.counts.pointsExisting)).toEqual([2 * n, 2 * n, 2 * n]);
    expect(runs.reduce((s, r) => s + r.counts.experiments, 0)).toBe(1);
    expect(await metricTotals(team, 'p', 'e')).toEqual({ loss: n, acc: n });
  }, 60_000);

  it('the server kill -9ed in the middle of an import, restarted, the import run again: every point exactly once, the summaries exact', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-hostile-crash-'));
    const port = await freePort();
    let server = await new ChildServer(dataDir, port).ready();
    try {
      const apiKey = await createTeam(server, 'crash');
      const n = 60_000;
      const file = path.join(tmp, 'crash.csv');
      write(file, 'step,loss\n' + Array.from({ length: n }, (_, s) => `${s},${s / 8}`).join('\n') + '\n');
      const o = { url: server.url, apiKey, project: 'p', experiment: 'e', batchPoints: 1000, concurrency: 2 };
      let sent = 0;
      let killed: Promise<unknown> | undefined;
      const progress = { start() {}, advance() {}, stop() {}, points(k: number) {
        sent += k;
        if (sent >= 10_000 && !killed) {
          server.crash();
          // the importer retries refused connections for ~20 s: the restarted server takes the rest
          killed = server.exited.then(async () => (server = await new ChildServer(dataDir, port).ready()));
        }
      } };
      const first = await runImport('csv', file, { ...o, progress }).catch((e: Error) => e);
      await killed;
      expect(sent).toBeGreaterThanOrEqual(10_000); // the kill happened mid-import
      const again = await runImport('csv', file, o);
      const api = async (p: string) => (await (await fetch(`${server.url}/api/v1${p}`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as Record<string, any>;
      const names = await api('/metrics/names/p/e');
      expect(names.items.map((m: { metric_name: string; total_points: number }) => [m.metric_name, m.total_points])).toEqual([['loss', n]]);
      const got = (await api(`/metrics/timeseries/p/e/loss?limit=${n}`)).points as { step: number; value: number }[];
      expect(got.length).toBe(n);
      expect(got.filter((p, i) => p.step !== i || p.value !== i / 8)).toEqual([]);
      // the re-run sends every batch again and the server answers each one already there
      expect([again.counts.points, again.counts.pointsExisting, again.counts.experimentsExisting, again.warnings]).toEqual([0, n, 1, []]);
      if (!(first instanceof Error)) expect(first.counts.points + first.counts.pointsExisting).toBe(n);
    } finally {
      server.crash();
      await server.exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
