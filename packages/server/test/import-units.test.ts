import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scalarEvent } from '../../../bench/lib/import-fixtures.ts';
import { parseValue, uniqueNames } from '../src/importers/sink.ts';
import { detectShape, parseTime } from '../src/importers/table.ts';
import { EventType, jsonOf, tensorScalar } from '../src/importers/tb-proto.ts';
import { frameRecord, maskedCrc32c, readRecords, type RecordIssue } from '../src/importers/tfrecord.ts';

/* The importers' pure parts: TFRecord framing and CRCs, event decoding, table shapes, value parsing. */

function readAll(bytes: Buffer) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tfrec-')), 'events.out.tfevents.1');
  fs.writeFileSync(file, bytes);
  const issues: RecordIssue[] = [];
  const records = [...readRecords(file, (i) => issues.push(i))].map(([d, off]) => [d.toString(), off]);
  fs.rmSync(path.dirname(file), { recursive: true });
  return { records, issues };
}

describe('TFRecord framing', () => {
  it('masked CRC32C matches tensorboardX (values computed with its crc32c)', () => {
    expect(maskedCrc32c(Buffer.from('123456789'))).toBe(0xc78ab0e5);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(5n);
    expect(maskedCrc32c(len)).toBe(0x3e04b2ea);
    expect(frameRecord(Buffer.from('hello')).subarray(8, 12).readUInt32LE()).toBe(0x3e04b2ea);
  });

  it('reads framed records back with their offsets', () => {
    const recs = ['a', 'bb', '', 'dddd'].map((s) => frameRecord(Buffer.from(s)));
    expect(readAll(Buffer.concat(recs))).toEqual({ records: [['a', 0], ['bb', 17], ['', 35], ['dddd', 51]], issues: [] });
  });

  it('a bad data CRC skips that record only; a bad length CRC ends the file', () => {
    const recs = ['one', 'two', 'three'].map((s) => frameRecord(Buffer.from(s)));
    recs[1][12 + 3] ^= 1; // the last data CRC byte of "two"
    expect(readAll(Buffer.concat(recs))).toEqual({ records: [['one', 0], ['three', 38]], issues: [{ offset: 19, problem: 'data CRC mismatch; record skipped' }] });
    const again = ['one', 'two', 'three'].map((s) => frameRecord(Buffer.from(s)));
    again[1][9] ^= 1;
    expect(readAll(Buffer.concat(again))).toEqual({ records: [['one', 0]], issues: [{ offset: 19, problem: 'length CRC mismatch (corrupted record header); rest of file skipped' }] });
  });

  it('a truncated header or body is reported with its offset', () => {
    const recs = Buffer.concat(['one', 'two'].map((s) => frameRecord(Buffer.from(s))));
    expect(readAll(recs.subarray(0, 19 + 5))).toEqual({ records: [['one', 0]], issues: [{ offset: 19, problem: 'truncated record header (5 bytes left of 12)' }] });
    expect(readAll(recs.subarray(0, 19 + 14))).toEqual({ records: [['one', 0]], issues: [{ offset: 19, problem: 'truncated record (19 bytes announced, 14 left)' }] });
  });
});

describe('Event decoding', () => {
  it('decodes a scalar event the benchmark writer encodes', () => {
    const e = EventType.decode(scalarEvent(1_700_000_000.25, 123_456_789_012, 'train/loss', 0.5)) as any;
    expect([e.wall_time, e.step, e.summary.value[0].tag, e.summary.value[0].simple_value]).toEqual([1_700_000_000.25, 123_456_789_012, 'train/loss', 0.5]);
  });

  it('tensor scalars: float_val, tensor_content, only one element', () => {
    const d = Buffer.alloc(8);
    d.writeDoubleLE(0.1);
    expect(tensorScalar({ dtype: 2, tensor_content: d })).toBe(0.1);
    expect(tensorScalar({ dtype: 1, float_val: [0.5] })).toBe(0.5);
    expect(tensorScalar({ dtype: 3, int_val: [7] })).toBe(7);
    expect(tensorScalar({ dtype: 1, float_val: [1, 2], tensor_shape: { dim: [{ size: 2 }] } })).toBeUndefined();
    expect(tensorScalar({ dtype: 7 })).toBeUndefined();
    expect(jsonOf({ list_value: { values: [{ number_value: 1 }, { string_value: 'x' }] } })).toEqual([1, 'x']);
  });
});

describe('tables', () => {
  it('detects long and wide shapes from the header', () => {
    expect(detectShape(['metric', 'step', 'value'])).toEqual({ kind: 'long', metric: 'metric', step: 'step', value: 'value', timestamp: undefined });
    expect(detectShape(['key', 'step', 'metric_value', 'timestamp'])).toEqual({ kind: 'long', metric: 'key', step: 'step', value: 'metric_value', timestamp: 'timestamp' });
    expect(detectShape(['step', 'timestamp', 'loss', 'acc'])).toEqual({ kind: 'wide', step: 'step', timestamp: 'timestamp', metrics: ['loss', 'acc'] });
    expect(detectShape(['_step', '_timestamp', '_runtime', 'loss'])).toEqual({ kind: 'wide', step: '_step', timestamp: '_timestamp', metrics: ['loss'] });
    expect(detectShape(['loss'])).toEqual({ kind: 'wide', step: undefined, timestamp: undefined, metrics: ['loss'] });
    expect(() => detectShape(['metric', 'value'])).toThrow('needs a step column');
    expect(() => detectShape(['step', 'timestamp'])).toThrow('no metric columns');
  });

  it('times and values', () => {
    expect(parseTime('1700000000')).toBe(1_700_000_000_000);
    expect(parseTime(1_700_000_000_123)).toBe(1_700_000_000_123);
    expect(parseTime('2024-01-01T00:00:01Z')).toBe(Date.UTC(2024, 0, 1, 0, 0, 1));
    expect(parseTime('')).toBeUndefined();
    expect(['1.5', 'nan', '-inf', 'Infinity', 'x', ''].map(parseValue)).toEqual([1.5, 'NaN', '-Infinity', 'Infinity', undefined, undefined]);
  });

  it('names shared by several source runs get the source id suffix, deterministically', () => {
    const runs = [{ n: 'a', id: '11112222x' }, { n: 'b', id: '33334444y' }, { n: 'a', id: '55556666z' }];
    expect([...uniqueNames(runs, (r) => r.n, (r) => r.id).values()]).toEqual(['a-11112222', 'b', 'a-55556666']);
  });
});
