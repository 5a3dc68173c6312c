/**
 * The on-disk spool (Node only). One segment file per run-while-offline, in the spool directory
 * (default `$ASSAY_SPOOL_DIR/node`, see spool-dirs.ts):
 *   <spoolDir>/<yyyymmddThhmmssSSS>-<pid>-<rand>.jsonl   append-only JSONL, fsynced per append
 *   <same>.offset   byte offset of the first record not yet replayed (rewritten by rename)
 *   <same>.lock     {pid, hostname}: the live process that owns (appends to) the segment
 * The first line is a header naming the project/experiment (ids when known, names always), so a
 * segment written by a run that never reached the server can still be replayed: `syncSpool` gets or
 * creates the experiment by name. Records replay in file order; metric batches carry `batch_id`, so
 * replaying one that had already reached the server is a no-op.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { WirePoint } from './values.ts';
import type { CodeSnapshot, ExperimentCreate, ExperimentPatch, Features, FinishStatus } from './types.ts';

export const SPOOL_VERSION = 1;

/** What get-or-create sends besides the name (tags, features, description, parent, host). */
export type CreateFields = Omit<ExperimentCreate, 'name'>;

export interface HeaderRecord {
  type: 'header';
  v: number;
  api_url: string | null;
  project: string;
  experiment: string;
  project_id: string | null;
  experiment_id: string | null;
  create?: CreateFields;
  team_id?: string | null;
  /** `experiment` is an id to resume (Experiment.resume started offline), not a name. */
  resume_id?: string | null;
  pid: number;
  hostname: string;
  created_at: string;
}
export interface MetricsRecord {
  type: 'metrics';
  batch_id: string;
  metrics: WirePoint[];
}
export interface FeaturesRecord {
  type: 'features';
  features: Features;
}
/** A PATCH of the experiment (tags, description). */
export interface PatchRecord {
  type: 'patch';
  patch: Omit<ExperimentPatch, 'status' | 'features'>;
}
export interface CodeRecord {
  type: 'code';
  code: CodeSnapshot;
}
export interface StatusRecord {
  type: 'status';
  status: FinishStatus | 'running';
}
export interface ArtifactRecord {
  type: 'artifact';
  local_path: string;
  path: string;
  sha256: string;
  size: number;
}
export type SpoolRecord = HeaderRecord | MetricsRecord | FeaturesRecord | PatchRecord | CodeRecord | StatusRecord | ArtifactRecord;

/** Segment file names: `<UTC stamp>-<pid>-<hex>.jsonl` (the Python SDK's `seg-*.jsonl` never match). */
export const SEGMENT_RE = /^\d{8}T\d{9}-\d+-[0-9a-f]+\.jsonl$/;

/** Segment paths owned by live Experiments in this process (syncSpool must not touch them). */
export const activeSegments = new Set<string>();

function stamp(d = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}${p(d.getUTCMilliseconds(), 3)}`
  );
}

const sidecar = (file: string, ext: string) => file.replace(/\.jsonl$/, ext);

/** An owned, open segment. All I/O is synchronous so it also works from `process.on('exit')`. */
export class SpoolSegment {
  readonly path: string;
  private fd: number | null;
  private _offset = 0;
  private _size = 0;

  private constructor(file: string, fd: number, size: number) {
    this.path = file;
    this.fd = fd;
    this._size = size;
  }

  static create(dir: string, header: Omit<HeaderRecord, 'type' | 'v' | 'pid' | 'hostname' | 'created_at'>): SpoolSegment {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const name = `${stamp()}-${process.pid}-${randomBytes(4).toString('hex')}.jsonl`;
    const file = path.join(dir, name);
    fs.writeFileSync(sidecar(file, '.lock'), JSON.stringify({ pid: process.pid, hostname: os.hostname() }), { mode: 0o600 });
    const fd = fs.openSync(file, 'a', 0o600);
    const seg = new SpoolSegment(file, fd, 0);
    activeSegments.add(file);
    const h: HeaderRecord = { type: 'header', v: SPOOL_VERSION, ...header, pid: process.pid, hostname: os.hostname(), created_at: new Date().toISOString() };
    seg.append([h]);
    try {
      // make the new directory entry durable too
      const dfd = fs.openSync(dir, 'r');
      try {
        fs.fsyncSync(dfd);
      } finally {
        fs.closeSync(dfd);
      }
    } catch {
      /* not supported on every platform */
    }
    return seg;
  }

  get size(): number {
    return this._size;
  }
  get offset(): number {
    return this._offset;
  }
  get isOpen(): boolean {
    return this.fd !== null;
  }

  /** Append records as JSON lines in one write, then fsync. */
  append(records: SpoolRecord[]): void {
    if (this.fd === null) throw new Error(`spool segment ${this.path} is closed`);
    if (records.length === 0) return;
    let s = '';
    for (const r of records) s += JSON.stringify(r) + '\n';
    const buf = Buffer.from(s, 'utf8');
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off);
    fs.fsyncSync(this.fd);
    this._size += buf.length;
  }

  /** Record replay progress (not fsynced: replaying a record twice is harmless). */
  setOffset(offset: number): void {
    this._offset = offset;
    writeOffset(this.path, offset);
  }

  /** Stop appending and give the segment to `syncSpool` (removes the lock). */
  close(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
    activeSegments.delete(this.path);
    rmQuiet(sidecar(this.path, '.lock'));
  }

  /** Everything replayed: delete the segment and its sidecars. */
  remove(): void {
    this.close();
    removeSegment(this.path);
  }
}

export function readOffset(file: string): number {
  try {
    const n = parseInt(fs.readFileSync(sidecar(file, '.offset'), 'utf8'), 10);
    return Number.isFinite(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}

export function writeOffset(file: string, offset: number): void {
  const target = sidecar(file, '.offset');
  const tmp = `${target}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, String(offset));
  fs.renameSync(tmp, target);
}

