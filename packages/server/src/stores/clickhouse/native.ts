/**
 * Writer for ClickHouse's Native format: a block is `columns, rows` (varints), then per column its
 * name, its type and its values back to back (fixed-width numbers little-endian, strings as
 * varint length + bytes). It is ClickHouse's own in-memory layout, so the server reads it almost
 * for free: measured on chDB, 0.06 CPU µs/row to read vs 0.93 for the same rows as TabSeparated.
 * Blocks can be concatenated into one stream, so a flush joins its requests' blocks as they are.
 */

const TWO_32 = 2 ** 32;

// the integer columns are converted here and copied out at once: one buffer for all of them
// (a new ArrayBuffer per column is external memory, which makes V8 mark the heap sooner)
let scratch = new Uint32Array(4096);
function scratchWords(n: number): Uint32Array {
  if (scratch.length < n) scratch = new Uint32Array(Math.max(n, scratch.length * 2));
  return scratch;
}

/** A growing byte buffer with the primitive encodings the Native format uses. */
export class ByteWriter {
  buf: Buffer;
  pos = 0;

  constructor(initial = 4096) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  string(s: string): void {
    this.bytes(Buffer.from(s, 'utf8'), true);
  }

  /** Raw bytes, optionally length-prefixed (a String value). */
  bytes(b: Buffer, withLength = false): void {
    if (withLength) this.varint(b.length);
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  /** An integer in [0, 2^53) as 8 bytes little-endian (UInt64, or Int64 / DateTime64 ticks ≥ 0). */
  u64(n: number): void {
    this.ensure(8);
    const lo = n % TWO_32;
    this.buf.writeUInt32LE(lo, this.pos);
    this.buf.writeUInt32LE((n - lo) / TWO_32, this.pos + 4);
    this.pos += 8;
  }

  u32(n: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(n, this.pos);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /**
   * A numeric column from doubles: Float64 values are copied as they are (the typed array's
   * little-endian bytes, as encode.ts checks), integer types — UInt64/Int64 in [0, 2^53), UInt16,
   * DateTime seconds — converted in one pass over the column.
   */
  numbers(type: NativeType, values: Float64Array): void {
    switch (type) {
      case 'Float64':
        return this.typed(values);
      case 'UInt16': {
        const halves = new Uint16Array(scratchWords(Math.ceil(values.length / 2)).buffer, 0, values.length);
        halves.set(values);
        return this.typed(halves);
      }
      case 'DateTime':
      case "DateTime('UTC')": {
        const words = scratchWords(values.length).subarray(0, values.length);
        words.set(values);
        return this.typed(words);
      }
      case 'UUID':
      case 'String':
        throw new Error(`not a numeric column type: ${type}`);
      default: {
        const words = scratchWords(values.length * 2);
        for (let i = 0; i < values.length; i++) {
          const hi = Math.floor(values[i] / TWO_32);
          words[2 * i] = values[i] - hi * TWO_32;
          words[2 * i + 1] = hi;
        }
        return this.typed(words.subarray(0, values.length * 2));
      }
    }
  }

  private typed(a: Float64Array | Uint32Array | Uint16Array): void {
    this.bytes(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  }

  /** `n` copies of `pattern` (a constant column such as a team id). */
  repeat(pattern: Buffer, n: number): void {
    const len = pattern.length * n;
    this.ensure(len);
    if (len) this.buf.fill(pattern, this.pos, this.pos + len);
    this.pos += len;
  }

  get result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * A UUID as Native/RowBinary store it: the two 64-bit halves, each little-endian
 * ('61f0c404-5cb3-11e7-907b-a6006ad3dba0' → e7 11 b3 5c 04 c4 f0 61 a0 db d3 6a 00 a6 7b 90).
 */
export function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  const b = Buffer.from(hex, 'hex');
  return Buffer.concat([b.subarray(0, 8).reverse(), b.subarray(8, 16).reverse()]);
}

/** Column types this writer can encode from plain JS values. */
export type NativeType = 'UUID' | 'String' | 'UInt16' | 'UInt64' | 'Int64' | 'Float64' | 'DateTime' | `DateTime64(${3 | 6}, 'UTC')` | "DateTime('UTC')";

/**
 * A block from row-major JS values (for the few rows of pre-aggregated partials; the per-point
 * block is written column by column in encode.ts). DateTime64 values are ticks (ms or µs),
 * DateTime values seconds.
 */
export function nativeBlock(columns: readonly (readonly [name: string, type: NativeType])[], rows: readonly unknown[][]): Buffer {
  const w = new ByteWriter(256 + rows.length * columns.length * 12);
  w.varint(columns.length);
  w.varint(rows.length);
  columns.forEach(([name, type], c) => {
    w.string(name);
    w.string(type);
    writeColumn(w, type, rows, c);
  });
  return w.result;
}

/**
 * One column of row-major values, the type switch taken once per column (a fine rollup row per 8
 * points made the per-cell switch and the per-cell string and UInt16 buffers a visible share of
 * ingest). Runs of one string (the metric name, the host) are encoded once.
 */
function writeColumn(w: ByteWriter, type: NativeType, rows: readonly unknown[][], c: number): void {
  switch (type) {
    case 'UUID':
      for (const row of rows) w.bytes(row[c] instanceof Buffer ? (row[c] as Buffer) : uuidBytes(row[c] as string));
      return;
    case 'String': {
      let prev: unknown;
      let encoded = Buffer.alloc(0);
      for (const row of rows) {
        if (row[c] !== prev || encoded.length === 0) {
          prev = row[c];
          const b = Buffer.from(prev as string, 'utf8');
          const head = new ByteWriter(10);
          head.varint(b.length);
          encoded = Buffer.concat([head.result, b]);
        }
        w.bytes(encoded);
      }
      return;
    }
    case 'Float64':
      w.ensure(8 * rows.length);
      for (const row of rows) w.pos = w.buf.writeDoubleLE(row[c] as number, w.pos);
      return;
    case 'UInt16':
      w.ensure(2 * rows.length);
      for (const row of rows) w.pos = w.buf.writeUInt16LE(row[c] as number, w.pos);
      return;
    case 'DateTime':
    case "DateTime('UTC')":
      w.ensure(4 * rows.length);
      for (const row of rows) w.pos = w.buf.writeUInt32LE(row[c] as number, w.pos);
      return;
    default: // UInt64, Int64 (non-negative here), DateTime64 ticks
      w.ensure(8 * rows.length);
      for (const row of rows) {
        const n = row[c] as number;
        const lo = n % TWO_32;
        w.buf.writeUInt32LE(lo, w.pos);
        w.pos = w.buf.writeUInt32LE((n - lo) / TWO_32, w.pos + 4);
      }
  }
}

/** A String value as Native writes it (varint length + UTF-8), to repeat as a run. */
export function nativeString(s: string): Buffer {
  const w = new ByteWriter(16 + s.length * 3);
  w.string(s);
  return Buffer.from(w.result);
}

/** A UInt16 value's two bytes (little-endian). */
export function u16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16LE(n);
  return b;
}
