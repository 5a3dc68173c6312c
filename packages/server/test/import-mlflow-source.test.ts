import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runImport, type ImportOptions } from '../src/importers/index.ts';
import { BIN, childEnv } from './child-server.ts';
import { experiment, fakeMlflow, history, run, T0, withSource, type Reply, type Req, type World } from './fake-mlflow.ts';
import { startListeningServer, stopListeningServer, type TestServer, type TestTeam } from './helpers.ts';
import { metricTotals, points } from './import-reads.ts';

/*
 * `assay import mlflow http://…` against a broken or hostile MLflow tracking server (issue 12). The
 * source is a small fake (fake-mlflow.ts); the Assay side is the real test server. A damaged
 * answer is a warning naming the experiment, run, metric or artifact and the rest imports, or a
 * clear error that stops the import; never a crash, a hang or a loop; a second run changes nothing.
 */

let srv: TestServer;
let url: string;

beforeAll(async () => void ({ srv, url } = await startListeningServer()), 120_000);
afterAll(() => stopListeningServer({ srv }));

const imp = (team: TestTeam, source: string, o: Partial<ImportOptions> = {}) => runImport('mlflow', source, { url, apiKey: team.apiKey, env: {}, ...o });

async function experimentNames(team: TestTeam, project: string) {
  const r = await team.api.get(`/projects/${encodeURIComponent(project)}/experiments?limit=100`);
  expect(r.status).toBe(200);
  return (r.body.items as { name: string }[]).map((e) => e.name).sort();
}
const again = (r: Awaited<ReturnType<typeof imp>>) => [r.counts.experiments, r.counts.points, r.counts.artifacts];

describe('paging', () => {
  it('experiments/search answering the same next_page_token again: a clear error, after two calls', async () => {
    await withSource({ experiments: [experiment('1')], runs: {} }, (r) => (r.path.endsWith('/experiments/search') ? { json: { experiments: [], next_page_token: 'again' } } : undefined), async (source) => {
      const team = await srv.newTeam('src-loop');
      await expect(imp(team, source.url)).rejects.toThrow('MLflow POST /api/2.0/mlflow/experiments/search: next_page_token "again" was answered before (the source pages in a loop); the pages after it are not read');
      expect(source.calls.length).toBe(2);
    });
  });

  it('a history whose token loops, one paging on empty pages for ever, a token that is no string: warnings naming run and metric; the rest imports once', async () => {
    const world: World = {
      experiments: [experiment('1'), experiment('2')],
      runs: { 1: [run('r1', ['loop', 'empty', 'ok'])], 2: [run('r2', ['ok'])] },
      history: { 'r1/ok': history(3), 'r2/ok': history(2) },
    };
    let emptyPages = 0;
    const hook = (r: Req): Reply | undefined => {
      const key = r.query.get('metric_key');
      const token = r.query.get('page_token');
      if (key === 'loop') return { json: { metrics: history(2, () => 7).map((p) => ({ ...p, step: p.step + (token ? 2 : 0) })), next_page_token: 'A' } };
      if (key === 'empty') return (emptyPages++, { json: { next_page_token: `t${emptyPages}` } });
      if (r.path.endsWith('/runs/search') && r.body.experiment_ids[0] === '2') return { json: { runs: world.runs[2], next_page_token: { page: 2 } } };
      return undefined;
    };
    await withSource(world, hook, async (source) => {
      const team = await srv.newTeam('src-paging');
      const first = await imp(team, source.url);
      expect(first.warnings.sort()).toEqual([
        'experiment 2 (exp-2): runs not readable (MLflow POST /api/2.0/mlflow/runs/search: next_page_token is {"page":2}, not a string; the pages after it are not read); the runs read before are imported',
        'run r1: metric "empty": not readable from the server (MLflow GET /api/2.0/mlflow/metrics/get-history: 100 pages in a row with nothing but another next_page_token; the pages after them are not read); the points read before are imported',
        'run r1: metric "loop": not readable from the server (MLflow GET /api/2.0/mlflow/metrics/get-history: next_page_token "A" was answered before (the source pages in a loop); the pages after it are not read); the points read before are imported',
      ]);
      expect(emptyPages).toBe(100);
      // the loop's two pages are read once each: steps 0-1 and 2-3
      expect(await points(team, 'exp-1', 'r1', 'loop')).toEqual([[0, 7], [1, 7], [2, 7], [3, 7]]);
      expect(await metricTotals(team, 'exp-1', 'r1')).toEqual({ loop: 4, ok: 3 });
      expect(await metricTotals(team, 'exp-2', 'r2')).toEqual({ ok: 2 });
      expect([first.counts.experiments, first.counts.points]).toEqual([2, 9]);
      const second = await imp(team, source.url);
      expect([...again(second), second.counts.pointsExisting]).toEqual([0, 0, 0, 9]);
    });
  }, 30_000);

  it('max_results ignored (100k points in one page) and empty pages before the data: every point once', async () => {
    const n = 100_000;
    const world: World = { experiments: [experiment('1')], runs: { 1: [run('big', ['loss'])] }, history: { 'big/loss': history(n) } };
    const hook = (r: Req): Reply | undefined => {
      const token = r.query.get('page_token');
      if (r.path.endsWith('/get-history') && Number(token ?? 0) < 3) return { json: { metrics: [], next_page_token: String(Number(token ?? 0) + 1) } };
      return undefined;
    };
    await withSource(world, hook, async (source) => {
      const team = await srv.newTeam('src-big');
      const first = await imp(team, source.url);
      expect([first.warnings, first.counts.points]).toEqual([[], n]);
      expect(await metricTotals(team, 'exp-1', 'big')).toEqual({ loss: n });
      const got = await points(team, 'exp-1', 'big', 'loss');
      expect(got.filter(([s, v], i) => s !== i || v !== i / 2)).toEqual([]);
      const second = await imp(team, source.url);
      expect([...again(second), second.counts.pointsExisting]).toEqual([0, 0, 0, n]);
    });
  }, 60_000);
});

