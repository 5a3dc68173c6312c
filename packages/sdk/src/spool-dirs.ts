/**
 * Where spools live (docs/sdk-delivery.md rule 5). Both SDKs share one root — `ASSAY_SPOOL_DIR`,
 * default `~/.assay/spool` — with a directory each: `<root>/node` (this SDK's segments) and
 * `<root>/python` (run directories of `research_sdk`). Spools of older versions sit directly in
 * the root. Node only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** `ASSAY_SPOOL_DIR`, or `~/.assay/spool`. */
export function defaultSpoolRoot(): string {
  const env = process.env.ASSAY_SPOOL_DIR;
  return env && env.trim() ? path.resolve(env.trim().replace(/^~(?=$|\/)/, os.homedir())) : path.join(os.homedir(), '.assay', 'spool');
}

/** This SDK's default spool directory: `<root>/node`. */
export function defaultSpoolDir(): string {
  return path.join(defaultSpoolRoot(), 'node');
}

/** Another SDK's spool found next to ours: what `sync` reports instead of skipping it silently. */
export interface ForeignSpool {
  sdk: 'python';
  /** The directory to pass to the other SDK's sync. */
  dir: string;
  /** Run directories (each a `meta.json` and its `seg-*.jsonl` segments). */
  runs: number;
  /** Segment files in them. */
  segments: number;
  /** The command that replays them. */
  command: string;
}

const PY_SEGMENT = /^seg-\d{16}\.jsonl$/;

function entries(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** A Python run directory (python/research_sdk/_spool.py): `meta.json` plus `seg-*.jsonl` segments. */
function pythonRun(dir: string): { segments: number } | null {
  const names = entries(dir).map((e) => e.name);
  if (!names.includes('meta.json')) return null;
  return { segments: names.filter((n) => PY_SEGMENT.test(n)).length };
}

/** Python runs in `dir` itself (a run directory) or one level below it (a spool root). */
function pythonRunsIn(dir: string): { runs: number; segments: number } {
  const self = pythonRun(dir);
  if (self) return { runs: 1, segments: self.segments };
  let runs = 0;
  let segments = 0;
  for (const e of entries(dir)) {
    if (!e.isDirectory()) continue;
    const r = pythonRun(path.join(dir, e.name));
    if (r) {
      runs++;
      segments += r.segments;
    }
  }
  return { runs, segments };
}

/**
 * The Python SDK's spools in `dir`, in its sibling default (`../python` when `dir` is a `node`
 * directory) and, for the default layout, legacy Python runs directly in the root.
 */
export function findForeignSpools(dir: string): ForeignSpool[] {
  const abs = path.resolve(dir);
  const places = [abs];
  if (path.basename(abs) === 'node') places.push(path.join(path.dirname(abs), 'python'), path.dirname(abs));
  else if (fs.existsSync(path.join(abs, 'python'))) places.push(path.join(abs, 'python'));
  const out: ForeignSpool[] = [];
  for (const place of [...new Set(places)]) {
    const { runs, segments } = pythonRunsIn(place);
    if (runs > 0) out.push({ sdk: 'python', dir: place, runs, segments, command: `ASSAY_API_KEY=<key> python -m research_sdk sync ${place}` });
  }
  return out;
}

/**
 * The directories `sync` replays for `dir`: the directory itself, plus — when it is this SDK's
 * default spool directory — the legacy segments left directly in the root by older versions.
 */
export function syncDirs(dir: string | undefined): string[] {
  if (dir !== undefined && path.resolve(dir) !== defaultSpoolDir()) return [path.resolve(dir)];
  return [defaultSpoolDir(), defaultSpoolRoot()];
}