function rmQuiet(p: string) {
  try {
    fs.rmSync(p, { force: true });
  } catch {
    /* ignore */
  }
}

export function removeSegment(file: string): void {
  rmQuiet(file);
  rmQuiet(sidecar(file, '.offset'));
  rmQuiet(sidecar(file, '.lock'));
}

export interface ReadItem {
  record: SpoolRecord;
  /** Byte offset just past this record's line. */
  end: number;
}

/**
 * Read complete records starting at byte `offset` (at most ~`maxBytes`, but always at least one
 * record). A torn last line (crash mid-append) is ignored; an unparsable line in the middle is
 * skipped and reported through `onCorrupt`.
 */
export function readRecords(
  file: string,
  offset: number,
  maxBytes = 8 * 1024 * 1024,
  onCorrupt?: (line: string, at: number) => void,
): ReadItem[] {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (offset >= size) return [];
    let want = Math.min(maxBytes, size - offset);
    let buf: Buffer;
    let lastNl: number;
    for (;;) {
      buf = Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(fd, buf, got, want - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      buf = buf.subarray(0, got);
      lastNl = buf.lastIndexOf(0x0a);
      if (lastNl >= 0 || offset + got >= size) break;
      want = Math.min(want * 2, size - offset); // one line longer than maxBytes
    }
    const items: ReadItem[] = [];
    let start = 0;
    while (start <= lastNl) {
      const nl = buf.indexOf(0x0a, start);
      const line = buf.subarray(start, nl).toString('utf8');
      const end = offset + nl + 1;
      if (line.trim() !== '') {
        try {
          items.push({ record: JSON.parse(line) as SpoolRecord, end });
        } catch {
          onCorrupt?.(line, offset + start);
        }
      }
      start = nl + 1;
    }
    return items;
  } finally {
    fs.closeSync(fd);
  }
}

/** The header (first line) of a segment, or null if missing/corrupt. */
export function readHeader(file: string): { header: HeaderRecord; end: number } | null {
  const items = readRecords(file, 0, 1024 * 1024);
  const first = items[0];
  if (!first || first.record.type !== 'header') return null;
  return { header: first.record, end: first.end };
}

/** Segment files in `dir`, oldest first (names start with a UTC timestamp). */
export function listSegments(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => SEGMENT_RE.test(n))
    .sort()
    .map((n) => path.join(dir, n));
}

/** Is the segment owned by a live process (this one included)? */
export function isLocked(file: string): boolean {
  if (activeSegments.has(file)) return true;
  let lock: { pid?: number; hostname?: string };
  try {
    lock = JSON.parse(fs.readFileSync(sidecar(file, '.lock'), 'utf8'));
  } catch {
    return false; // no lock (or unreadable): the owner finished or died
  }
  if (lock.hostname && lock.hostname !== os.hostname()) return true; // can't check another machine's pids
  if (!lock.pid || lock.pid === process.pid) return false; // our pid but not active: a finished experiment
  try {
    process.kill(lock.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
