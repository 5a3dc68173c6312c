import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { POINT_VECTORS } from '@assay/contracts/vectors';
import { LIMITS } from '../src/limits.ts';
import { decodeTimestamp, decodeValue, encodeTimestamp, encodeValue, normalizeStep, pointProblem, validateHost, validateMetricName } from '../src/values.ts';
import { refusedPoints } from '../src/delivery.ts';
import { defaultSpoolDir, defaultSpoolRoot, findForeignSpools, syncDirs } from '../src/spool-dirs.ts';
import { backoffDelay, classifyError, isRetryableStatus, parseRetryAfter, retryDelay } from '../src/backoff.ts';
import { globToRegExp } from '../src/artifacts.ts';
import { AssayApiError, AssayNetworkError } from '../src/errors.ts';
import { HttpClient, normalizeApiUrl } from '../src/http.ts';
import { redactUrl } from '../src/git.ts';
import { rangesOverlap, stepRanges } from '../src/batching.ts';

describe('value encoding', () => {
  it('passes finite numbers through and encodes NaN/±Infinity as the API strings', () => {
    expect(encodeValue(0.42)).toBe(0.42);
    expect(encodeValue(-0)).toBe(-0);
    expect(encodeValue(Number.MAX_VALUE)).toBe(Number.MAX_VALUE);
    expect(encodeValue(5e-324)).toBe(5e-324);
    expect(encodeValue(NaN)).toBe('NaN');
    expect(encodeValue(Infinity)).toBe('Infinity');
    expect(encodeValue(-Infinity)).toBe('-Infinity');
    expect(JSON.stringify({ v: encodeValue(NaN) })).toBe('{"v":"NaN"}');
  });
  it('accepts booleans, bigints and scalar-like objects', () => {
    expect(encodeValue(true)).toBe(1);
    expect(encodeValue(false)).toBe(0);
    expect(encodeValue(12n)).toBe(12);
    expect(encodeValue({ item: () => 0.5 })).toBe(0.5);
    expect(encodeValue({ item: () => NaN })).toBe('NaN');
    expect(encodeValue(new Number(3) as unknown as number)).toBe(3);
    expect(encodeValue({ valueOf: () => -Infinity })).toBe('-Infinity');
  });
  it('rejects non-numbers with a TypeError', () => {
    expect(() => encodeValue('1' as unknown as number)).toThrow(TypeError);
    expect(() => encodeValue(null as unknown as number)).toThrow(TypeError);
    expect(() => encodeValue(undefined as unknown as number)).toThrow(TypeError);
    expect(() => encodeValue({} as unknown as number)).toThrow(TypeError);
    expect(() => encodeValue({ item: () => 'x' })).toThrow(TypeError);
  });
  it('decodes wire values back', () => {
    expect(decodeValue(1.5)).toBe(1.5);
    expect(decodeValue('NaN')).toBeNaN();
    expect(decodeValue('Infinity')).toBe(Infinity);
    expect(decodeValue('-Infinity')).toBe(-Infinity);
  });
  it('validates steps', () => {
    expect(normalizeStep(0)).toBe(0);
    expect(normalizeStep(2 ** 53 - 1)).toBe(2 ** 53 - 1);
    expect(normalizeStep(7n)).toBe(7);
    for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53]) expect(() => normalizeStep(bad)).toThrow(RangeError);
  });
  it('validates metric names as the server does (1–250 code points, no NUL, no lone surrogates)', () => {
    expect(validateMetricName('loss/train')).toBe('loss/train');
    expect(validateMetricName('🔥'.repeat(250))).toBe('🔥'.repeat(250)); // 500 UTF-16 units, 250 code points
    expect(() => validateMetricName('🔥'.repeat(251))).toThrow(RangeError); // 502 UTF-16 units, 251 code points
    expect(() => validateMetricName('🔥'.repeat(130))).not.toThrow(); // the lost run's name: 130 code points, 260 UTF-16 units
    expect(() => validateMetricName('')).toThrow(RangeError);
    expect(() => validateMetricName('x'.repeat(251))).toThrow(RangeError);
    expect(() => validateMetricName('loss\u0000')).toThrow(RangeError);
    expect(() => validateMetricName('loss\ud800')).toThrow(RangeError);
    expect(() => validateMetricName(3 as unknown as string)).toThrow(TypeError);
    expect(() => validateHost('h'.repeat(256))).toThrow(RangeError);
    expect(validateHost('')).toBe('');
  });
  it('agrees with every contract vector (packages/contracts/src/vectors.ts)', () => {
    const base = { metric_name: 'loss', metric_value: 0.5, step: 0, timestamp: 0, host: 'h' };
    const disagree = POINT_VECTORS.filter((v) => (pointProblem({ ...base, [v.field]: v.value }) === undefined) !== v.accept);
    expect(disagree.map((v) => `${v.field}: ${v.why}`)).toEqual([]);
    // and the checks at the call refuse the same names, steps, timestamps and hosts
    for (const v of POINT_VECTORS) {
      const call = {
        metric_name: () => validateMetricName(v.value),
        host: () => validateHost(v.value),
        step: () => (typeof v.value === 'number' ? normalizeStep(v.value) : (() => { throw new TypeError(); })()),
        timestamp: () => encodeTimestamp(v.value as number | string),
        metric_value: null,
      }[v.field];
      if (!call) continue;
      if (v.accept) expect(call, `${v.field}: ${v.why}`).not.toThrow();
      else expect(call, `${v.field}: ${v.why}`).toThrow();
    }
  });
  it('encodes and decodes timestamps (epoch ms on the wire, checked against what storage holds)', () => {
    expect(encodeTimestamp(new Date(1700000000123))).toBe(1700000000123);
    expect(encodeTimestamp(1700000000123.4)).toBe(1700000000123);
    expect(encodeTimestamp('2024-01-02T03:04:05Z')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
    expect(encodeTimestamp(LIMITS.timestampMaxMs)).toBe(LIMITS.timestampMaxMs);
    expect(encodeTimestamp(new Date(LIMITS.timestampMaxMs).toISOString())).toBe(LIMITS.timestampMaxMs);
    expect(() => encodeTimestamp(LIMITS.timestampMaxMs + 1)).toThrow(RangeError);
    expect(() => encodeTimestamp(-1)).toThrow(RangeError);
    expect(() => encodeTimestamp('2024-01-02')).toThrow(RangeError); // no time, no zone: the server would refuse it
    expect(() => encodeTimestamp('yesterday')).toThrow(RangeError);
    expect(() => encodeTimestamp(new Date(NaN))).toThrow(RangeError);
    expect(decodeTimestamp('2024-01-02 03:04:05.678').toISOString()).toBe('2024-01-02T03:04:05.678Z');
    expect(decodeTimestamp('2024-01-02T03:04:05.678Z').getTime()).toBe(Date.UTC(2024, 0, 2, 3, 4, 5, 678));
    expect(decodeTimestamp(5).getTime()).toBe(5);
  });
});

