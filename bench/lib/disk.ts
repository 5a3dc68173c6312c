import fs from 'node:fs';
import path from 'node:path';

/**
 * On-disk size of a ClickHouse MergeTree table in the embedded chDB store, read from the files
 * (the server exposes no system.parts). `<ch>/data/<db>/<table>` links to `store/xxx/<uuid>/`;
 * every part directory is `<partition>_<minBlock>_<maxBlock>_<level>[_<mutation>]`. Outdated
 * parts linger on disk after a merge until cleanup, so a part whose block range lies inside
 * another part's range is dropped — what remains is the active set system.parts would report.
 * Rows come from each part's count.txt; bytes are the parts' file sizes (= bytes_on_disk).
 */
export interface TableDisk {
  dir: string;
  parts: number;
  rows: number;
  bytes: number;
  wideParts: number;
  columns: Record<string, number>; // per-column .bin+.cmrk* bytes over wide parts
  columnsRows: number; // rows of the wide parts the column figures cover
}

interface Part {
  name: string;
  partition: string;
  min: number;
  max: number;
  level: number;
  mutation: number;
}

function parsePart(name: string): Part | undefined {
  const m = /^(.+)_(\d+)_(\d+)_(\d+)(?:_(\d+))?$/.exec(name);
  if (!m) return undefined;
  return { name, partition: m[1], min: Number(m[2]), max: Number(m[3]), level: Number(m[4]), mutation: Number(m[5] ?? 0) };
}

function covers(a: Part, b: Part): boolean {
  if (a === b || a.partition !== b.partition || a.min > b.min || a.max < b.max) return false;
  if (a.min === b.min && a.max === b.max) return a.level > b.level || (a.level === b.level && a.mutation > b.mutation);
  return true;
}

export function tableDir(chPath: string, table: string, database = 'default'): string {
  return fs.realpathSync(path.join(chPath, 'data', database, table));
}

export function measureTable(chPath: string, table: string, database = 'default'): TableDisk {
  const dir = tableDir(chPath, table, database);
  const parts = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('tmp') && d.name !== 'detached' && !d.name.startsWith('delete_tmp'))
    .map((d) => parsePart(d.name))
    .filter((p): p is Part => p !== undefined);
  const active = parts.filter((p) => !parts.some((q) => covers(q, p)));
  const out: TableDisk = { dir, parts: active.length, rows: 0, bytes: 0, wideParts: 0, columns: {}, columnsRows: 0 };
  for (const p of active) {
    const pdir = path.join(dir, p.name);
    let rows = 0;
    try {
      rows = Number(fs.readFileSync(path.join(pdir, 'count.txt'), 'utf8').trim());
    } catch {
      continue; // part being written/removed right now
    }
    out.rows += rows;
    const files = fs.readdirSync(pdir);
    const wide = !files.includes('data.bin');
    if (wide) {
      out.wideParts++;
      out.columnsRows += rows;
    }
    for (const f of files) {
      const size = fs.statSync(path.join(pdir, f)).size;
      out.bytes += size;
      const col = /^(.+?)\.(bin|cmrk\d*|mrk\d*)$/.exec(f)?.[1];
      if (wide && col) out.columns[col] = (out.columns[col] ?? 0) + size;
    }
  }
  return out;
}

/** Total apparent size of a directory tree. */
export function dirBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}
