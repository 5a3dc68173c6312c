/**
 * The binary form of POST /metrics/series' answer (`Accept: application/vnd.assay.series`), for
 * clients that read numbers into typed arrays instead of parsing ~3 MB of JSON (a compare page's
 * 100 series). No zod here: the web bundle imports this file.
 *
 * Layout, little-endian:
 *   0  4  magic "ASR1"
 *   4  4  u32 H: byte length of the header
 *   8  H  UTF-8 JSON header: { series: [{ experiment_id, metric_name, total_points, first_step,
 *         last_step, mode, length, fields }], truncated? } — an entry of the JSON answer without
 *         `data`, plus `length` (values per array) and `fields` (the arrays present, in order)
 *   …     zero bytes up to the next multiple of 8
 *   then, per series in order and per field in its `fields` order, `length` float64 values.
 * NaN and ±Infinity are themselves; a null of the JSON answer (`min`/`max` of an all-NaN bucket,
 * `count` of an overview) is NaN, which those fields never hold otherwise. Steps, timestamps and
 * counts are integers below 2^53, exact in a float64.
 */
export const SERIES_BINARY_TYPE = 'application/vnd.assay.series';
const MAGIC = 'ASR1';
/** Fields whose NaN stands for the JSON answer's null. */
const NULLABLE = new Set(['min', 'max', 'count']);

type Wire = number | string | null;

export interface SeriesBinaryHead {
  experiment_id: string;
  metric_name: string;
  total_points: number;
  first_step: number | null;
  last_step: number | null;
  mode: 'raw' | 'buckets';
}

export interface SeriesBinaryAnswer<V> {
  series: (SeriesBinaryHead & { data: Record<string, V[]> })[];
  truncated?: boolean;
}

const align8 = (n: number) => (n + 7) & ~7;

function toF64(v: Wire): number {
  if (typeof v === 'number') return v;
  if (v === null || v === 'NaN') return NaN;
  return v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : Number(v);
}

/** The JSON answer (values as numbers, "NaN"/"Infinity"/"-Infinity" or null) → its binary form. */
export function encodeSeriesBinary(answer: SeriesBinaryAnswer<Wire>): Uint8Array {
  const heads = answer.series.map(({ data, ...head }) => {
    const fields = Object.keys(data);
    return { ...head, length: fields.length ? data[fields[0]].length : 0, fields };
  });
  const json = new TextEncoder().encode(JSON.stringify({ series: heads, ...(answer.truncated === undefined ? {} : { truncated: answer.truncated }) }));
  const start = align8(8 + json.length);
  const values = heads.reduce((n, h) => n + h.fields.length * h.length, 0);
  const out = new Uint8Array(start + values * 8);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  dv.setUint32(4, json.length, true);
  out.set(json, 8);
  let at = start;
  answer.series.forEach((s, i) => {
    for (const f of heads[i].fields) {
      const arr = s.data[f];
      if (arr.length !== heads[i].length) throw new Error(`series ${i}: ${f} has ${arr.length} values, not ${heads[i].length}`);
      for (let j = 0; j < arr.length; j++, at += 8) dv.setFloat64(at, toF64(arr[j]), true);
    }
  });
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function readF64(buf: ArrayBuffer, at: number, n: number): Float64Array {
  if (LITTLE_ENDIAN) return new Float64Array(buf, at, n);
  const dv = new DataView(buf, at, n * 8);
  return Float64Array.from({ length: n }, (_, i) => dv.getFloat64(i * 8, true));
}

/**
 * The binary form → the JSON answer's shape with numbers: every array a plain number[], NaN and
 * ±Infinity as numbers, and null where the JSON answer has null (min/max/count).
 */
export function decodeSeriesBinary(buf: ArrayBuffer): SeriesBinaryAnswer<number | null> {
  if (buf.byteLength < 8 || new TextDecoder().decode(new Uint8Array(buf, 0, 4)) !== MAGIC) throw new Error('not an ASR1 series answer');
  const h = new DataView(buf).getUint32(4, true);
  if (8 + h > buf.byteLength) throw new Error('ASR1: header past the end');
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, h))) as {
    series: (SeriesBinaryHead & { length: number; fields: string[] })[];
    truncated?: boolean;
  };
  let at = align8(8 + h);
  const series = head.series.map(({ length, fields, ...rest }) => {
    const data: Record<string, (number | null)[]> = {};
    for (const f of fields) {
      if (at + length * 8 > buf.byteLength) throw new Error('ASR1: values past the end');
      const view = readF64(buf, at, length);
      at += length * 8;
      data[f] = NULLABLE.has(f) ? Array.from(view, (v) => (Number.isNaN(v) ? null : v)) : Array.from(view);
    }
    return { ...rest, data };
  });
  if (at !== buf.byteLength) throw new Error('ASR1: trailing bytes');
  return head.truncated === undefined ? { series } : { series, truncated: head.truncated };
}
