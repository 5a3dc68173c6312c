import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scalarEvent } from '../../../bench/lib/import-fixtures.ts';
import { readMetricFile } from '../src/importers/mlflow-files.ts';
import { BINARY_CONTENT_TYPE, parseBinaryBatch } from '../src/stores/clickhouse/binary-batch.ts';
import { parseValue, Sink, uniqueNames, type RunWriter } from '../src/importers/sink.ts';
import { detectShape, parseTime } from '../src/importers/table.ts';
import { crc32c } from '@node-rs/crc32';
import { decodeScalarEvent, EventType, jsonOf, newScalarEvent, tensorScalar } from '../src/importers/tb-proto.ts';
import { frameRecord, maskedCrc32c, readRecords, type RecordIssue } from '../src/importers/tfrecord.ts';

/* The importers' pure parts: TFRecord framing and CRCs, event decoding, table shapes, value parsing. */

async function readAll(bytes: Buffer) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tfrec-')), 'events.out.tfevents.1');
  fs.writeFileSync(file, bytes);
  const issues: RecordIssue[] = [];
  const records = (await readRecords(file, (i) => issues.push(i))).map(([d, off]) => [d.toString(), off]);
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

  it('the table CRC (under 512 bytes) and the napi one (from 512) agree with @node-rs/crc32 at every length and alignment', () => {
    const b = Buffer.from(Array.from({ length: 1200 }, (_, i) => (i * 131 + 7) & 0xff));
    const masked = (c: number) => ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
    const bad: number[] = [];
    for (let len = 0; len <= 1100; len += len < 80 ? 1 : 37) for (const off of [0, 1, 3, 7]) if (maskedCrc32c(b.subarray(off, off + len)) !== masked(crc32c(b.subarray(off, off + len)) >>> 0)) bad.push(len);
    expect(bad).toEqual([]);
  });

  it('reads framed records back with their offsets', async () => {
    const recs = ['a', 'bb', '', 'dddd'].map((s) => frameRecord(Buffer.from(s)));
    expect(await readAll(Buffer.concat(recs))).toEqual({ records: [['a', 0], ['bb', 17], ['', 35], ['dddd', 51]], issues: [] });
  });

  it('a bad data CRC skips that record only; a bad length CRC ends the file', async () => {
    const recs = ['one', 'two', 'three'].map((s) => frameRecord(Buffer.from(s)));
    recs[1][12 + 3] ^= 1; // the last data CRC byte of "two"
    expect(await readAll(Buffer.concat(recs))).toEqual({ records: [['one', 0], ['three', 38]], issues: [{ offset: 19, problem: 'data CRC mismatch; record skipped' }] });
    const again = ['one', 'two', 'three'].map((s) => frameRecord(Buffer.from(s)));
    again[1][9] ^= 1;
    expect(await readAll(Buffer.concat(again))).toEqual({ records: [['one', 0]], issues: [{ offset: 19, problem: 'length CRC mismatch (corrupted record header); rest of file skipped' }] });
  });

  it('length fields under 4096 are checked by a table, longer ones by their CRC: same records, same issues', async () => {
    const texts = ['a'.repeat(300), 'b'.repeat(4095), 'c'.repeat(4096), 'd'.repeat(5000)];
    const file = Buffer.concat(texts.map((s) => frameRecord(Buffer.from(s))));
    expect(await readAll(file)).toEqual({ records: texts.map((s, i) => [s, texts.slice(0, i).reduce((o, t) => o + t.length + 16, 0)]), issues: [] });
    const bent = frameRecord(Buffer.from('b'.repeat(300)));
    bent[1] ^= 2; // length 300 -> 812: the stored CRC is 300's
    expect(await readAll(bent)).toEqual({ records: [], issues: [{ offset: 0, problem: 'length CRC mismatch (corrupted record header); rest of file skipped' }] });
    const huge = Buffer.alloc(16);
    huge.writeUInt32LE(1, 4); // 2^32, with its own valid CRC
    huge.writeUInt32LE(maskedCrc32c(huge.subarray(0, 8)), 8);
    expect(await readAll(huge)).toEqual({ records: [], issues: [{ offset: 0, problem: 'record length 4294967296 is implausible; rest of file skipped' }] });
  });

  it('a truncated header or body is reported with its offset', async () => {
    const recs = Buffer.concat(['one', 'two'].map((s) => frameRecord(Buffer.from(s))));
    expect(await readAll(recs.subarray(0, 19 + 5))).toEqual({ records: [['one', 0]], issues: [{ offset: 19, problem: 'truncated record header (5 bytes left of 12)' }] });
    expect(await readAll(recs.subarray(0, 19 + 14))).toEqual({ records: [['one', 0]], issues: [{ offset: 19, problem: 'truncated record (19 bytes announced, 14 left)' }] });
  });
});

