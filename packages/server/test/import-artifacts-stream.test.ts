import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runImport } from '../src/importers/index.ts';
import { BIN, childEnv } from './child-server.ts';
import { experiment, fakeMlflow, run, type Req, type Reply } from './fake-mlflow.ts';
import { startListeningServer, stopListeningServer, type TestServer, type TestTeam } from './helpers.ts';

/*
 * `assay import mlflow --artifacts` moves an artifact through files, not memory (issue 12): a
 * checkpoint several times bigger than the importer's own footprint costs it no more memory, an
 * upload the server answers 503 is sent again from the start of the file, and the MLflow REST
 * source's temporary copy is gone afterwards, also after Ctrl-C.
 */

let srv: TestServer;
let url: string;
let tmp: string;

beforeAll(async () => void ({ srv, url, tmp } = await startListeningServer('assay-artifacts-stream-')), 120_000);
afterAll(() => stopListeningServer({ srv, tmp }));

/** Several times what an import needs for itself: held in memory, it would show in the peak. */
const BIG = 400 << 20;

/**
 * One `runImport` with artifacts in its own process; its peak memory (VmHWM) is reset once the
 * modules are loaded, so the peak is the import's, not that of transpiling the sources.
 */
const PEAK_PROGRAM = String.raw`
import fs from 'node:fs';
const [source, url, apiKey] = process.argv.slice(1);
const { runImport } = await import(${JSON.stringify(new URL('../src/importers/index.ts', import.meta.url).href)});
const kb = (field) => Number(new RegExp(field + ':\\s+(\\d+) kB').exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
fs.writeFileSync('/proc/self/clear_refs', '5');
const start = kb('VmRSS');
const r = await runImport('mlflow', source, { url, apiKey, artifacts: true, env: {} });
console.log(JSON.stringify({ counts: r.counts, warnings: r.warnings, start, peak: kb('VmHWM') }));
`;

async function importMeasured(team: TestTeam, source: string, tmpdir: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', PEAK_PROGRAM, source, url, team.apiKey], { env: { ...childEnv, TMPDIR: tmpdir } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = await once(child, 'exit');
  expect([code, stderr]).toEqual([0, '']);
  const r = JSON.parse(stdout) as { counts: { artifacts: number; artifactsExisting: number }; warnings: string[]; start: number; peak: number };
  return { artifacts: [r.counts.artifacts, r.counts.artifactsExisting], warnings: r.warnings, start: r.start, growth: r.peak - r.start };
}

/** `assay import mlflow <source> --artifacts` as its own process, with its own TMPDIR. */
function cliInChild(team: TestTeam, source: string, tmpdir: string) {
  const child = spawn(process.execPath, [BIN, 'import', 'mlflow', source, '--url', url, '--api-key', team.apiKey, '--artifacts', '--no-progress'], {
    env: { ...childEnv, TMPDIR: tmpdir, MLFLOW_TRACKING_TOKEN: '', MLFLOW_TRACKING_USERNAME: '' },
  });
  return { child, exited: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]> };
}

async function sha256Of(parts: AsyncIterable<Uint8Array>): Promise<string> {
  const h = createHash('sha256');
  for await (const p of parts) h.update(p);
  return h.digest('hex');
}

async function storedArtifacts(team: TestTeam, project: string, experimentName: string) {
  const r = await team.api.get(`/projects/${project}/experiments/${experimentName}/artifacts`);
  expect(r.status).toBe(200);
  return (r.body.items as { path: string; size: number; sha256: string }[]).map((a) => [a.path, a.size, a.sha256]);
}

/** An MLflow file store with one run whose artifacts are `files` (relative path → write it). */
function fileStore(name: string, files: Record<string, (file: string) => void>): string {
  const root = path.join(tmp, name);
  fs.mkdirSync(path.join(root, '1', 'r1', 'artifacts'), { recursive: true });
  fs.writeFileSync(path.join(root, '1', 'meta.yaml'), `experiment_id: "1"\nname: ${name}\nlifecycle_stage: active\n`);
  fs.writeFileSync(path.join(root, '1', 'r1', 'meta.yaml'), 'run_id: r1\nrun_name: r1\nstatus: 3\nstart_time: 1700000000000\nlifecycle_stage: active\n');
  for (const [rel, write] of Object.entries(files)) write(path.join(root, '1', 'r1', 'artifacts', rel));
  return root;
}

/** A sparse file of `size` bytes with a few marked places: bytes that are not all zeros, without writing them all to disk. */
function sparseCheckpoint(size: number) {
  return (file: string) => {
    const fd = fs.openSync(file, 'w');
    try {
      fs.ftruncateSync(fd, size);
      for (const at of [0, size / 2, size - 16]) fs.writeSync(fd, Buffer.from(`mark@${at}`.padEnd(16, '!')), 0, 16, at);
    } finally {
      fs.closeSync(fd);
    }
  };
}

