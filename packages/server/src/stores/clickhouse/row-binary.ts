/**
 * A reader for ClickHouse's RowBinary output (ClickHouseStore.binary): the column types a query
 * selects decide the reads, in order. Arrays of fixed-width numbers are copied out whole.
 */
export class RowBinaryReader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.off >= this.buf.length;
  }

  private need(n: number): number {
    const at = this.off;
    if (at + n > this.buf.length) throw new Error(`RowBinary: ${n} bytes wanted at ${at} of ${this.buf.length}`);
    this.off += n;
    return at;
  }

  /** LEB128 length of a String or an Array. */
  varint(): number {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.need(1)];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  }

  u8(): number {
    return this.buf[this.need(1)];
  }
  u16(): number {
    return this.buf.readUInt16LE(this.need(2));
  }
  u32(): number {
    return this.buf.readUInt32LE(this.need(4));
  }
  /** UInt64 as a number: exact up to 2^53 (steps and counts are below it). */
  u64(): number {
    const at = this.need(8);
    return this.buf.readUInt32LE(at) + this.buf.readUInt32LE(at + 4) * 2 ** 32;
  }
  f64(): number {
    return this.buf.readDoubleLE(this.need(8));
  }
  string(): string {
    const n = this.varint();
    if (n === 0) return '';
    const at = this.need(n);
    return this.buf.toString('utf8', at, at + n);
  }

  /** Array(T) of a fixed-width type, as the matching typed array (a copy: aligned, and the buffer can go). */
  array<T extends ArrayLike<number>>(Type: { new (b: ArrayBuffer): T; BYTES_PER_ELEMENT: number }): T {
    const n = this.varint();
    const bytes = n * Type.BYTES_PER_ELEMENT;
    const at = this.need(bytes);
    const copy = new ArrayBuffer(bytes);
    new Uint8Array(copy).set(this.buf.subarray(at, at + bytes));
    return new Type(copy);
  }

  /** Array(String), e.g. Array(LowCardinality(String)). */
  strings(): string[] {
    const n = this.varint();
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = this.string();
    return out;
  }
}
