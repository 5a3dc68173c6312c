/**
 * The binary columnar body of POST /metrics/batch (`Content-Type: application/octet-stream`,
 * docs/api.md "Binary batches"). Steps, values and timestamps travel as the little-endian 8-byte
 * columns ClickHouse's Native format stores, so the server copies them instead of parsing JSON
 * numbers and checking point objects one by one (the JSON body's parse and per-point checks were
 * about half of the server's CPU per imported point).
 *
 *   "AMB1"                     magic and version (4 bytes)
 *   u16 len, len bytes         batch_id, UTF-8 (len 0: none)
 *   u32 count                  number of series
 *   per series:
 *     u16 len, len bytes       metric_name, UTF-8
 *     u16 len, len bytes       host, UTF-8 (len 0: none)
 *     u8 flags                 bit 0: timestamps present; the other bits must be 0
 *     u32 n                    points in the series
 *     n × u64                  steps (≤ 2^53-1)
 *     n × f64                  values (any double, NaN and ±Inf included)
 *     n × u64                  timestamps, epoch ms (≤ LIMITS.timestampMaxMs), only with flag bit 0
 *
 * The body ends right after the last series. This module only walks the layout (bounds, lengths,
 * UTF-8); encode.ts checks the names, steps and timestamps while it copies the columns.
 */

/** One 422 detail entry (FastAPI's shape); here so encode.ts and this parser share it without an import cycle. */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export const BINARY_MAGIC = 'AMB1';
export const BINARY_CONTENT_TYPE = 'application/octet-stream';

export interface BinarySeries {
  /** Decoded name, or undefined when its bytes are not UTF-8 (an issue is recorded). */
  name: string;
  host: string;
  n: number;
  steps: number;
  values: number;
  /** Offset of the timestamp column, or -1 when absent. */
  timestamps: number;
}

