import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentDisposition, parseRange } from '../src/routes/artifacts.ts';
import { apiClient, seedRun, startTestServer, type ApiClient, type TestServer, type TestTeam } from './helpers.ts';

let srv: TestServer;
let team: TestTeam;
let other: TestTeam;
let viewer: ApiClient;
let baseUrl: string;

beforeAll(async () => {
  srv = await startTestServer();
  team = await srv.newTeam('art');
  other = await srv.newTeam('art-other');
  const key = await team.api.post('/api-keys', { name: 'read-only', role: 'viewer' });
  expect(key.status).toBe(201);
  viewer = apiClient(srv.app, key.body.api_key);
  await srv.app.listen({ port: 0, host: '127.0.0.1' });
  baseUrl = `http://127.0.0.1:${(srv.app.server.address() as { port: number }).port}`;
});
afterAll(() => srv?.close());

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const artUrl = (r: { projectId: string; experimentId: string }, rel?: string) =>
  `/projects/${r.projectId}/experiments/${r.experimentId}/artifacts${rel === undefined ? '' : `?path=${encodeURIComponent(rel)}`}`;

async function upload(api: ApiClient, run: { projectId: string; experimentId: string }, rel: string, body: Buffer, headers: Record<string, string> = {}) {
  return api.call('PUT', artUrl(run, rel), body, { 'content-type': 'application/octet-stream', ...headers });
}

async function download(api: string, url: string, headers: Record<string, string> = {}) {
  const r = await srv.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: { authorization: `Bearer ${api}`, ...headers } });
  return { status: r.statusCode, headers: r.headers, bytes: r.rawPayload };
}

const teamDir = (teamId: string) => path.join(srv.config.artifactDir, teamId);
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name));
}
const blobsOf = (teamId: string) => filesUnder(path.join(teamDir(teamId), 'sha256'));
const tempsOf = (teamId: string) => filesUnder(path.join(teamDir(teamId), 'tmp'));

describe('artifact paths', () => {
  it('rejects traversal, absolute, empty-segment, backslash, NUL and over-long paths with 422 on query.path — nothing stored', async () => {
    const run = await seedRun(team.api, 'paths', 'r');
    const bad = [
      '../escape.pt',
      'a/../../b.pt',
      '..',
      'ckpt/..',
      './model.pt',
      'a/./b',
      '/etc/passwd',
      '//server/share',
      'a//b.pt',
      'dir/',
      '',
      'a\\b.pt',
      '..\\..\\win.ini',
      'a\u0000b.pt',
      'line\nbreak',
      'C:/Windows/x.pt',
      'x'.repeat(1025),
    ];
    for (const p of bad) {
      const r = await upload(team.api, run, p, Buffer.from('evil'));
      expect(r.status, JSON.stringify(p)).toBe(422);
      expect(r.body.detail[0].loc, JSON.stringify(p)).toEqual(['query', 'path']);
    }
    // A missing ?path is a 422 on the same field.
    const none = await team.api.call('PUT', artUrl(run), Buffer.from('x'), { 'content-type': 'application/octet-stream' });
    expect(none.status).toBe(422);
    expect(none.body.detail[0].loc).toEqual(['query', 'path']);
    expect((await team.api.get(artUrl(run))).body.items).toEqual([]);
  });

  it('accepts ordinary relative paths, including dots inside names, spaces, Unicode and 1024 characters', async () => {
    const run = await seedRun(team.api, 'paths', 'ok');
    const good = ['model.pt', 'checkpoints/epoch_3/model.pt', 'a..b/c...pt', '.hidden/.config', 'runs/Modèle final 模型.pt', 'y'.repeat(1024)];
    for (const p of good) expect((await upload(team.api, run, p, Buffer.from(p))).status, p).toBe(201);
    const items = (await team.api.get(artUrl(run))).body.items;
    expect(items.map((i: any) => i.path).sort()).toEqual([...good].sort());
  });

  it('builds a safe Content-Disposition and parses byte ranges', () => {
    expect(contentDisposition('a/b/model.pt')).toBe(`attachment; filename="model.pt"; filename*=UTF-8''model.pt`);
    const d = contentDisposition('x/we"ird; name=\'é\'.pt');
    expect(d).toBe(`attachment; filename="we_ird_ name____.pt"; filename*=UTF-8''we%22ird%3B%20name%3D%27%C3%A9%27.pt`);
    expect(d).not.toMatch(/[\r\n]/);
    expect(parseRange('bytes=0-9', 100, undefined, 'e')).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100, undefined, 'e')).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100, undefined, 'e')).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=50-500', 100, undefined, 'e')).toEqual({ start: 50, end: 99 });
    expect(parseRange('bytes=100-', 100, undefined, 'e')).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 100, undefined, 'e')).toBeUndefined(); // multi-range: whole body
    expect(parseRange('bytes=0-9', 100, '"other"', '"e"')).toBeUndefined(); // If-Range mismatch: whole body
  });
});