describe('backoff', () => {
  it('grows exponentially with equal jitter and is capped', () => {
    const lo = () => 0;
    const hi = () => 1;
    expect(backoffDelay(0, { baseMs: 100 }, lo)).toBe(50);
    expect(backoffDelay(0, { baseMs: 100 }, hi)).toBe(100);
    expect(backoffDelay(3, { baseMs: 100 }, hi)).toBe(800);
    expect(backoffDelay(30, { baseMs: 100, maxMs: 5000 }, hi)).toBe(5000);
    expect(backoffDelay(30, { baseMs: 100, maxMs: 5000 }, lo)).toBe(2500);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(2, { baseMs: 100 });
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(400);
    }
  });
  it('parses Retry-After seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
  });
  it('retries network errors, 408, 429 and 5xx only', () => {
    for (const s of [408, 429, 500, 502, 503, 504]) expect(isRetryableStatus(s)).toBe(true);
    for (const s of [400, 401, 403, 404, 409, 413, 422]) expect(isRetryableStatus(s)).toBe(false);
    const api = (status: number, retryAfterMs?: number) => new AssayApiError({ status, detail: 'x', method: 'POST', path: '/p', retryAfterMs });
    expect(classifyError(new AssayNetworkError({ method: 'GET', path: '/', cause: new Error('ECONNREFUSED') }))).toBe('retry');
    expect(classifyError(api(503))).toBe('retry');
    expect(classifyError(api(422))).toBe('fatal');
    expect(classifyError(new Error('bug'))).toBe('fatal');
    // Retry-After wins over the exponential schedule (plus ≤10% jitter)
    expect(retryDelay(api(429, 2000), 0, {}, () => 0)).toBe(2000);
    expect(retryDelay(api(429, 2000), 0, {}, () => 1)).toBe(2200);
    expect(retryDelay(api(429, 3_600_000), 0, { maxRetryAfterMs: 60_000 }, () => 0)).toBe(60_000);
    expect(retryDelay(api(500), 0, { baseMs: 100 }, () => 1)).toBe(100);
  });
});