describe('Event decoding', () => {
  it('decodes a scalar event the benchmark writer encodes', () => {
    const e = EventType.decode(scalarEvent(1_700_000_000.25, 123_456_789_012, 'train/loss', 0.5)) as any;
    expect([e.wall_time, e.step, e.summary.value[0].tag, e.summary.value[0].simple_value]).toEqual([1_700_000_000.25, 123_456_789_012, 'train/loss', 0.5]);
  });

  it('the hand decoder reads scalar events exactly as protobufjs does, and declines everything else', () => {
    const out = newScalarEvent();
    const ev = (b: Uint8Array) => Buffer.from(b);
    for (const [wt, step, tag, v] of [[1_700_000_000.25, 123_456_789_012, 'train/loss', 0.5], [0, 0, '', -0], [1.5, 2 ** 49 - 1, 'ünï/cødé', NaN], [3, 1, 'x', -Infinity]] as const) {
      const b = ev(scalarEvent(wt, step, tag, v));
      const e = EventType.decode(b) as any;
      expect(decodeScalarEvent(b, 0, b.length, out)).toBe(true);
      expect([out.wallTime, out.step, out.summary, out.n, out.tags[0], out.values[0]]).toEqual([e.wall_time, e.step, true, 1, e.summary.value[0].tag, e.summary.value[0].simple_value]);
    }
    // two values in one summary, inside a larger buffer
    const value = (tag: number) => [0x0a, 0x08, 0x0a, 0x01, tag, 0x15, 0, 0, 0x80, 0x3f]; // Summary.Value{tag, simple_value: 1}
    const two = Buffer.from([0xff, 0x09, 0, 0, 0, 0, 0, 0, 0x24, 0x40, 0x10, 0x07, 0x2a, 20, ...value(0x61), ...value(0x62)]);
    expect(decodeScalarEvent(two, 1, two.length, out)).toBe(true);
    expect([out.step, out.n, out.tags.slice(0, 2), out.values.slice(0, 2)]).toEqual([7, 2, ['a', 'b'], [1, 1]]);
    const declined = [
      Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // step -1 (10-byte varint)
      Buffer.from([0x2a, 0x04, 0x0a, 0x02, 0x42, 0x00]), // a value with a tensor (field 8)
      Buffer.from([0x2a, 0x05, 0x0a, 0x03]), // truncated
      Buffer.from([0x22, 0x00]), // graph_def
    ];
    expect(declined.map((b) => decodeScalarEvent(b, 0, b.length, out))).toEqual([false, false, false, false]);
    const version = Buffer.from([0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x1a, 0x02, 0x62, 0x32]);
    expect([decodeScalarEvent(version, 0, version.length, out), out.summary, out.wallTime]).toEqual([true, false, 1]);
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

describe('MLflow metric files', () => {
  async function read(text: string | Buffer) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlm-'));
    fs.writeFileSync(path.join(dir, 'loss'), text);
    const points: [number, unknown, number | undefined][] = [];
    const w = { spec: { name: 'e' }, add: (_k: string, step: number, v: unknown, ts?: number) => points.push([step, v, ts]), drain: async () => {} };
    const sink = new Sink({ url: 'http://unused', apiKey: 'x', dryRun: true });
    const n = await readMetricFile(w as unknown as RunWriter, 'loss', path.join(dir, 'loss'), sink);
    fs.rmSync(dir, { recursive: true });
    return { n, points, warnings: sink.warnings.map((x) => x.replace(/^.*loss: /, '')) };
  }

  it('reads every spelling the text format allows, exactly as Number() of the text', async () => {
    const text = '1700000000000 0.1 0\n1700000000001 nan 1\r\n1700000000002 -inf 2\n\n1.7e12 1e-3 3\nx 1 4\n5 2.5\n1700000000006 0.30000000000000004 6';
    expect(await read(text)).toEqual({
      n: 6,
      points: [[0, 0.1, 1700000000000], [1, 'NaN', 1700000000001], [2, '-Infinity', 1700000000002], [3, 0.001, 1.7e12], [0, 2.5, 5], [6, 0.30000000000000004, 1700000000006]],
      warnings: ['1 unreadable lines skipped', "e: metric 'loss' logs 1 points at a step logged before; Assay keeps one value per step (the last logged)"],
    });
  });

  it('values parsed from the bytes are the doubles Number() gives for their text, to the last bit', async () => {
    let seed = 12345;
    const rand = () => ((seed = Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5 | 0) >>> 0) / 2 ** 32;
    const texts = ['0', '-0', '5.', '.5', '-.5', '007.250', '9007199254740991', '9007199254740993', '0.9007199254740993', '0.30000000000000004', '1e-05', '-2.5E+3', '123456789012345.6'];
    for (let k = 0; texts.length < 20_000; k++) {
      const x = (rand() - 0.5) * 10 ** Math.floor(rand() * 24 - 12);
      texts.push(String(x), x.toFixed(Math.floor(rand() * 17)), x.toPrecision(1 + Math.floor(rand() * 17)), String(Math.fround(x)));
    }
    const r = await read(texts.map((t, s) => `${1_700_000_000_000 + s} ${t} ${s}`).join('\n'));
    expect(r.n).toBe(texts.length);
    expect(r.points.flatMap(([s, v]) => (Object.is(v, Number(texts[s])) ? [] : [[texts[s], v]]))).toEqual([]);
  });

  it('streams a file larger than its 4 MiB read buffer, lines cut at the buffer edge included, and a line longer than the buffer', async () => {
    const lines = Array.from({ length: 200_000 }, (_, s) => `${1_700_000_000_000 + s} ${s / 1024} ${s}`);
    lines[123_456] = `1 0.${'1'.repeat(5 << 20)} 123456`; // a 5 MiB value: grows the buffer
    const r = await read(lines.join('\n') + '\n');
    expect(r.n).toBe(200_000);
    expect(r.points.filter(([s, v, t]) => s !== 123_456 && (v !== s / 1024 || t !== 1_700_000_000_000 + s))).toEqual([]);
    expect(r.points[123_456]).toEqual([123_456, 0.1111111111111111, 1]);
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

/**
 * A stand-in for Assay's API as far as the sink goes: projects and experiments are created, and
 * metric batches go to `onBatch` (their content type and body), which says the status and answer.
 */
async function startSinkTarget(onBatch: (type: string, body: Buffer) => [number, unknown]): Promise<{ url: string; close: () => void }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (status: number, json: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      if (req.url!.startsWith('/api/v1/metrics/batch/')) return answer(...onBatch(req.headers['content-type']!, Buffer.concat(chunks)));
      if (req.method === 'PATCH') return answer(200, {});
      return answer(201, { id: req.url!.includes('/experiments') ? '00000000-0000-4000-8000-000000000002' : '00000000-0000-4000-8000-000000000001' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

describe('the sink', () => {
  it("lists a chunk's series by metric name as ClickHouse orders them (UTF-8 bytes), the batch id still from the order they came in", async () => {
    const bodies: Buffer[] = [];
    const target = await startSinkTarget((_type, body) => (bodies.push(body), [200, { duplicate: false, count: 5 }]));
    try {
      const sink = new Sink({ url: target.url, apiKey: 'k' });
      const w = await sink.run({ project: 'p', name: 'e', sourceKey: 'test:run-2' });
      // as TensorBoard tags come: first seen first. U+1F600 sorts before U+FFFD in UTF-16 code units, after it in UTF-8.
      for (const [i, name] of ['train/loss', '\u{1F600}', 'lr', '\uFFFD', 'eval/acc'].entries()) w.add(name, 0, i, 1_700_000_000_000);
      await w.finish();
      const b = parseBinaryBatch(bodies[0]);
      if (!b.ok) throw new Error('binary body did not parse');
      expect(b.batch.series.map((s) => s.name)).toEqual(['eval/acc', 'lr', 'train/loss', '\uFFFD', '\u{1F600}']);
      // pinned before the series were sorted: a re-import finds the chunks an earlier import sent
      expect(b.batch.batchId).toBe('import-49cb6c9726e668d19e5ebe7cce433facbd0ad88c0b5cf7ad');
    } finally {
      target.close();
    }
  });
});

describe('the sink against a server without binary batches', () => {
  it('a 415 to the binary body resends the same batch as JSON: same batch id, NaN/±Inf spelled, steps and timestamps intact', async () => {
    const seen: { type: string; body: Buffer }[] = [];
    const target = await startSinkTarget((type, body) => {
      seen.push({ type, body });
      return type === BINARY_CONTENT_TYPE ? [415, { detail: 'unsupported' }] : [200, { duplicate: false, count: 4 }];
    });
    try {
      const sink = new Sink({ url: target.url, apiKey: 'k' });
      const w = await sink.run({ project: 'p', name: 'e', sourceKey: 'test:run-1' });
      w.add('loss', 0, 1.5, 1_700_000_000_000);
      w.add('loss', 1, 'NaN', 1_700_000_000_001);
      w.add('loss', 2, 'Infinity', 1_700_000_000_002);
      w.add('loss', 2 ** 40, '-Infinity', 1_700_000_000_003);
      await w.finish();
      expect(seen.map((s) => s.type)).toEqual([BINARY_CONTENT_TYPE, 'application/json']);
      const binary = parseBinaryBatch(seen[0].body);
      if (!binary.ok) throw new Error('binary body did not parse');
      // the id is part of every earlier import's identity (a re-import must find its batches): pinned
      expect(binary.batch.batchId).toBe('import-c60b433eda5b5c9de5326bc3f010d8029f22de77772e75f0');
      expect(JSON.parse(seen[1].body.toString())).toEqual({
        batch_id: binary.batch.batchId,
        series: [{ metric_name: 'loss', steps: [0, 1, 2, 2 ** 40], values: [1.5, 'NaN', 'Infinity', '-Infinity'], timestamps: [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002, 1_700_000_000_003] }],
      });
      expect(sink.counts.points).toBe(4);
    } finally {
      target.close();
    }
  });
});