describe('artifact upload and download', () => {
  it('round-trips bytes with sha256, size, content type and a safe attachment header', async () => {
    const run = await seedRun(team.api, 'rt', 'r');
    const bytes = randomBytes(300_000);
    const up = await upload(team.api, run, 'ckpt/model.pt', bytes, { 'x-content-sha256': sha(bytes).toUpperCase() });
    expect(up.status).toBe(201);
    expect(up.body).toEqual({
      id: expect.any(String),
      experiment_id: run.experimentId,
      path: 'ckpt/model.pt',
      size: bytes.length,
      sha256: sha(bytes),
      content_type: 'application/octet-stream',
      created_at: expect.any(String),
    });
    const list = await team.api.get(artUrl(run));
    expect(list.body).toEqual({ items: [up.body] });

    const dl = await download(team.apiKey, `${artUrl(run)}/${up.body.id}`);
    expect(dl.status).toBe(200);
    expect(sha(dl.bytes)).toBe(sha(bytes));
    expect(dl.headers['content-length']).toBe(String(bytes.length));
    expect(dl.headers['content-disposition']).toBe(`attachment; filename="model.pt"; filename*=UTF-8''model.pt`);
    expect(dl.headers['x-content-sha256']).toBe(sha(bytes));
    expect(dl.headers['x-content-type-options']).toBe('nosniff');
    expect(dl.headers.etag).toBe(`"${sha(bytes)}"`);

    const part = await download(team.apiKey, `${artUrl(run)}/${up.body.id}`, { range: 'bytes=1000-1999' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 1000-1999/${bytes.length}`);
    expect(part.bytes.equals(bytes.subarray(1000, 2000))).toBe(true);
    expect((await download(team.apiKey, `${artUrl(run)}/${up.body.id}`, { range: `bytes=${bytes.length}-` })).status).toBe(416);
    expect((await download(team.apiKey, `${artUrl(run)}/${up.body.id}`, { 'if-none-match': `"${sha(bytes)}"` })).status).toBe(304);

    // The bytes live content-addressed under the team's directory.
    expect(fs.existsSync(path.join(teamDir(team.teamId), 'sha256', sha(bytes).slice(0, 2), sha(bytes)))).toBe(true);
    expect(tempsOf(team.teamId)).toEqual([]);
  });

  it('keeps the media type the client sent (served with nosniff), accepts a body with no Content-Type, and empty files', async () => {
    const run = await seedRun(team.api, 'rt', 'types');
    const png = await upload(team.api, run, 'plots/loss.png', Buffer.from('\x89PNG fake'), { 'content-type': 'image/png' });
    expect(png.body.content_type).toBe('image/png');
    const html = await upload(team.api, run, 'report.html', Buffer.from('<script>alert(1)</script>'), { 'content-type': 'text/html; charset=utf-8' });
    const dl = await download(team.apiKey, `${artUrl(run)}/${html.body.id}`);
    expect(dl.headers['content-type']).toMatch(/^text\/html/);
    expect(dl.headers['content-disposition']).toMatch(/^attachment;/);
    expect(dl.headers['content-security-policy']).toContain('sandbox');
    const json = await team.api.call('PUT', artUrl(run, 'metrics.json'), '{"a": 1}', { 'content-type': 'application/json' });
    expect(json.status).toBe(201);
    expect(json.body.size).toBe(8); // stored raw, not parsed
    const raw = await srv.app.inject({ method: 'PUT', url: `/api/v1${artUrl(run, 'noctype.bin')}`, payload: Buffer.from('abc'), headers: { authorization: `Bearer ${team.apiKey}` } });
    expect(raw.statusCode).toBe(201);
    const empty = await team.api.call('PUT', artUrl(run, 'empty.txt'));
    expect(empty.status).toBe(201);
    expect(empty.body).toMatchObject({ size: 0, sha256: sha('') });
    const e = await download(team.apiKey, `${artUrl(run)}/${empty.body.id}`);
    expect(e.status).toBe(200);
    expect(e.bytes.length).toBe(0);
  });

  it('an identical re-upload is a no-op (200, same row); new content at the path replaces it (201, new id); identical files share one blob', async () => {
    const run = await seedRun(team.api, 'dedup', 'r');
    const v1 = randomBytes(10_000);
    const first = await upload(team.api, run, 'model.pt', v1, { 'x-content-sha256': sha(v1) });
    expect(first.status).toBe(201);
    const blobsAfterFirst = blobsOf(team.teamId).length;

    const again = await upload(team.api, run, 'model.pt', v1, { 'x-content-sha256': sha(v1) }); // short-circuit path
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const againNoHash = await upload(team.api, run, 'model.pt', v1); // hashed on the server, same outcome
    expect(againNoHash.status).toBe(200);
    expect(againNoHash.body).toEqual(first.body);
    expect(blobsOf(team.teamId).length).toBe(blobsAfterFirst);

    const copy = await upload(team.api, run, 'copies/model-copy.pt', v1);
    expect(copy.status).toBe(201);
    expect(copy.body.id).not.toBe(first.body.id);
    expect(blobsOf(team.teamId).length).toBe(blobsAfterFirst); // same content → same blob

    const v2 = randomBytes(12_000);
    const replaced = await upload(team.api, run, 'model.pt', v2, { 'x-content-sha256': sha(v2) });
    expect(replaced.status).toBe(201);
    expect(replaced.body.id).not.toBe(first.body.id);
    expect(replaced.body).toMatchObject({ path: 'model.pt', sha256: sha(v2), size: v2.length });
    const items = (await team.api.get(artUrl(run))).body.items;
    expect(items.map((i: any) => [i.path, i.sha256])).toEqual([
      ['copies/model-copy.pt', sha(v1)],
      ['model.pt', sha(v2)],
    ]);
    expect((await download(team.apiKey, `${artUrl(run)}/${first.body.id}`)).status).toBe(404); // old version's id is gone
    expect(sha((await download(team.apiKey, `${artUrl(run)}/${replaced.body.id}`)).bytes)).toBe(sha(v2));

    // Concurrent identical uploads of a new path agree on one row.
    const v3 = randomBytes(5_000);
    const rs = await Promise.all([0, 1, 2, 3].map(() => upload(team.api, run, 'race.pt', v3)));
    expect(new Set(rs.map((r) => r.body.id)).size).toBe(1);
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 200, 201]);
  });

  it('a wrong X-Content-SHA256 is 422 and stores nothing; a malformed one is 422 on the header', async () => {
    const run = await seedRun(team.api, 'hash', 'r');
    const body = randomBytes(4096);
    const before = blobsOf(team.teamId).length;
    const wrong = await upload(team.api, run, 'x.pt', body, { 'x-content-sha256': sha('something else') });
    expect(wrong.status).toBe(422);
    expect(wrong.body.detail[0]).toMatchObject({ loc: ['header', 'x-content-sha256'], type: 'checksum_mismatch' });
    expect(blobsOf(team.teamId).length).toBe(before);
    expect(tempsOf(team.teamId)).toEqual([]);
    expect((await team.api.get(artUrl(run))).body.items).toEqual([]);
    const malformed = await upload(team.api, run, 'x.pt', body, { 'x-content-sha256': 'abc' });
    expect(malformed.status).toBe(422);
    expect(malformed.body.detail[0].loc).toEqual(['header', 'x-content-sha256']);
  });

  it('over ASSAY_ARTIFACT_MAX_BYTES: 413 from Content-Length up front and mid-stream for chunked bodies; no temp files left', async () => {
    const run = await seedRun(team.api, 'limit', 'r');
    const saved = srv.ctx.config.ASSAY_ARTIFACT_MAX_BYTES;
    srv.ctx.config.ASSAY_ARTIFACT_MAX_BYTES = 64 * 1024;
    try {
      const atLimit = await upload(team.api, run, 'fits.bin', randomBytes(64 * 1024));
      expect(atLimit.status).toBe(201);
      const r = await upload(team.api, run, 'big.bin', randomBytes(64 * 1024 + 1));
      expect(r.status).toBe(413);
      expect(r.body.detail).toMatch(/too large/);

      // Chunked (no Content-Length) over a real socket: the limit trips while streaming.
      const res = await rawPut(`${baseUrl}/api/v1${artUrl(run, 'chunked.bin')}`, team.apiKey, chunks(16 * 1024, 20));
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body).detail).toMatch(/too large/);
      expect(tempsOf(team.teamId)).toEqual([]);
      expect((await team.api.get(artUrl(run))).body.items.map((i: any) => i.path)).toEqual(['fits.bin']);
    } finally {
      srv.ctx.config.ASSAY_ARTIFACT_MAX_BYTES = saved;
    }
  });
  it('a client that disconnects mid-upload leaves no temp file and no row', async () => {
    const run = await seedRun(team.api, 'abort', 'r');
    for (const headers of [{ 'content-length': String(100_000_000) }, {}]) {
      const req = http.request(`${baseUrl}/api/v1${artUrl(run, 'partial.bin')}`, {
        method: 'PUT',
        agent: false,
        headers: { authorization: `Bearer ${team.apiKey}`, 'content-type': 'application/octet-stream', ...headers },
      });
      req.on('error', () => undefined);
      for (const c of chunks(1 << 20, 8)) if (!req.write(c)) await once(req, 'drain');
      const deadline = Date.now() + 5000;
      while (tempsOf(team.teamId).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(tempsOf(team.teamId)).toHaveLength(1); // streaming to disk
      req.destroy();
      while (tempsOf(team.teamId).length > 0 && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 20));
      expect(tempsOf(team.teamId)).toEqual([]);
    }
    expect((await team.api.get(artUrl(run))).body.items).toEqual([]);
  });
});

describe('artifact access', () => {
  it("another team gets 404 on list, upload and download of this team's artifacts", async () => {
    const run = await seedRun(team.api, 'private', 'r');
    const up = await upload(team.api, run, 'secret.pt', Buffer.from('secret weights'));
    expect(up.status).toBe(201);
    expect((await other.api.get(artUrl(run))).status).toBe(404);
    expect((await upload(other.api, run, 'evil.pt', Buffer.from('x'))).status).toBe(404);
    expect((await download(other.apiKey, `${artUrl(run)}/${up.body.id}`)).status).toBe(404);
    // Even with the artifact id inside its own experiment, team B can't reach A's artifact.
    const mine = await seedRun(other.api, 'private', 'r');
    expect((await download(other.apiKey, `${artUrl(mine)}/${up.body.id}`)).status).toBe(404);
    // Identical bytes in team B get B's own blob: blobs are never shared across teams.
    expect((await upload(other.api, mine, 'secret.pt', Buffer.from('secret weights'))).status).toBe(201);
    expect(blobsOf(other.teamId).map((f) => path.basename(f))).toContain(sha('secret weights'));
    expect((await team.api.get(artUrl(run))).body.items.map((i: any) => i.path)).toEqual(['secret.pt']);
    expect((await download(team.apiKey, `${artUrl(run)}/not-a-uuid`)).status).toBe(404);
  });

  it('a viewer can list and download but not upload (403)', async () => {
    const run = await seedRun(team.api, 'roles', 'r');
    const up = await upload(team.api, run, 'a.pt', Buffer.from('aaa'));
    const v = await upload(viewer, run, 'b.pt', Buffer.from('bbb'));
    expect(v.status).toBe(403);
    expect((await viewer.get(artUrl(run))).body.items.map((i: any) => i.path)).toEqual(['a.pt']);
    const dl = await viewer.call('GET', `${artUrl(run)}/${up.body.id}`);
    expect(dl.status).toBe(200);
    expect(dl.body).toBe('aaa');
  });
});

describe('large uploads', () => {
  it('streams a 200 MB upload over a real socket with bounded memory, then downloads it with a matching sha256', async () => {
    const run = await seedRun(team.api, 'big', 'r');
    const chunkSize = 1 << 20;
    const count = 200;
    const url = `${baseUrl}/api/v1${artUrl(run, 'checkpoints/big.pt')}`;
    // Warm up the code paths (and their allocations) before taking the baseline.
    await rawPut(`${baseUrl}/api/v1${artUrl(run, 'warmup.pt')}`, team.apiKey, chunks(chunkSize, 4));

    const expected = createHash('sha256');
    for (const c of chunks(chunkSize, count)) expected.update(c);
    const expectedSha = expected.digest('hex');

    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    const t0 = performance.now();
    let res;
    try {
      res = await rawPut(url, team.apiKey, chunks(chunkSize, count), { 'content-length': String(chunkSize * count), 'x-content-sha256': expectedSha });
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - t0) / 1000;
    const growthMb = (peak - baseline) / 1e6;
    const mbps = (chunkSize * count) / 1e6 / seconds;
    console.log(`artifact upload: ${(chunkSize * count) / 1e6} MB in ${seconds.toFixed(2)} s = ${mbps.toFixed(0)} MB/s; RSS growth ${growthMb.toFixed(1)} MB (baseline ${(baseline / 1e6).toFixed(0)} MB)`);
    expect(res.status, res.body).toBe(201);
    const body = JSON.parse(res.body);
    expect(body).toMatchObject({ size: chunkSize * count, sha256: expectedSha });
    expect(growthMb).toBeLessThan(100);

    // Download over the socket, hashing as it streams.
    const t1 = performance.now();
    const dl = await rawGet(`${baseUrl}/api/v1${artUrl(run)}/${body.id}`, team.apiKey);
    const dlSeconds = (performance.now() - t1) / 1000;
    console.log(`artifact download: ${(dl.size / 1e6).toFixed(0)} MB in ${dlSeconds.toFixed(2)} s = ${(dl.size / 1e6 / dlSeconds).toFixed(0)} MB/s`);
    expect(dl.status).toBe(200);
    expect(dl.headers['content-length']).toBe(String(chunkSize * count));
    expect(dl.size).toBe(chunkSize * count);
    expect(dl.sha256).toBe(expectedSha);
  });
});

/** `count` deterministic chunks of `size` bytes (generated lazily: the client never holds the file). */
function* chunks(size: number, count: number): Generator<Buffer> {
  const block = Buffer.alloc(size);
  for (let i = 0; i < count; i++) {
    block.fill(i % 251);
    block.writeUInt32BE(i, 0);
    yield block;
  }
}

/** PUT over a real connection, writing chunks with back-pressure; no Content-Length → chunked. */
async function rawPut(url: string, apiKey: string, body: Iterable<Buffer>, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const req = http.request(url, {
    method: 'PUT',
    agent: false,
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/octet-stream', ...headers },
  });
  const response = once(req, 'response') as Promise<[http.IncomingMessage]>;
  const failed = once(req, 'error').then(([e]) => {
    throw e;
  });
  failed.catch(() => undefined);
  let early: http.IncomingMessage | undefined;
  void response.then(([r]) => (early = r));
  for (const chunk of body) {
    if (early) break; // the server answered before reading everything (e.g. 413)
    if (!req.write(chunk)) await Promise.race([once(req, 'drain'), response, failed]);
  }
  if (!early) req.end();
  const [res] = await Promise.race([response, failed]);
  let text = '';
  res.setEncoding('utf8');
  for await (const c of res) text += c;
  req.destroy();
  return { status: res.statusCode ?? 0, body: text };
}

async function rawGet(url: string, apiKey: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; size: number; sha256: string }> {
  const req = http.request(url, { agent: false, headers: { authorization: `Bearer ${apiKey}` } });
  req.end();
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  const h = createHash('sha256');
  let size = 0;
  for await (const c of res) {
    size += (c as Buffer).length;
    h.update(c as Buffer);
  }
  return { status: res.statusCode ?? 0, headers: res.headers, size, sha256: h.digest('hex') };
}
