/**
 * Partial rows keyed by (host, bucket) — the rollup levels of partials.ts — kept as columns rather
 * than objects. The fine rollup makes a row per 8 points: as objects (a partial, its kept-point
 * tuples, then a row array for nativeBlock) they lived until the request was encoded, survived the
 * young-generation collections and made V8's GC about a quarter of the server's CPU in an import.
 * Here a row is an index into one Float64Array, and its Native block is written column by column.
 */
import { ByteWriter, nativeString, u16, type NativeType } from './native.ts';

/**
 * The columns of a rollup input table that a BucketRows holds, in the table's order: everything
 * after the key and the host, without the retention (both are written from the request).
 */
export function dataColumns(columns: readonly (readonly [string, NativeType])[]): string[] {
  const names = columns.map(([c]) => c);
  return names.slice(names.indexOf('host') + 1).filter((c) => c !== 'retention_days');
}

/**
 * Column arrays given back once a request's blocks are written, for the next request's rows. A new
 * one is an ArrayBuffer (external memory to V8): a few MB of them per 100k-point request made V8
 * start full heap markings more often than the per-row objects they replaced had.
 */
const spare = new Map<number, Float64Array[]>();
const SPARE_MAX_LENGTH = 1 << 17; // 1 MB: the arrays of very large batches are left to the GC
const SPARE_PER_LENGTH = 64;

function take(length: number): Float64Array {
  return spare.get(length)?.pop() ?? new Float64Array(length);
}

function give(a: Float64Array): void {
  if (a.length === 0 || a.length > SPARE_MAX_LENGTH) return;
  let free = spare.get(a.length);
  if (!free) spare.set(a.length, (free = []));
  if (free.length < SPARE_PER_LENGTH) free.push(a);
}

export abstract class BucketRows {
  n = 0;
  /** Rows each column has room for; column c of row r is data[c * capacity + r]. */
  capacity = 64;
  /** Column 0 the bucket, then the blank-initialised ones, last the row's index in `hosts`. */
  data: Float64Array;
  readonly hosts: string[] = [];
  private readonly hostColumn: number;
  private readonly hostIndex = new Map<string, number>();
  private readonly rowsByHost: Map<number, number>[] = [];
  // the row of the previous point: a series arrives in step order, so most points reuse it
  private currentHost: string | undefined;
  private currentBucket = -1;
  private current = -1;

  /**
   * @param blank a new row's values, per column after the bucket (column 0); the columns past the
   *   written ones (dataColumns) are the subclass's own bookkeeping
   */
  constructor(private readonly blank: readonly number[]) {
    this.hostColumn = blank.length + 1;
    this.data = take((this.hostColumn + 1) * this.capacity);
  }

  protected row(host: string, bucket: number): number {
    if (bucket === this.currentBucket && host === this.currentHost) return this.current;
    let h = this.hostIndex.get(host);
    if (h === undefined) {
      this.hostIndex.set(host, (h = this.hosts.length));
      this.hosts.push(host);
      this.rowsByHost.push(new Map());
    }
    const rows = this.rowsByHost[h];
    let r = rows.get(bucket);
    if (r === undefined) rows.set(bucket, (r = this.append(h, bucket)));
    this.currentHost = host;
    this.currentBucket = bucket;
    this.current = r;
    return r;
  }

  // every column of the row is written: the arrays are reused, so they hold an old request's values
  private append(host: number, bucket: number): number {
    if (this.n === this.capacity) this.grow();
    const r = this.n++;
    const cap = this.capacity;
    this.data[r] = bucket;
    for (let c = 0; c < this.blank.length; c++) this.data[(c + 1) * cap + r] = this.blank[c];
    this.data[this.hostColumn * cap + r] = host;
    return r;
  }

  private grow(): void {
    const old = this.capacity;
    const cap = old * 2;
    const data = take(this.data.length * 2);
    for (let c = 0; c <= this.hostColumn; c++) data.set(this.data.subarray(c * old, c * old + this.n), c * cap);
    give(this.data);
    this.data = data;
    this.capacity = cap;
  }

  column(c: number): Float64Array {
    return this.data.subarray(c * this.capacity, c * this.capacity + this.n);
  }

  hostOf(r: number): number {
    return this.data[this.hostColumn * this.capacity + r];
  }

  /** Hands the columns back for reuse; the rows are gone (n = 0) and must not be added to again. */
  release(): void {
    give(this.data);
    this.data = new Float64Array(0);
    this.n = 0;
  }
}

const KEY_IDS = ['team_id', 'project_id', 'experiment_id'];

/**
 * One Native block of the rows of several metrics (each metric's rows back to back): the ids and
 * the retention repeated, the metric name and the host as runs, the data columns copied (Float64)
 * or converted per column (integers) from the rows' arrays.
 */
export function bucketBlock(
  columns: readonly (readonly [string, NativeType])[],
  ids: readonly Buffer[],
  retentionDays: number,
  metrics: readonly { name: string; rows: BucketRows }[],
): Buffer | undefined {
  let n = 0;
  for (const m of metrics) n += m.rows.n;
  if (n === 0) return undefined;
  const data = dataColumns(columns);
  const w = new ByteWriter(1024 + n * (8 * data.length + 64));
  w.varint(columns.length);
  w.varint(n);
  for (const [name, type] of columns) {
    w.string(name);
    w.string(type);
    if (KEY_IDS.includes(name)) w.repeat(ids[KEY_IDS.indexOf(name)], n);
    else if (name === 'retention_days') w.repeat(u16(retentionDays), n);
    else if (name === 'metric_name') for (const m of metrics) w.repeat(nativeString(m.name), m.rows.n);
    else if (name === 'host') for (const m of metrics) hostRuns(w, m.rows);
    else for (const m of metrics) w.numbers(type, m.rows.column(data.indexOf(name)));
  }
  return w.result;
}

function hostRuns(w: ByteWriter, rows: BucketRows): void {
  const encoded = rows.hosts.map(nativeString);
  let start = 0;
  for (let r = 1; r <= rows.n; r++) {
    if (r < rows.n && rows.hostOf(r) === rows.hostOf(start)) continue;
    w.repeat(encoded[rows.hostOf(start)], r - start);
    start = r;
  }
}