/** Deterministic bytes, 1 MiB at a time, each part different: what the fake MLflow server streams. */
async function* patterned(size: number): AsyncGenerator<Buffer> {
  for (let at = 0, i = 0; at < size; at += 1 << 20, i++) yield Buffer.alloc(Math.min(1 << 20, size - at), `part ${i};`);
}

/** get-artifact answers `size` patterned bytes as a stream, never whole in the source's memory either. */
const streaming = (size: number) => (r: Req): Reply | undefined => (r.path === '/get-artifact'
  ? { handle: (res) => Readable.from(patterned(size)).pipe(res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) })) }
  : undefined);

describe('artifacts bigger than the importer', () => {
  it('a 400 MB checkpoint from a file store: the import\'s memory grows by far less than its size; the server holds the same bytes; a second run skips it', async () => {
    const team = await srv.newTeam('art-files');
    const root = fileStore('files', { 'ckpt.bin': sparseCheckpoint(BIG) });
    const expected = await sha256Of(fs.createReadStream(path.join(root, '1', 'r1', 'artifacts', 'ckpt.bin')));
    const first = await importMeasured(team, root, tmp);
    expect([first.artifacts, first.warnings]).toEqual([[1, 0], []]);
    expect(first.growth).toBeLessThan(BIG / 4);
    expect(await storedArtifacts(team, 'files', 'r1')).toEqual([['ckpt.bin', BIG, expected]]);
    const second = await importMeasured(team, root, tmp);
    expect([second.artifacts, second.warnings]).toEqual([[0, 1], []]);
  }, 120_000);

  it('a 400 MB artifact from an MLflow REST server: downloaded through a temporary file, memory growth far below its size, the file gone afterwards; a second run skips it', async () => {
    const team = await srv.newTeam('art-rest');
    const source = await fakeMlflow({ experiments: [experiment('1', 'rest')], runs: { 1: [run('a', [])] }, lists: { 'a/': [{ path: 'ckpt.bin', is_dir: false, file_size: BIG }] } }, streaming(BIG));
    const tmpdir = fs.mkdtempSync(path.join(tmp, 'tmpdir-'));
    try {
      const first = await importMeasured(team, source.url, tmpdir);
      expect([first.artifacts, first.warnings]).toEqual([[1, 0], []]);
      expect(first.growth).toBeLessThan(BIG / 4);
      expect(await storedArtifacts(team, 'rest', 'a')).toEqual([['ckpt.bin', BIG, await sha256Of(patterned(BIG))]]);
      expect(fs.readdirSync(tmpdir)).toEqual([]);
      const second = await importMeasured(team, source.url, tmpdir);
      expect([second.artifacts, second.warnings]).toEqual([[0, 1], []]);
      expect(fs.readdirSync(tmpdir)).toEqual([]);
    } finally {
      await source.close();
    }
  }, 120_000);

  it('Ctrl-C in the middle of a download from an MLflow REST server: the temporary file goes with the importer', async () => {
    const team = await srv.newTeam('art-sigint');
    // the body starts and then stalls: the importer is interrupted while the file is half written
    const stall = (r: Req): Reply | undefined => (r.path === '/get-artifact'
      ? { handle: (res) => void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG) }).write(Buffer.alloc(4 << 20, 1)) }
      : undefined);
    const source = await fakeMlflow({ experiments: [experiment('1', 'sigint')], runs: { 1: [run('a', [])] }, lists: { 'a/': [{ path: 'ckpt.bin', is_dir: false, file_size: BIG }] } }, stall);
    const tmpdir = fs.mkdtempSync(path.join(tmp, 'tmpdir-'));
    try {
      const { child, exited } = cliInChild(team, source.url, tmpdir);
      const written = () => fs.readdirSync(tmpdir).flatMap((d) => fs.readdirSync(path.join(tmpdir, d)).map((f) => fs.statSync(path.join(tmpdir, d, f)).size));
      for (const t0 = Date.now(); !(written()[0] >= 4 << 20); ) {
        expect(Date.now() - t0, 'the download never reached the temporary file').toBeLessThan(60_000);
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill('SIGINT');
      expect(await exited).toEqual([null, 'SIGINT']);
      expect(fs.readdirSync(tmpdir)).toEqual([]);
    } finally {
      await source.close();
    }
  }, 120_000);
});