describe('a long history into a slow Assay server', () => {
  it('the pages are read only as fast as the batches are taken: batches do not pile up in the importer', async () => {
    const pages = 50;
    const world: World = { experiments: [experiment('1')], runs: { 1: [run('long', ['loss'])] } };
    let read = 0;
    const hook = (r: Req): Reply | undefined => {
      if (!r.path.endsWith('/get-history')) return undefined;
      const page = Number(r.query.get('page_token') ?? 0);
      read = Math.max(read, page + 1);
      const metrics = history(1000).map((p) => ({ ...p, step: p.step + page * 1000 }));
      return { json: { metrics, ...(page + 1 < pages ? { next_page_token: String(page + 1) } : {}) } };
    };
    // Assay behind a proxy that holds every metric batch until released
    const held: (() => void)[] = [];
    let holding = true;
    const proxy = http.createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (holding && req.url!.startsWith('/api/v1/metrics/batch/')) await new Promise<void>((ok) => held.push(ok));
      const { host: _h, connection: _c, 'content-length': _l, ...headers } = req.headers as Record<string, string>;
      const body = Buffer.concat(chunks);
      const r = await fetch(url + req.url, { method: req.method, headers, body: body.length ? new Uint8Array(body) : undefined });
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await r.arrayBuffer()));
    });
    await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
    try {
      await withSource(world, hook, async (source) => {
        const team = await srv.newTeam('src-slow');
        const done = runImport('mlflow', source.url, { url: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`, apiKey: team.apiKey, env: {}, batchPoints: 1000, concurrency: 2 });
        let seen = -1;
        while (seen !== read) {
          seen = read;
          await new Promise((ok) => setTimeout(ok, 500));
        }
        // a batch per page: 2 in flight and 3 waiting for a slot, one more than the writer lets queue (4)
        expect([read, held.length]).toEqual([5, 2]);
        holding = false;
        for (const release of held.splice(0)) release();
        const r = await done;
        expect([r.warnings, r.counts.points]).toEqual([[], pages * 1000]);
        expect(await metricTotals(team, 'exp-1', 'long')).toEqual({ loss: pages * 1000 });
      });
    } finally {
      proxy.closeAllConnections();
      proxy.close();
    }
  }, 60_000);
});

describe('answers too big to hold', () => {
  it('a history answer past 256 MiB (declared, or streamed without end): a warning naming run and metric; the other runs import', async () => {
    const world: World = { experiments: [experiment('1')], runs: { 1: [run('declared', ['loss']), run('endless', ['loss']), run('fine', ['loss'])] }, history: { 'fine/loss': history(2) } };
    let streamed = 0;
    const hook = (r: Req): Reply | undefined => {
      const id = r.query.get('run_id');
      if (!r.path.endsWith('/get-history') || id === 'fine') return undefined;
      return { handle: (res) => {
        if (id === 'declared') return res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 ** 30) }).write('{"metrics": [', () => res.destroy());
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(4 << 20, 0x20);
        const more = () => {
          while (!res.destroyed) {
            streamed += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
        };
        res.write('{"metrics": [');
        res.on('close', () => res.destroy());
        more();
      } };
    };
    await withSource(world, hook, async (source) => {
      const team = await srv.newTeam('src-huge');
      const first = await imp(team, source.url);
      expect(first.warnings.sort()).toEqual([
        'run declared: metric "loss": not readable from the server (MLflow GET /api/2.0/mlflow/metrics/get-history: 1073741824 bytes, more than the 268435456 this importer takes); the points read before are imported',
        'run endless: metric "loss": not readable from the server (MLflow GET /api/2.0/mlflow/metrics/get-history: more than the 268435456 bytes this importer takes); the points read before are imported',
      ]);
      expect(streamed).toBeGreaterThan(256 << 20); // the endless answer was cut at the bound, not at its end
      expect(streamed).toBeLessThan(512 << 20);
      expect(await metricTotals(team, 'exp-1', 'fine')).toEqual({ loss: 2 });
    });
  }, 60_000);
});

describe('answers of the wrong shape', () => {
  it('experiments, runs and points that are no such thing, odd names and values, a run listed twice: warnings; the rest imports; again changes nothing', async () => {
    const world: World = {
      experiments: [
        experiment('1', 'lab'), { name: 'no id' }, null, experiment('2', 'lab\uD800'), experiment('3', 'a\u0000b'), experiment('4', ' '), experiment('5', 'runs-not-a-list'),
      ],
      runs: {
        1: [
          run('r1', [], {}, { metrics: [{ key: 'loss' }, null, { key: 'acc' }, { key: 'loss' }], params: [{ key: 'lr', value: '0.1' }, { value: 'no key' }, { key: 'b\uD800', value: 'c\uDFFF' }] }),
          { info: { run_name: 'no id' } }, {}, null,
          run('r2', ['loss'], {}, { params: [{ key: 'a\u0000b', value: '1' }] }),
          run('r3', ['loss', 'x\u0000y'], { start_time: 'abc', end_time: 5e15, run_name: 'three\uDC00' }),
        ],
        3: [run('r6', ['loss'])],
        4: [run('r5', ['loss'])],
        2: [run('r1', ['loss']), run('r4', ['loss'])],
      },
      history: {
        'r1/loss': [1.5, '0.5', 'NaN', 'Infinity', '-Infinity', null, true, 'abc', {}].map((value, step) => ({ key: 'loss', value, timestamp: T0 + step, step })).concat([null as never]),
        'r1/acc': [-1, 2 ** 53 + 2, 1.5, '3', null, true].map((step) => ({ key: 'acc', value: 1, timestamp: T0, step }) as unknown)
          .concat([{ value: 2, step: 5, timestamp: -1 }, { value: 2, step: 6, timestamp: 5e15 }, { value: 3, step: 7, timestamp: String(T0 + 7) }, { value: 2, step: 8 }]),
        'r3/loss': history(1),
        'r3/x\u0000y': history(1),
        // Python's json.dumps writes NaN and Infinity bare
        'r4/loss': `{"metrics": [{"key": "loss", "value": NaN, "timestamp": ${T0}, "step": 0}, {"key": "loss", "value": -Infinity, "timestamp": ${T0}, "step": 1}, {"key": "loss", "value": "NaN and Infinity", "timestamp": ${T0}, "step": 2}]}`,
        'r5/loss': history(1),
      },
    };
    // experiment 1 lists r1 again on a second page; experiment 5 answers runs as text
    const hook = (r: Req): Reply | undefined => {
      if (!r.path.endsWith('/runs/search')) return undefined;
      if (r.body.experiment_ids[0] === '5') return { json: { runs: 'abc' } };
      if (r.body.experiment_ids[0] !== '1') return undefined;
      return r.body.page_token ? { json: { runs: [run('r1', ['loss'])] } } : { json: { runs: world.runs[1], next_page_token: 'p2' } };
    };
    await withSource(world, hook, async (source) => {
      const team = await srv.newTeam('src-shape');
      const first = await imp(team, source.url);
      expect(first.warnings.map((w) => w.replace(/projects\/[-0-9a-f]+\//, 'projects/<id>/')).sort()).toEqual([
        'experiment 1: null is no run with a run_id; skipped',
        'experiment 1: {"info":{"run_name":"no id"}} is no run with a run_id; skipped',
        'experiment 1: {} is no run with a run_id; skipped',
        'experiment 2: name: "lab\\ud800" read as "lab\uFFFD"',
        'experiment 3: name "a\\u0000b" is no Assay project name (project name must not contain NUL (\\u0000)); its runs are not imported',
        'experiment 4: name " " is no name; "4" used',
        'experiment 5 (runs-not-a-list): runs not readable (MLflow POST /api/2.0/mlflow/runs/search: "runs" is "abc", not a list); the runs read before are imported',
        'experiments/search: null is no experiment with an experiment_id; skipped',
        'experiments/search: {"name":"no id"} is no experiment with an experiment_id; skipped',
        // steps -1, 2^53+2, 1.5, true; times -1, 5e15, none
        'r1: 7 points skipped (negative or fractional step, or timestamp outside 1970–2106)',
        'run r1: 1 metric entries without a text key skipped',
        'run r1: listed again (in experiment 1, first in experiment 1); imported once',
        'run r1: listed again (in experiment 2, first in experiment 1); imported once',
        // null, true, "abc", {} and a point that is null
        'run r1: metric "loss": 5 values that are no number (nor NaN/±Infinity) skipped',
        'run r1: params "b\uFFFD": "c\\udfff" read as "c\uFFFD"',
        'run r1: params key: "b\\ud800" read as "b\uFFFD"',
        'run r1: params: 1 entries without a text key left out',
        'run r2: not imported: POST /api/v1/projects/<id>/experiments?if_exists=return: HTTP 422 [{"loc":["body","features"],"msg":"key \\"a\\\\u0000b\\" must not contain NUL (\\\\u0000)","type":"custom"}]',
        'run r3: end_time: 5000000000000000 is no time in epoch ms from 1970 to 2106; left out',
        'run r3: run_name: "three\\udc00" read as "three\uFFFD"',
        'run r3: start_time: "abc" is no time in epoch ms from 1970 to 2106; left out',
        'run r4: metric "loss": 1 values that are no number (nor NaN/±Infinity) skipped',
        'three\uFFFD: metric "x\\u0000y" skipped: metric_name must not contain NUL (\\u0000)',
      ]);
      expect(await experimentNames(team, 'lab')).toEqual(['r1', 'three\uFFFD']);
      expect(await experimentNames(team, 'lab\uFFFD')).toEqual(['r4']);
      expect(await experimentNames(team, '4')).toEqual(['r5']);
      expect(await points(team, 'lab', 'r1', 'loss')).toEqual([[0, 1.5], [1, 0.5], [2, 'NaN'], [3, 'Infinity'], [4, '-Infinity']]);
      expect(await points(team, 'lab', 'r1', 'acc')).toEqual([[0, 1], [3, 1], [7, 3]]);
      expect(await points(team, 'lab\uFFFD', 'r4', 'loss')).toEqual([[0, 'NaN'], [1, '-Infinity']]);
      expect(await metricTotals(team, 'lab', 'three\uFFFD')).toEqual({ loss: 1 });
      const [r1] = (await team.api.get('/projects/lab/experiments?limit=100')).body.items.filter((e: { name: string }) => e.name === 'r1');
      expect([r1.features.lr, r1.features['b\uFFFD']]).toEqual(['0.1', 'c\uFFFD']);
      expect([first.counts.experiments, first.counts.points]).toEqual([4, 12]);
      const second = await imp(team, source.url);
      expect([...again(second), second.counts.pointsExisting, second.counts.experimentsExisting]).toEqual([0, 0, 0, 12, 4]);
    });
  }, 30_000);
});

describe('a history endpoint that fails for one run', () => {
  it('429 (with and without Retry-After) is retried; a 500 that stays and a 404 are warnings naming run and metric; the import goes on', async () => {
    const world: World = {
      experiments: [experiment('1')],
      runs: { 1: [run('slow', ['loss', 'acc']), run('broken', ['loss']), run('gone', ['loss', 'acc'])] },
      history: { 'slow/loss': history(3), 'slow/acc': history(2), 'broken/loss': history(1), 'gone/acc': history(2) },
    };
    const asked = new Map<string, number>();
    const at = new Map<string, number[]>();
    const hook = (r: Req): Reply | undefined => {
      if (!r.path.endsWith('/get-history')) return undefined;
      const what = `${r.query.get('run_id')}/${r.query.get('metric_key')}`;
      const n = (asked.get(what) ?? 0) + 1;
      asked.set(what, n);
      at.set(what, [...(at.get(what) ?? []), Date.now()]);
      if (what === 'slow/loss' && n === 1) return { status: 429, headers: { 'retry-after': '1' }, json: { error_code: 'REQUEST_LIMIT_EXCEEDED' } };
      if (what === 'slow/acc' && n <= 2) return { status: 429, json: { error_code: 'REQUEST_LIMIT_EXCEEDED' } };
      if (what === 'broken/loss') return { status: 500, json: { error_code: 'INTERNAL_ERROR', message: 'database is locked' } };
      if (what === 'gone/loss') return { status: 404, json: { error_code: 'RESOURCE_DOES_NOT_EXIST' } };
      return undefined;
    };
    await withSource(world, hook, async (source) => {
      const team = await srv.newTeam('src-status');
      const first = await imp(team, source.url);
      // the waits between attempts: Retry-After (1 s) when given, else 0.25 s doubling (20 ms timer slack)
      const waited = (what: string) => at.get(what)!.slice(1).map((t, i) => t - at.get(what)![i]);
      const longEnough = (what: string, min: number[]) => waited(what).map((ms, i) => (ms >= min[i] - 20 ? 'ok' : `${ms} ms < ${min[i]}`));
      expect([longEnough('slow/loss', [1000]), longEnough('slow/acc', [250, 500]), longEnough('broken/loss', [250, 500, 1000, 2000])]).toEqual([['ok'], ['ok', 'ok'], ['ok', 'ok', 'ok', 'ok']]);
      expect(first.warnings.sort()).toEqual([
        'run broken: metric "loss": not readable from the server (MLflow GET /api/2.0/mlflow/metrics/get-history: HTTP 500 {"error_code":"INTERNAL_ERROR","message":"database is locked"}); the points read before are imported',
        'run gone: metric "loss": not readable from the server (MLflow GET /api/2.0/mlflow/metrics/get-history: HTTP 404 {"error_code":"RESOURCE_DOES_NOT_EXIST"}); the points read before are imported',
      ]);
      // 1 + 4 retries for the 500; a 404 is an answer, asked once
      expect(Object.fromEntries(asked)).toEqual({ 'slow/loss': 2, 'slow/acc': 3, 'broken/loss': 5, 'gone/loss': 1, 'gone/acc': 1 });
      expect(await metricTotals(team, 'exp-1', 'slow')).toEqual({ loss: 3, acc: 2 });
      expect(await metricTotals(team, 'exp-1', 'gone')).toEqual({ acc: 2 });
      expect(await experimentNames(team, 'exp-1')).toEqual(['broken', 'gone', 'slow']);
      expect(first.counts.points).toBe(7);
    });
  }, 30_000);
});

describe('artifacts from a hostile source', () => {
  it('paths leaving the run, a directory listing itself, a size that lies, an HTML page, a redirect, a cut body: warnings; nothing asked or stored outside the run', async () => {
    const world: World = {
      experiments: [experiment('1')],
      runs: { 1: [run('a', [])] },
      lists: {
        'a/': [
          { path: 'ok.txt', is_dir: false, file_size: 5 }, { path: '../evil', is_dir: false }, { path: '/etc/passwd', is_dir: false }, { path: 'nul\u0000.txt', is_dir: false },
          { path: 'loop', is_dir: true }, { path: 'nest', is_dir: true }, { path: 'huge.bin', is_dir: false, file_size: 1e15 }, { path: 'page.bin', is_dir: false },
          { path: 'login.bin', is_dir: false }, { path: 'cut.bin', is_dir: false, file_size: 100 }, 7, { path: 'sub/../../up', is_dir: true },
        ],
        // the directory lists itself (by its full path, as MLflow names entries)
        'a/loop': [{ path: 'loop', is_dir: true }, { path: 'loop/inner.txt', is_dir: false, file_size: 2 }],
      },
      files: { 'a/ok.txt': 'hello', 'a/loop/inner.txt': 'hi', 'a/huge.bin': 'x', 'a/page.bin': 'unused' },
    };
    const hook = (r: Req): Reply | undefined => {
      const p = r.query.get('path') ?? '';
      // a source that answers every directory below nest with one more level
      if (r.path.endsWith('/artifacts/list') && p.startsWith('nest')) return { json: { files: [{ path: `${p}/nest`, is_dir: true }] } };
      if (r.path !== '/get-artifact') return undefined;
      if (p === 'page.bin') return { text: '<!doctype html><title>Sign in</title>', headers: { 'content-type': 'text/html; charset=utf-8' } };
      if (p === 'login.bin') return { status: 302, text: '', headers: { location: 'https://sso.example.com/login' } };
      if (p === 'cut.bin') return { handle: (res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '100' });
        res.write('0123456789', () => res.destroy());
      } };
      return undefined;
    };
    await withSource(world, hook, async (source) => {
      const team = await srv.newTeam('src-artifacts');
      const first = await imp(team, source.url, { artifacts: true });
      const nest = `nest${'/nest'.repeat(63)}`;
      expect(first.warnings.sort()).toEqual([
        'artifact cut.bin of run a: MLflow artifact cut.bin of run a: terminated (UND_ERR_SOCKET); skipped',
        'artifact huge.bin of run a: listed with 1000000000000000 bytes, 1 came; skipped',
        'artifact login.bin of run a: MLflow artifact login.bin of run a: HTTP 302 (redirected to https://sso.example.com/login); skipped',
        'artifact page.bin of run a: MLflow artifact page.bin of run a: the server answered an HTML page, not the file; skipped',
        'run a: artifacts in "loop": directory "loop" is listed again (a loop); not read',
        `run a: artifacts in ${JSON.stringify(nest.slice(0, 60))}…: directory ${JSON.stringify(`${nest}/nest`.slice(0, 60))}… nests past 64 levels; not read`,
        'run a: artifacts: "../evil" skipped (path must not contain "." or ".." segments)',
        'run a: artifacts: "/etc/passwd" skipped (path must be relative)',
        'run a: artifacts: "nul\\u0000.txt" skipped (path must not contain NUL or control characters)',
        'run a: artifacts: "sub/../../up" skipped (path must not contain "." or ".." segments)',
        'run a: artifacts: 7 is no artifact entry; skipped',
      ]);
      expect(first.counts.artifacts).toBe(2);
      const stored = await team.api.get('/projects/exp-1/experiments/a/artifacts');
      expect(stored.body.items.map((x: { path: string }) => x.path).sort()).toEqual(['loop/inner.txt', 'ok.txt']);
      const asked = source.calls.filter((c) => c.startsWith('GET /get-artifact') || c.includes('/artifacts/list'));
      expect(asked.filter((c) => /\.\.|%2F%2E|passwd|%00/i.test(decodeURIComponent(c.split(' ')[1]).replace(/[^\x20-\x7e]/g, '%00')))).toEqual([]);
      const second = await imp(team, source.url, { artifacts: true });
      expect([second.counts.artifacts, second.counts.artifactsExisting]).toEqual([0, 2]);
    });
  }, 60_000);

  it('a download that stalls in the middle of its body: a warning after --timeout of silence; the other artifacts import', async () => {
    const world: World = {
      experiments: [experiment('1')],
      runs: { 1: [run('s', [])] },
      lists: { 's/': [{ path: 'stall.bin', is_dir: false, file_size: 100 }, { path: 'ok.txt', is_dir: false, file_size: 2 }] },
      files: { 's/ok.txt': 'ok' },
    };
    const hook = (r: Req): Reply | undefined => (r.path === '/get-artifact' && r.query.get('path') === 'stall.bin'
      ? { handle: (res) => void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '100' }).write('0123456789') }
      : undefined);
    await withSource(world, hook, async (source) => {
      const team = await srv.newTeam('src-stall');
      const t0 = Date.now();
      const first = await imp(team, source.url, { artifacts: true, timeoutSeconds: 1 });
      expect(first.warnings).toEqual(['artifact stall.bin of run s: MLflow artifact stall.bin of run s: nothing came for 1 s (--timeout) in the middle of the body; skipped']);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect((await team.api.get('/projects/exp-1/experiments/s/artifacts')).body.items.map((x: { path: string }) => x.path)).toEqual(['ok.txt']);
    });
  }, 60_000);
});

describe('credentials', () => {
  const refusing = (status: number) => fakeMlflow({ experiments: [], runs: {} }, () => ({ status, json: { error_code: 'UNAUTHENTICATED' } }));

  it('401 without credentials, 403 with a token: a message naming the env vars', async () => {
    const team = await srv.newTeam('src-auth');
    const a = await refusing(401);
    const b = await refusing(403);
    try {
      await expect(imp(team, a.url)).rejects.toThrow(/^MLflow POST \/api\/2\.0\/mlflow\/experiments\/search: HTTP 401: the MLflow server wants credentials: set MLFLOW_TRACKING_TOKEN \(a token\) or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD$/);
      await expect(imp(team, b.url, { env: { MLFLOW_TRACKING_TOKEN: 't' } })).rejects.toThrow(/: HTTP 403: the MLflow server refuses the credentials in MLFLOW_TRACKING_TOKEN$/);
      await expect(imp(team, b.url, { env: { MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' } })).rejects.toThrow(/: HTTP 403: the MLflow server refuses the credentials in MLFLOW_TRACKING_USERNAME\/MLFLOW_TRACKING_PASSWORD$/);
      expect(a.calls.length).toBe(1); // not retried
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('`assay import mlflow` against a source that wants credentials exits 1 with one line, no stack trace', async () => {
    const team = await srv.newTeam('src-auth-cli');
    const a = await refusing(401);
    try {
      const env = { ...childEnv, MLFLOW_TRACKING_TOKEN: '', MLFLOW_TRACKING_USERNAME: '' };
      const child = spawn(process.execPath, [BIN, 'import', 'mlflow', a.url, '--url', url, '--api-key', team.apiKey], { env });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const [code] = (await once(child, 'exit')) as [number];
      expect([code, stderr.trim()]).toEqual([1, 'assay: MLflow POST /api/2.0/mlflow/experiments/search: HTTP 401: the MLflow server wants credentials: set MLFLOW_TRACKING_TOKEN (a token) or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD']);
    } finally {
      await a.close();
    }
  }, 60_000);
});