describe('glob', () => {
  const m = (p: string, s: string) => globToRegExp(p).test(s);
  it('matches like a shell glob', () => {
    expect(m('*.pt', 'model.pt')).toBe(true);
    expect(m('*.pt', 'sub/model.pt')).toBe(false);
    expect(m('*.pt', 'model.pth')).toBe(false);
    expect(m('**/*.pt', 'model.pt')).toBe(true);
    expect(m('**/*.pt', 'a/b/model.pt')).toBe(true);
    expect(m('ckpt-?.{pt,bin}', 'ckpt-1.bin')).toBe(true);
    expect(m('ckpt-[0-9].pt', 'ckpt-7.pt')).toBe(true);
    expect(m('ckpt-[!0-9].pt', 'ckpt-7.pt')).toBe(false);
    expect(m('a+b(1).pt', 'a+b(1).pt')).toBe(true);
    expect(m('*', '.hidden')).toBe(true);
  });
});

describe('http client', () => {
  it('normalises URLs and builds queries with repeated keys', () => {
    expect(normalizeApiUrl('http://h:8000/')).toBe('http://h:8000');
    expect(normalizeApiUrl('http://h:8000/api/v1/')).toBe('http://h:8000');
    const c = new HttpClient({ apiUrl: 'http://h:1', fetch: (async () => new Response()) as typeof fetch });
    expect(c.url('/metrics/compare', { project_id: 'p', experiment_ids: ['a', 'b'], x: undefined })).toBe(
      'http://h:1/api/v1/metrics/compare?project_id=p&experiment_ids=a&experiment_ids=b',
    );
  });
  it('turns FastAPI errors into AssayApiError with detail and Retry-After', async () => {
    const fetchImpl = (async () =>
      new Response(JSON.stringify({ detail: [{ loc: ['body', 'metrics', 0, 'step'], msg: 'bad step', type: 'x' }] }), {
        status: 422,
        headers: { 'retry-after': '2' },
      })) as typeof fetch;
    const c = new HttpClient({ apiUrl: 'http://h:1', apiKey: 'k', fetch: fetchImpl });
    const err = (await c.request("GET", "/x").catch((e: unknown) => e)) as AssayApiError;
    expect(err).toBeInstanceOf(AssayApiError);
    expect(err.status).toBe(422);
    expect(err.retryAfterMs).toBe(2000);
    expect(err.message).toContain('body.metrics.0.step: bad step');
  });
  it('turns connection failures into AssayNetworkError', async () => {
    const c = new HttpClient({ apiUrl: 'http://127.0.0.1:1' });
    await expect(c.request('GET', '/me')).rejects.toBeInstanceOf(AssayNetworkError);
  });
  it('requestWithRetry retries 503 then succeeds, and does not retry 404', async () => {
    let calls = 0;
    const f = (async () => {
      calls++;
      return calls < 3 ? new Response('{"detail":"busy"}', { status: 503, headers: { 'retry-after': '0' } }) : new Response('{"ok":1}');
    }) as typeof fetch;
    const c = new HttpClient({ apiUrl: 'http://h:1', fetch: f });
    expect(await c.requestWithRetry('GET', '/x')).toEqual({ ok: 1 });
    expect(calls).toBe(3);
    calls = 0;
    const g = (async () => {
      calls++;
      return new Response('{"detail":"nope"}', { status: 404 });
    }) as typeof fetch;
    await expect(new HttpClient({ apiUrl: 'http://h:1', fetch: g }).requestWithRetry('GET', '/x')).rejects.toBeInstanceOf(AssayApiError);
    expect(calls).toBe(1);
  });
});

describe('git', () => {
  it('strips credentials from remote URLs', () => {
    expect(redactUrl('https://user:tok@github.com/o/r.git')).toBe('https://github.com/o/r.git');
    expect(redactUrl('git@github.com:o/r.git')).toBe('git@github.com:o/r.git');
  });
});

describe('step ranges (pipelining guard)', () => {
  const pt = (metric_name: string, step: number, host?: string) => ({ metric_name, metric_value: 0, step, ...(host ? { host } : {}) });
  it('detects batches that may write the same (metric, step, host)', () => {
    const a = stepRanges([pt('loss', 0), pt('loss', 9), pt('acc', 3)]);
    expect(a.get('loss')).toEqual([0, 9]);
    expect(rangesOverlap(a, stepRanges([pt('loss', 10), pt('acc', 4)]))).toBe(false);
    expect(rangesOverlap(a, stepRanges([pt('loss', 5)]))).toBe(true);
    expect(rangesOverlap(a, stepRanges([pt('acc', 3)]))).toBe(true);
    expect(rangesOverlap(a, stepRanges([pt('other', 3)]))).toBe(false);
    expect(rangesOverlap(a, stepRanges([pt('loss', 5, 'rank1')]))).toBe(false);
  });
});

