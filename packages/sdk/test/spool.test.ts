import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isLocked, listSegments, readHeader, readOffset, readRecords, SpoolSegment, activeSegments } from '../src/spool.ts';

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
