import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isLocked, listSegments, readHeader, readOffset, readRecords, SpoolSegment, activeSegments } from '../src/spool.ts';
import { syncSpool } from '../src/ops.ts';
import { silentLogger } from '../src/logger.ts';
import { FakeServer } from './fake-server.ts';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-spool-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const header = { api_url: 'http://127.0.0.1:1', project: 'p', experiment: 'e', project_id: null, experiment_id: null };
const pts = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ metric_name: 'loss', metric_value: i + from, step: i + from }));

describe('spool segment', () => {
  it('appends JSONL with a header, tracks offsets and is locked while open', () => {
    const seg = SpoolSegment.create(dir, header);
    seg.append([{ type: 'metrics', batch_id: 'b1', metrics: pts(3) }]);
    seg.append([{ type: 'status', status: 'complete' }]);
    const lines = fs.readFileSync(seg.path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(['header', 'metrics', 'status']);
    expect(lines[0]).toMatchObject({ v: 1, project: 'p', experiment: 'e', pid: process.pid });
    expect(seg.size).toBe(fs.statSync(seg.path).size);
    const items = readRecords(seg.path, 0);
    expect(items).toHaveLength(3);
    expect(items[2].end).toBe(seg.size);
    seg.setOffset(items[1].end);
    expect(readOffset(seg.path)).toBe(items[1].end);
    expect(readRecords(seg.path, items[1].end).map((i) => i.record.type)).toEqual(['status']);
    expect(isLocked(seg.path)).toBe(true);
    seg.close();
    expect(activeSegments.has(seg.path)).toBe(false);
    expect(isLocked(seg.path)).toBe(false);
    expect(readHeader(seg.path)?.header.experiment).toBe('e');
  });

  it('ignores a torn last line and skips a corrupt middle line', () => {
    const seg = SpoolSegment.create(dir, header);
    seg.append([{ type: 'metrics', batch_id: 'b1', metrics: pts(1) }]);
    fs.appendFileSync(seg.path, '{"type":"metr\n');
    seg.append([{ type: 'metrics', batch_id: 'b2', metrics: pts(1) }]);
    fs.appendFileSync(seg.path, '{"type":"metrics","batch_'); // crash mid-append
    const bad: number[] = [];
    const items = readRecords(seg.path, 0, 1 << 20, (_l, at) => bad.push(at));
    expect(items.map((i) => (i.record as { batch_id?: string }).batch_id ?? i.record.type)).toEqual(['header', 'b1', 'b2']);
    expect(bad).toHaveLength(1);
    seg.remove();
    expect(listSegments(dir)).toEqual([]);
  });

  it('reads lines longer than the read window', () => {
    const seg = SpoolSegment.create(dir, header);
    seg.append([{ type: 'metrics', batch_id: 'big', metrics: pts(5000) }]);
    const items = readRecords(seg.path, 0, 1024);
    expect(items.length).toBeGreaterThanOrEqual(1);
    const all = readRecords(seg.path, items[0].end, 1024);
    expect((all[0].record as { metrics: unknown[] }).metrics).toHaveLength(5000);
    seg.remove();
  });

  it('treats a lock held by a dead pid as released', () => {
    const f = path.join(dir, '20240101T000000000-1-abc.jsonl');
    fs.writeFileSync(f, JSON.stringify({ type: 'header', ...header }) + '\n');
    fs.writeFileSync(f.replace('.jsonl', '.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, hostname: os.hostname() }));
    expect(isLocked(f)).toBe(false);
    fs.writeFileSync(f.replace('.jsonl', '.lock'), JSON.stringify({ pid: 1, hostname: os.hostname() }));
    expect(isLocked(f)).toBe(true); // pid 1 is alive
  });
});

describe('syncSpool', () => {
  let srv: FakeServer;
  beforeEach(async () => {
    srv = new FakeServer();
    await srv.start();
  });
  afterEach(async () => {
    await srv.stop();
  });

  it('creates the experiment by name, replays in order, marks the status and deletes the segment', async () => {
    const seg = SpoolSegment.create(dir, { ...header, api_url: srv.url, create: { features: { lr: 0.1 } } });
    seg.append([
      { type: 'metrics', batch_id: 'r1-1', metrics: pts(10) },
      { type: 'features', features: { opt: 'adam' } },
      { type: 'metrics', batch_id: 'r1-2', metrics: pts(10, 10) },
      { type: 'status', status: 'complete' },
    ]);
    const live = await syncSpool(dir, { apiKey: srv.apiKey, logger: silentLogger });
    expect(live.locked).toBe(1); // still owned by this process
    seg.close();
    const r = await syncSpool(dir, { apiKey: srv.apiKey, logger: silentLogger });
    expect(r).toMatchObject({ segments: 1, synced: 1, points: 20, failed: 0, rejected: 0 });
    expect(srv.pointsOf('loss').map((p) => p.step)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const e = [...srv.experiments.values()][0];
    expect(e).toMatchObject({ name: 'e', status: 'complete', features: { lr: 0.1, opt: 'adam' } });
    expect(listSegments(dir)).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('resumes after a failure without duplicating points, and marks a run without final status crashed', async () => {
    const seg = SpoolSegment.create(dir, { ...header, api_url: srv.url });
    for (let b = 0; b < 5; b++) seg.append([{ type: 'metrics', batch_id: `x-${b}`, metrics: pts(4, b * 4) }]);
    seg.close();
    let n = 0;
    srv.hook = (req) => (req.url!.includes('/metrics/batch/') && ++n === 3 ? { status: 400, body: { detail: 'nope' } } : undefined);
    // a 400 is not retryable: that record is skipped and counted as rejected
    let r = await syncSpool(dir, { apiKey: srv.apiKey, logger: silentLogger });
    expect(r).toMatchObject({ synced: 1, rejected: 1, points: 16 });
    expect(srv.points).toHaveLength(16);
    // now a server that goes away mid-segment: left in place, resumed later, no duplicates
    const seg2 = SpoolSegment.create(dir, { ...header, experiment: 'e2', api_url: srv.url });
    for (let b = 0; b < 5; b++) seg2.append([{ type: 'metrics', batch_id: `y-${b}`, metrics: pts(4, b * 4) }]);
    seg2.close();
    n = 0;
    srv.hook = (req) => (req.url!.includes('/metrics/batch/') && ++n >= 3 ? { status: 503, body: { detail: 'down' } } : undefined);
    r = await syncSpool(dir, { apiKey: srv.apiKey, logger: silentLogger, maxAttempts: 2, backoff: { baseMs: 1, maxMs: 2 } });
    expect(r).toMatchObject({ synced: 0, failed: 1 });
    expect(readOffset(seg2.path)).toBeGreaterThan(0);
    srv.hook = null;
    r = await syncSpool(dir, { apiKey: srv.apiKey, logger: silentLogger });
    expect(r).toMatchObject({ synced: 1, failed: 0 });
    const e2 = [...srv.experiments.values()].find((e) => e.name === 'e2')!;
    expect(e2.status).toBe('crashed');
    expect(srv.points.length).toBe(16 + 20);
    expect(new Set(srv.requests.filter((q) => q.batch_id?.startsWith('y-')).map((q) => q.batch_id)).size).toBe(5);
  });

  it('stops on a bad key and keeps the spool', async () => {
    const seg = SpoolSegment.create(dir, { ...header, api_url: srv.url });
    seg.append([{ type: 'metrics', batch_id: 'z', metrics: pts(1) }]);
    seg.close();
    const r = await syncSpool(dir, { apiKey: 'wrong', logger: silentLogger });
    expect(r.failed).toBe(1);
    expect(r.errors[0]).toMatch(/401/);
    expect(listSegments(dir)).toHaveLength(1);
  });
});