describe('422 handling', () => {
  it('maps each issue loc to the point it names; anything else refuses the whole batch', () => {
    const d = (loc: unknown[], msg = 'bad') => ({ loc, msg, type: 'x' });
    expect(refusedPoints([d(['body', 'metrics', 3, 'metric_name'], 'too long'), d(['body', 'metrics', 0, 'step'])], 5)).toEqual(
      new Map([
        [3, 'metric_name: too long'],
        [0, 'step: bad'],
      ]),
    );
    expect(refusedPoints([d(['body', 'metrics', 3, 'metric_name']), d(['body'])], 5)).toBeNull();
    expect(refusedPoints([d(['body', 'batch_id'])], 5)).toBeNull();
    expect(refusedPoints([d(['body', 'metrics', 9])], 5)).toBeNull(); // not a point of this batch
    expect(refusedPoints('Request body too large', 5)).toBeNull();
  });
});

describe('spool directories', () => {
  const saved = process.env.ASSAY_SPOOL_DIR;
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-dirs-'));
    process.env.ASSAY_SPOOL_DIR = root;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.ASSAY_SPOOL_DIR;
    else process.env.ASSAY_SPOOL_DIR = saved;
    fs.rmSync(root, { recursive: true, force: true });
  });
  it('defaults to $ASSAY_SPOOL_DIR/node and also syncs legacy segments in the root', () => {
    expect(defaultSpoolRoot()).toBe(root);
    expect(defaultSpoolDir()).toBe(path.join(root, 'node'));
    expect(syncDirs(undefined)).toEqual([path.join(root, 'node'), root]);
    expect(syncDirs(path.join(root, 'node'))).toEqual([path.join(root, 'node'), root]);
    expect(syncDirs(path.join(root, 'elsewhere'))).toEqual([path.join(root, 'elsewhere')]);
  });
  it('finds the Python SDK spool (meta.json + seg-*.jsonl) in the dir, its python sibling and the legacy root', () => {
    const run = (dir: string, segs: number) => {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'meta.json'), '{}');
      for (let i = 0; i < segs; i++) fs.writeFileSync(path.join(dir, `seg-${String(1e15 + i)}.jsonl`), '{}\n');
    };
    expect(findForeignSpools(path.join(root, 'node'))).toEqual([]);
    run(path.join(root, 'python', 'proj-a-1'), 2);
    run(path.join(root, 'python', 'proj-b-2'), 1);
    run(path.join(root, 'old-run'), 1); // an older Python version spooled into the root
    const found = findForeignSpools(path.join(root, 'node'));
    expect(found.map((f) => [f.dir, f.runs, f.segments])).toEqual([
      [path.join(root, 'python'), 2, 3],
      [root, 1, 1],
    ]);
    expect(found[0].command).toBe(`ASSAY_API_KEY=<key> python -m research_sdk sync ${path.join(root, 'python')}`);
    // a run directory given directly
    expect(findForeignSpools(path.join(root, 'python', 'proj-a-1'))).toMatchObject([{ runs: 1, segments: 2 }]);
  });
});

describe('browser safety', () => {
  it('the read client (@assay/sdk/client) imports no Node built-ins', () => {
    const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');
    const seen = new Set<string>();
    const visit = (f: string) => {
      if (seen.has(f)) return;
      seen.add(f);
      const text = fs.readFileSync(path.join(src, f), 'utf8');
      for (const m of text.matchAll(/(?:import|export)[^'";]*from\s+'([^']+)'/g)) {
        const spec = m[1];
        if (/^import type|^export type/.test(m[0])) continue; // erased at build time
        if (spec === '@assay/contracts/limits') continue; // dependency-free, bundled
        expect(spec.startsWith('node:') || !spec.startsWith('.'), `${f} imports ${spec}`).toBe(false);
        visit(path.normalize(spec));
      }
    };
    visit('client.ts');
    expect([...seen].sort()).toEqual(['backoff.ts', 'client.ts', 'errors.ts', 'http.ts', 'limits.ts', 'values.ts']);
  });
});