export interface BinaryBatch {
  buf: Buffer;
  batchId?: string;
  series: BinarySeries[];
  points: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const issue = (loc: (string | number)[], msg: string, type = 'value_error'): ValidationIssue => ({ loc: ['body', ...loc], msg, type });

/** Walks the layout; every byte is accounted for or the body is refused (a 422 naming the byte offset). */
export function parseBinaryBatch(buf: Buffer): { ok: true; batch: BinaryBatch } | { ok: false; issues: ValidationIssue[] } {
  let pos = 0;
  const fail = (loc: (string | number)[], msg: string, type = 'value_error') => ({ ok: false as const, issues: [issue(loc, msg, type)] });
  const short = (loc: (string | number)[], what: string, need: number) =>
    fail(loc, `binary body truncated: ${what} needs ${need} bytes at offset ${pos}, the body has ${buf.length - pos} left`, 'truncated');
  const text = (loc: (string | number)[], what: string): string | { ok: false; issues: ValidationIssue[] } => {
    if (pos + 2 > buf.length) return short(loc, `the length of ${what}`, 2);
    const len = buf.readUInt16LE(pos);
    pos += 2;
    if (pos + len > buf.length) return short(loc, what, len);
    try {
      return utf8.decode(buf.subarray(pos, (pos += len)));
    } catch {
      return fail(loc, `${what} is not valid UTF-8`, 'string_type');
    }
  };
  if (buf.length < 4 || buf.toString('latin1', 0, 4) !== BINARY_MAGIC) {
    return fail([], `binary body must start with "${BINARY_MAGIC}" (docs/api.md, binary batches)`, 'model_type');
  }
  pos = 4;
  const batchId = text(['batch_id'], 'batch_id');
  if (typeof batchId !== 'string') return batchId;
  if (pos + 4 > buf.length) return short(['series'], 'the series count', 4);
  const count = buf.readUInt32LE(pos);
  pos += 4;
  const series: BinarySeries[] = [];
  let points = 0;
  for (let i = 0; i < count; i++) {
    // a forged count can't make us allocate: every series needs at least 9 bytes of body
    if (pos >= buf.length) return short(['series', i], `series ${i} of ${count}`, 9);
    const name = text(['series', i, 'metric_name'], 'metric_name');
    if (typeof name !== 'string') return name;
    const host = text(['series', i, 'host'], 'host');
    if (typeof host !== 'string') return host;
    if (pos + 5 > buf.length) return short(['series', i], 'flags and point count', 5);
    const flags = buf[pos];
    const n = buf.readUInt32LE(pos + 1);
    pos += 5;
    if (flags & ~1) return fail(['series', i, 'flags'], `unknown flag bits 0x${flags.toString(16)} (only bit 0, timestamps, is defined)`);
    const width = flags & 1 ? 24 : 16;
    if (n * width > buf.length - pos) return short(['series', i, 'steps'], `${n} points`, n * width);
    const s = { name, host, n, steps: pos, values: pos + 8 * n, timestamps: flags & 1 ? pos + 16 * n : -1 };
    pos += n * width;
    points += n;
    series.push(s);
  }
  if (pos !== buf.length) return fail([], `binary body has ${buf.length - pos} bytes after its last series (offset ${pos})`, 'trailing_bytes');
  return { ok: true, batch: { buf, batchId: batchId === '' ? undefined : batchId, series, points } };
}

/** Little-endian 64-bit words of `n` values at `offset` of the body, as an aligned copy. */
export function words64(buf: Buffer, offset: number, n: number): Uint32Array {
  const out = new Uint32Array(2 * n);
  new Uint8Array(out.buffer).set(buf.subarray(offset, offset + 8 * n));
  return out;
}

export function float64s(buf: Buffer, offset: number, n: number): Float64Array {
  const out = new Float64Array(n);
  new Uint8Array(out.buffer).set(buf.subarray(offset, offset + 8 * n));
  return out;
}

/** Writes the binary body (the importer's side; tests build hostile variants from it). */
export function encodeBinaryBatch(batchId: string | undefined, series: { metric_name: string; host?: string; steps: ArrayLike<number>; values: ArrayLike<number>; timestamps?: ArrayLike<number> | null }[]): Buffer {
  const id = Buffer.from(batchId ?? '', 'utf8');
  const parts = series.map((s) => ({ s, name: Buffer.from(s.metric_name, 'utf8'), host: Buffer.from(s.host ?? '', 'utf8') }));
  let size = 4 + 2 + id.length + 4;
  for (const p of parts) size += 2 + p.name.length + 2 + p.host.length + 5 + p.s.steps.length * (p.s.timestamps ? 24 : 16);
  const buf = Buffer.alloc(size);
  buf.write(BINARY_MAGIC, 0, 'latin1');
  let pos = buf.writeUInt16LE(id.length, 4);
  pos += id.copy(buf, pos);
  pos = buf.writeUInt32LE(parts.length, pos);
  for (const { s, name, host } of parts) {
    const n = s.steps.length;
    if (s.values.length !== n || (s.timestamps && s.timestamps.length !== n)) throw new Error(`series ${s.metric_name}: columns of different lengths`);
    pos = buf.writeUInt16LE(name.length, pos);
    pos += name.copy(buf, pos);
    pos = buf.writeUInt16LE(host.length, pos);
    pos += host.copy(buf, pos);
    pos = buf.writeUInt8(s.timestamps ? 1 : 0, pos);
    pos = buf.writeUInt32LE(n, pos);
    pos = writeU64s(buf, pos, s.steps);
    const values = s.values instanceof Float64Array ? s.values : Float64Array.from(s.values);
    buf.set(new Uint8Array(values.buffer, values.byteOffset, 8 * n), pos);
    pos += 8 * n;
    if (s.timestamps) pos = writeU64s(buf, pos, s.timestamps);
  }
  return buf;
}

/** Integers in [0, 2^53) as little-endian u64 words, built in an aligned array and copied in once (the body's offsets are unaligned). */
function writeU64s(buf: Buffer, pos: number, xs: ArrayLike<number>): number {
  const words = new Uint32Array(2 * xs.length);
  for (let j = 0; j < xs.length; j++) {
    const v = xs[j];
    const lo = v % 2 ** 32;
    words[2 * j] = lo;
    words[2 * j + 1] = (v - lo) / 2 ** 32;
  }
  buf.set(new Uint8Array(words.buffer), pos);
  return pos + words.byteLength;
}
