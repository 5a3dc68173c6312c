import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ChildServer, childEnv, createTeam, freePort } from './child-server.ts';

/**
 * `assay backup` while a server serves and a client keeps logging, `assay restore` into a new data
 * dir, and a server on the restored dir answering exactly what the source answered — all through
 * real processes (chDB binds one data dir per process).
 */
// The commands cover the embedded stores only (the server-store refusal is tested below either way).
const serverStores = Boolean(process.env.CLICKHOUSE_URL || process.env.CLICKHOUSE_HOST);
// not made at all when the file is skipped: vitest runs no hook of a file whose tests all skip
const tmp = serverStores ? '' : fs.mkdtempSync(path.join(os.tmpdir(), 'assay-backup-'));
const srcDir = path.join(tmp, 'src');
const backupDir = path.join(tmp, 'backup');
const restoredDir = path.join(tmp, 'restored');
const children: ChildServer[] = [];
let src: ChildServer;
let key: string;

function assay(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: childEnv });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function api(s: ChildServer, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(`${s.url}/api/v1${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined && !Buffer.isBuffer(body) ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body),
  });
  const buf = Buffer.from(await r.arrayBuffer());
  let json: any;
  try {
    json = JSON.parse(buf.toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: r.status, body: json, bytes: buf };
}

async function start(dir: string): Promise<ChildServer> {
  const s = new ChildServer(dir, await freePort());
  children.push(s);
  return s.ready();
}

async function stop(s: ChildServer): Promise<void> {
  s.proc.kill('SIGTERM');
  await s.exited;
}

const ARTIFACT = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 251));
const BATCH = 500;

describe.skipIf(serverStores)('assay backup / restore (embedded stores)', () => {
  beforeAll(async () => {
    src = await start(srcDir);
    key = await createTeam(src, 'backup-lab');
  }, 180_000);

  afterAll(async () => {
    for (const c of children) c.proc.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a backup taken while a writer logs restores to the same answers, write log and points agreeing exactly', async () => {
    const p = (await api(src, 'POST', '/projects', { name: 'vision', retention_days: 400 })).body;
    const fixed = (await api(src, 'POST', `/projects/${p.id}/experiments`, { name: 'fixed', params: { lr: 0.1 } })).body;
    const live = (await api(src, 'POST', `/projects/${p.id}/experiments`, { name: 'live' })).body;
    const odd = [1.5, 'NaN', 'Infinity', '-Infinity', -0.25].map((v, step) => ({ metric_name: 'loss', metric_value: v, step }));
    expect((await api(src, 'POST', `/metrics/batch/${p.id}/${fixed.id}`, { batch_id: 'fixed-1', metrics: odd })).status).toBe(200);
    const up = await api(src, 'PUT', `/projects/${p.id}/experiments/${fixed.id}/artifacts?path=model.bin`, ARTIFACT, { 'content-type': 'application/octet-stream' });
    expect(up.status).toBe(201);

    // A client logging batch after batch (each acknowledged before the next) for the whole backup.
    let stopWriter = false;
    let acked = 0;
    const writer = (async () => {
      for (let i = 0; !stopWriter; i++) {
        const metrics = Array.from({ length: BATCH }, (_, j) => ({ metric_name: 'acc', metric_value: (i * BATCH + j) / 7, step: i * BATCH + j }));
        const r = await api(src, 'POST', `/metrics/batch/${p.id}/${live.id}`, { batch_id: `live-${i}`, metrics });
        if (r.status !== 200) throw new Error(`batch ${i}: ${r.status} ${JSON.stringify(r.body)}`);
        acked = i + 1;
      }
    })();
    while (acked < 5) await new Promise((r) => setTimeout(r, 20));
    const ackedBefore = acked;
    const b = await assay('backup', backupDir, '--data-dir', srcDir);
    const ackedAfter = acked;
    stopWriter = true;
    await writer;
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const summary = JSON.parse(b.stdout);
    const m = JSON.parse(fs.readFileSync(path.join(backupDir, 'manifest.json'), 'utf8'));
    expect(summary).toMatchObject({ dir: backupDir, files: m.files.length, committed_batches: m.write_log.committed_batches, artifacts: 1 });

    // The snapshot is one moment: batches form a prefix, every committed one has all its points, no point without its batch.
    const liveBatches = m.write_log.points_by_experiment[live.id] / BATCH;
    expect(Number.isInteger(liveBatches)).toBe(true);
    expect(liveBatches).toBeGreaterThanOrEqual(ackedBefore);
    expect(liveBatches).toBeLessThanOrEqual(ackedAfter);
    expect(m.write_log).toMatchObject({ committed_batches: liveBatches + 1, committed_points: liveBatches * BATCH + 5 });
    // The client's next batch may have been claimed (pending, no rows yet) when the snapshot was taken.
    expect(m.write_log.pending_batches).toBeLessThanOrEqual(1);
    expect(m.clickhouse.tables.metrics).toMatchObject({ rows: liveBatches * BATCH + 5 });
    expect(m.postgres.tables).toMatchObject({ projects: 1, experiments: 2, artifacts: 1, teams: 1, metric_batches: liveBatches + 1 + m.write_log.pending_batches });
    expect(m.artifacts).toEqual({ blobs: 1, bytes: ARTIFACT.length });
    expect(m.assay_version).toMatch(/^\d+\.\d+\.\d+/);

    const before = {
      experiments: (await api(src, 'GET', `/projects/${p.id}/experiments`)).body,
      project: (await api(src, 'GET', `/projects/${p.id}`)).body,
      fixedSeries: (await api(src, 'GET', `/metrics/timeseries/${p.id}/${fixed.id}/loss`)).body,
      fixedSummary: (await api(src, 'GET', `/metrics/summary/${p.id}/${fixed.id}`)).body,
      artifacts: (await api(src, 'GET', `/projects/${p.id}/experiments/${fixed.id}/artifacts`)).body,
    };
    expect(before.fixedSeries.points.map((x: any) => x.value)).toEqual([1.5, 'NaN', 'Infinity', '-Infinity', -0.25]);

    const r = await assay('restore', backupDir, '--data-dir', restoredDir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ data_dir: restoredDir, metric_rows: liveBatches * BATCH + 5 });
    const restored = await start(restoredDir);

    const after = {
      experiments: (await api(restored, 'GET', `/projects/${p.id}/experiments`)).body,
      project: (await api(restored, 'GET', `/projects/${p.id}`)).body,
      fixedSeries: (await api(restored, 'GET', `/metrics/timeseries/${p.id}/${fixed.id}/loss`)).body,
      fixedSummary: (await api(restored, 'GET', `/metrics/summary/${p.id}/${fixed.id}`)).body,
      artifacts: (await api(restored, 'GET', `/projects/${p.id}/experiments/${fixed.id}/artifacts`)).body,
    };
    // The live run's heartbeat/updated_at may have moved on at the source since the snapshot.
    const strip = (list: any) => list.items.map((e: any) => ({ id: e.id, name: e.name, params: e.params, status: e.status }));
    expect(strip(after.experiments)).toEqual(strip(before.experiments));
    expect(after.project).toEqual(before.project);
    expect(after.fixedSeries).toEqual(before.fixedSeries);
    expect(after.fixedSummary).toEqual(before.fixedSummary);
    expect(after.artifacts).toEqual(before.artifacts);
    const bytes = await api(restored, 'GET', `/projects/${p.id}/experiments/${fixed.id}/artifacts/${before.artifacts.items[0].id}`);
    expect(bytes.status).toBe(200);
    expect(bytes.bytes.equals(ARTIFACT)).toBe(true);

    // The live run holds exactly the committed batches' points: steps 0 … n-1, nothing more.
    const series = (await api(restored, 'GET', `/metrics/timeseries/${p.id}/${live.id}/acc?limit=100000`)).body;
    expect(series.points.length).toBe(liveBatches * BATCH);
    expect(series.points.every((x: any, i: number) => x.step === i)).toBe(true);
    const liveSummary = (await api(restored, 'GET', `/metrics/summary/${p.id}/${live.id}`)).body;
    expect(liveSummary.metrics.acc).toMatchObject({ count: liveBatches * BATCH, last_step: liveBatches * BATCH - 1 });
    // A retry of a batch committed before the snapshot is a duplicate on the restored server too; the
    // first one it lacks (pending in the dump, or not sent yet) is written, once.
    const retry = await api(restored, 'POST', `/metrics/batch/${p.id}/${live.id}`, { batch_id: 'live-0', metrics: [{ metric_name: 'acc', metric_value: 1, step: 0 }] });
    expect(retry.body).toMatchObject({ duplicate: true });
    const next = Array.from({ length: BATCH }, (_, j) => ({ metric_name: 'acc', metric_value: 0.5, step: liveBatches * BATCH + j }));
    for (const duplicate of [false, true]) {
      const r2 = await api(restored, 'POST', `/metrics/batch/${p.id}/${live.id}`, { batch_id: `live-${liveBatches}`, metrics: next });
      expect(r2.body).toMatchObject({ count: BATCH, duplicate });
    }
    expect((await api(restored, 'GET', `/metrics/summary/${p.id}/${live.id}`)).body.metrics.acc).toMatchObject({ count: (liveBatches + 1) * BATCH });
    // The API key signs in on the restored server; a wrong one does not.
    expect((await api(restored, 'GET', '/projects')).status).toBe(200);
    const wrong = await fetch(`${restored.url}/api/v1/projects`, { headers: { authorization: `Bearer ${key}x` } });
    expect(wrong.status).toBe(401);
    await stop(restored);
  }, 300_000);

  it('restore refuses a running server\'s data dir, a non-empty target, and a tampered backup', async () => {
    const held = await assay('restore', backupDir, '--data-dir', srcDir, '--force');
    expect(held.code).toBe(1);
    expect(held.stderr).toMatch(/another Assay server \(pid \d+.*\) already uses the data dir .*restore needs a stopped data dir/);

    expect(fs.readdirSync(restoredDir).length).toBeGreaterThan(0);
    const busy = await assay('restore', backupDir, '--data-dir', restoredDir);
    expect([busy.code, busy.stderr.trim()]).toEqual([1, `assay: the data dir ${restoredDir} is not empty; pass --force to replace it (its current contents are deleted)`]);

    const copy = path.join(tmp, 'tampered');
    fs.cpSync(backupDir, copy, { recursive: true });
    const mf = JSON.parse(fs.readFileSync(path.join(copy, 'manifest.json'), 'utf8'));
    const part = mf.files.find((f: any) => f.path.startsWith('clickhouse/metrics/') && f.path.endsWith('.bin'));
    const file = path.join(copy, part.path);
    const buf = fs.readFileSync(file);
    buf[buf.length - 1] ^= 1;
    fs.writeFileSync(file, buf);
    const target = path.join(tmp, 'never');
    const bad = await assay('restore', copy, '--data-dir', target);
    expect([bad.code, bad.stderr.trim()]).toEqual([1, `assay: ${part.path} does not match its checksum in the manifest (changed or damaged)`]);
    expect(fs.existsSync(target)).toBe(false);

    fs.writeFileSync(file, Buffer.from(buf.map((x, i) => (i === buf.length - 1 ? x ^ 1 : x))));
    mf.format_version = 99;
    fs.writeFileSync(path.join(copy, 'manifest.json'), JSON.stringify(mf));
    const future = await assay('restore', copy, '--data-dir', target);
    expect([future.code, future.stderr.trim()]).toEqual([1, `assay: ${copy}/manifest.json is not an assay-backup v1 manifest`]);

    // Server stores are refused with the way to back them up.
    const srv = spawn(process.execPath, [BIN, 'backup', path.join(tmp, 'x')], { env: { ...childEnv, DATABASE_URL: 'postgres://u:p@127.0.0.1:1/db' } });
    let err = '';
    srv.stderr.on('data', (d) => (err += d));
    expect(await new Promise((r) => srv.on('exit', r))).toBe(1);
    expect(err).toMatch(/pg_dump.*BACKUP DATABASE/);

    // The restored dir still serves after the refused attempts.
    const again = await start(restoredDir);
    expect((await api(again, 'GET', '/projects')).body.items.map((x: any) => x.name)).toEqual(['vision']);
  }, 300_000);
});