describe('a download bigger than the source listed it', () => {
  it('stops once it passes the listed size: a warning, nothing stored, no temporary file left', async () => {
    const team = await srv.newTeam('art-lie');
    let pulled = 0;
    const counted = async function* (parts: AsyncIterable<Buffer>) {
      for await (const p of parts) yield (pulled += p.length, p);
    };
    const hook = (r: Req): Reply | undefined => (r.path === '/get-artifact'
      ? { handle: (res) => Readable.from(counted(patterned(BIG))).pipe(res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG) })) }
      : undefined);
    const source = await fakeMlflow({ experiments: [experiment('1', 'lie')], runs: { 1: [run('a', [])] }, lists: { 'a/': [{ path: 'lie.bin', is_dir: false, file_size: 5 }] } }, hook);
    const tmpdir = fs.mkdtempSync(path.join(tmp, 'tmpdir-'));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = tmpdir;
    try {
      const r = await runImport('mlflow', source.url, { url, apiKey: team.apiKey, artifacts: true, env: {} });
      expect(r.warnings).toEqual(['artifact lie.bin of run a: listed with 5 bytes, more came; skipped']);
      expect(await storedArtifacts(team, 'lie', 'a')).toEqual([]);
      expect(fs.readdirSync(tmpdir)).toEqual([]);
      // what the socket buffers took before the importer hung up, not the 400 MB
      expect(pulled).toBeLessThan(BIG / 8);
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
      await source.close();
    }
  }, 60_000);
});

/**
 * Between the importer and the server: `first` answers the first artifact PUT, everything else
 * passes through. `puts` has the bytes each artifact PUT brought (or declared).
 */
async function proxy(first: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<number>) {
  const puts: number[] = [];
  const server = http.createServer(async (req, res) => {
    const upload = req.method === 'PUT' && req.url!.includes('/artifacts');
    if (upload && puts.length === 0) return void puts.push(await first(req, res));
    if (upload) puts.push(Number(req.headers['content-length']));
    const fwd = http.request(url + req.url, { method: req.method, headers: req.headers }, (up) => up.pipe(res.writeHead(up.statusCode!, up.headers)));
    // a request the importer gives up in the middle is given up towards the server too
    pipeline(req, fwd, () => {});
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    puts,
    close: async () => {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
}

/** Reads the body (up to `max` bytes), then `meanwhile`, and answers 503, as a server that is restarting. */
const unavailable = (max = Infinity, meanwhile = () => {}) => async (req: http.IncomingMessage, res: http.ServerResponse) => {
  let n = 0;
  for await (const c of req) if ((n += (c as Buffer).length) >= max) break;
  meanwhile();
  res.writeHead(503, { 'retry-after': '0', 'content-type': 'application/json', ...(max < Infinity ? { connection: 'close' } : {}) }).end('{"detail":"restarting"}');
  return n;
};

describe('an upload the server answers 503', () => {
  it.each([
    ['after the whole body came', Infinity],
    ['after its first MB, closing the connection', 1 << 20],
  ])('%s: it is sent again from the start of the file and stored whole', async (_, answerAfter) => {
    const team = await srv.newTeam('art-503');
    const data = Buffer.alloc(3 << 20, 'retry me;');
    const root = fileStore(`retried-${answerAfter}`, { 'model.bin': (f) => fs.writeFileSync(f, data) });
    const p = await proxy(unavailable(answerAfter));
    try {
      const r = await runImport('mlflow', root, { url: p.url, apiKey: team.apiKey, artifacts: true });
      expect([r.counts.artifacts, r.warnings]).toEqual([1, []]);
      expect(p.puts).toEqual([Math.min(answerAfter, data.length), data.length]);
      expect(await storedArtifacts(team, `retried-${answerAfter}`, 'r1')).toEqual([['model.bin', data.length, createHash('sha256').update(data).digest('hex')]]);
    } finally {
      await p.close();
    }
  }, 60_000);

  it('a file that shrank before the retry is a warning at once, not retried; the other artifacts import', async () => {
    const team = await srv.newTeam('art-shrank');
    const root = fileStore('shrank', { 'a.bin': (f) => fs.writeFileSync(f, Buffer.alloc(3 << 20, 'a')), 'b.txt': (f) => fs.writeFileSync(f, 'bee') });
    const shrinking = path.join(root, '1', 'r1', 'artifacts', 'a.bin');
    // the source run is still being written: the artifact is rewritten shorter while the server restarts
    const p = await proxy(unavailable(Infinity, () => fs.truncateSync(shrinking, 1000)));
    try {
      const t0 = Date.now();
      const r = await runImport('mlflow', root, { url: p.url, apiKey: team.apiKey, artifacts: true });
      expect(r.warnings).toEqual([`artifact ${shrinking}: shorter than the ${3 << 20} bytes it had when it was hashed (it changed during the import); skipped`]);
      expect(Date.now() - t0).toBeLessThan(5_000);
      // the retry declared the size that was hashed and was given up when the file ended early
      expect(p.puts).toEqual([3 << 20, 3 << 20, 3]);
      expect((await storedArtifacts(team, 'shrank', 'r1')).map(([p]) => p)).toEqual(['b.txt']);
    } finally {
      await p.close();
    }
  }, 60_000);
});
