import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { FileShrankError } from './artifact-files.ts';
import { deletedTarget, finishProjects, runSpecs, type MlflowRun } from './mlflow-map.ts';
import type { Progress } from './progress.ts';
import { LIMITS } from '@assay/contracts';
import { entries, pathText, type Entry, type SourcePath } from './fs-entries.ts';
import { eachConcurrently, ImportHttpError, parseValue, refusedRun, type RunWriter, type Sink, type Value } from './sink.ts';

/*
 * MLflow's file store (`mlruns/`): <experiment_id>/meta.yaml, <experiment_id>/<run_id>/meta.yaml,
 * and per run params/<key>, tags/<key> (the value is the whole file; keys with "/" are
 * subdirectories), metrics/<key> ("<timestamp ms> <value> <step>" per line, appended in logging
 * order) and artifacts/; <experiment_id>/tags/<key> are the experiment's tags. Deleted experiments
 * (moved to .trash/ by MLflow, lifecycle_stage deleted) and deleted runs are imported and then
 * soft-deleted on Assay, as MLflow's delete_experiment / delete_run would.
 */

interface FileRun extends MlflowRun {
  dir: string;
  artifactDir?: SourcePath;
  metricFiles: { key: string; file: SourcePath; size: number }[];
}

/** The file's YAML mapping; undefined when it is missing, `false` when it is there but no mapping. */
const readYaml = (file: SourcePath): Record<string, unknown> | undefined | false => {
  if (!fs.existsSync(file)) return undefined;
  try {
    const v = YAML.parse(fs.readFileSync(file, 'utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : false;
  } catch {
    return false;
  }
};

/** Every file under dir as [key relative to dir with "/", path]; a name that is not UTF-8 is a warning. */
function walk(dir: SourcePath, sink: Sink, prefix = ''): [string, SourcePath][] {
  if (!fs.existsSync(dir)) return [];
  const out: [string, SourcePath][] = [];
  for (const e of entries(dir)) {
    const key = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.mangled) sink.warn(`${pathText(e.path)}: the file name is not UTF-8; read as ${JSON.stringify(key)}`);
    if (e.dir) out.push(...walk(e.path, sink, key));
    else if (e.file) out.push([key, e.path]);
  }
  return out;
}

/** Param and tag files: the value is the whole file; bytes that are not UTF-8 read as U+FFFD, with a warning. */
function readKeyValues(dir: string, sink: Sink): Record<string, string> {
  return Object.fromEntries(walk(dir, sink).map(([k, f]) => {
    const bytes = fs.readFileSync(f);
    const text = bytes.toString('utf8');
    if (!Buffer.from(text).equals(bytes)) sink.warn(`${pathText(f)}: not UTF-8; read with U+FFFD in place of the bad bytes`);
    return [k, text];
  }));
}

/** A time from meta.yaml as epoch ms, or null (with a warning) when it is not one Assay can store. */
function metaTime(v: unknown, what: string, sink: Sink): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= LIMITS.timestampMaxMs) return Math.round(v);
  sink.warn(`${what}: ${JSON.stringify(v)} is no time in epoch ms from 1970 to 2106; left out`);
  return null;
}

/** A name from meta.yaml as text the server stores: lone surrogates as U+FFFD, a blank or non-text name replaced by the fallback. */
function metaName(v: unknown, fallback: string, what: string, sink: Sink): string {
  if (v === undefined || v === null) return fallback;
  const s = typeof v === 'string' || typeof v === 'number' ? String(v).toWellFormed() : '';
  const ok = s.trim() !== '';
  if ((!ok && fallback) || (ok && typeof v === 'string' && s !== v)) sink.warn(`${what}: ${JSON.stringify(v)} ${ok ? `read as ${JSON.stringify(s)}` : `is no name; ${JSON.stringify(fallback)} used`}`);
  return ok ? s : fallback;
}

/** Experiment and run directories are named by ids MLflow writes as ASCII: one that is not UTF-8 is no MLflow directory. */
function mangledDir(e: Entry, sink: Sink): boolean {
  if (e.mangled) sink.warn(`${pathText(e.path)}: the directory name is not UTF-8; skipped`);
  return e.mangled;
}

export function scanFileStore(root: string, sink: Sink): FileRun[] {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`${root} is not a directory`);
  const runs: FileRun[] = [];
  const dirsOf = (d: string) => (fs.existsSync(d) ? entries(d).filter((e) => e.dir && e.name !== '.trash' && !mangledDir(e, sink)).map((e) => e.path as string) : []);
  const runDirs = new Map<string, string>();
  let found = 0;
  for (const expDir of [...dirsOf(root), ...dirsOf(path.join(root, '.trash'))]) {
    const metaFile = path.join(expDir, 'meta.yaml');
    const meta = readYaml(metaFile);
    if (meta === false || (meta && meta.experiment_id === undefined)) sink.warn(`${metaFile}: not an MLflow experiment's meta.yaml (a YAML mapping with experiment_id); directory skipped`);
    if (!meta || meta.experiment_id === undefined) continue;
    found++;
    const experimentName = metaName(meta.name, path.basename(expDir), `${metaFile}: name`, sink);
    const experimentTags = readKeyValues(path.join(expDir, 'tags'), sink);
    const experimentDeleted = meta.lifecycle_stage === 'deleted' || path.basename(path.dirname(expDir)) === '.trash';
    for (const e of entries(expDir).filter((x) => x.dir && !mangledDir(x, sink))) {
      const dir = e.path as string;
      const runMeta = path.join(dir, 'meta.yaml');
      const m = readYaml(runMeta);
      const runId = m ? metaName(m.run_id ?? m.run_uuid, '', `${runMeta}: run_id`, sink) : '';
      if (!m || !runId) {
        // models/, datasets/, tags/ and other non-run directories have no meta.yaml and no metrics
        if (m !== undefined || fs.existsSync(path.join(dir, 'metrics'))) sink.warn(`${runMeta}: not an MLflow run's meta.yaml (a YAML mapping with run_id); run directory skipped`);
        continue;
      }
      const seenIn = runDirs.get(runId);
      if (seenIn) {
        sink.warn(`${dir}: run id ${runId} was read from ${seenIn} already; this copy is skipped`);
        continue;
      }
      runDirs.set(runId, dir);
      const tags = readKeyValues(path.join(dir, 'tags'), sink);
      let artifactDir = path.join(dir, 'artifacts');
      const uri = typeof m.artifact_uri === 'string' ? m.artifact_uri : '';
      if (uri.startsWith('file:')) {
        try {
          const local = fileURLToPath(uri);
          if (fs.existsSync(local)) artifactDir = local;
        } catch {
          sink.warn(`${runMeta}: artifact_uri ${JSON.stringify(uri)} is no file URL; ${artifactDir} used`);
        }
      }
      runs.push({
        dir,
        runId,
        experimentName,
        runName: typeof m.run_name === 'string' && m.run_name ? metaName(m.run_name, runId, `${runMeta}: run_name`, sink) : undefined,
        status: (m.status as number | string | undefined) ?? 'FINISHED',
        startTime: metaTime(m.start_time, `${runMeta}: start_time`, sink),
        endTime: metaTime(m.end_time, `${runMeta}: end_time`, sink),
        params: readKeyValues(path.join(dir, 'params'), sink),
        tags,
        deleted: m.lifecycle_stage === 'deleted',
        experimentTags,
        experimentDeleted,
        artifactDir: fs.existsSync(artifactDir) ? artifactDir : undefined,
        metricFiles: walk(path.join(dir, 'metrics'), sink).map(([key, file]) => ({ key, file, size: fs.statSync(file).size })),
      });
    }
  }
  if (!found) throw new Error(`${root} holds no MLflow experiment (no <id>/meta.yaml): is it an mlruns directory?`);
  return runs;
}

const READ_CHUNK = 4 << 20;

/** 10^0 … 10^22, each an exact double (from their literals). */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));
const TWO53 = 2 ** 53;

/**
 * The lines of one metric file into its writer. A line of plain digits, a decimal value and plain
 * digits ("1700000000000 0.125 3", the form MLflow writes) is parsed from the bytes: no string per
 * line or field. The value's digits form an integer m and it is m / 10^k: while m < 2^53 both are
 * exact doubles, so the one division rounds correctly and gives Number()'s double (Clinger's fast
 * path). Any other value (m ≥ 2^53 — many 17-digit reprs —, exponents, nan, inf) goes through
 * parseValue, and any other line through the string code the byte path replaced, so what is
 * accepted, skipped or warned about stays exactly as before.
 */
class MetricLines {
  n = 0;
  bad = 0;
  last = -1;
  monotonic = true;
  readonly seen: number[] = [];
  private text: string | undefined;

  constructor(private readonly w: RunWriter, private readonly key: string) {}

  /** Every line of buf[0, end): end is just past a newline, or the end of the file. */
  parse(buf: Buffer, end: number): void {
    this.text = undefined;
    let i = 0;
    while (i < end) {
      if (buf[i] === 10) {
        i++;
        continue;
      }
      const next = this.parseLine(buf, i, end);
      if (next > 0) i = next;
      else {
        let j = buf.indexOf(10, i);
        if (j < 0 || j > end) j = end;
        this.stringLine((this.text ??= buf.toString('latin1', 0, end)).slice(i, j));
        i = j + 1;
      }
    }
  }

  /** The line at buf[i] if it has the plain form: the position after its newline, else -1. */
  private parseLine(buf: Buffer, i: number, end: number): number {
    let p = i;
    let ts = 0;
    for (let c = 0; p < end && (c = buf[p]) >= 48 && c <= 57; p++) ts = ts * 10 + c - 48;
    if (p === i || p - i > 15 || p >= end || buf[p] !== 32) return -1;
    const vs = ++p;
    const negative = buf[p] === 45;
    if (negative) p++;
    let m = 0;
    let digits = 0;
    let scale = 0;
    let dot = false;
    for (; p < end; p++) {
      const c = buf[p];
      if (c >= 48 && c <= 57) {
        m = m * 10 + c - 48;
        digits++;
        if (dot) scale--;
      } else if (c === 46 && !dot) dot = true;
      else break;
    }
    let value: Value | undefined;
    if (p < end && buf[p] === 32 && digits > 0 && m < TWO53 && scale >= -22) {
      value = scale ? m / POW10[-scale] : m;
      if (negative) value = -value;
    } else {
      // exponents, nan/inf, more digits: the text's own value
      while (p < end && buf[p] !== 32 && buf[p] !== 10) p++;
      if (p >= end || buf[p] !== 32) return -1;
      value = parseValue((this.text ??= buf.toString('latin1', 0, end)).slice(vs, p));
      if (value === undefined) return -1;
    }
    const ss = ++p;
    let step = 0;
    for (let c = 0; p < end && (c = buf[p]) >= 48 && c <= 57; p++) step = step * 10 + c - 48;
    if (p === ss || p - ss > 15) return -1;
    if (p < end && buf[p] === 13) p++; // CRLF: Number() ignores the CR
    if (p < end && buf[p] !== 10) return -1;
    this.accept(ts, value, step);
    return p + 1;
  }

  /** One line by string slicing and Number(): every form the byte path does not take. */
  private stringLine(line: string): void {
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    const ts = Number(line.slice(0, a));
    const value = parseValue(b < 0 ? line.slice(a + 1) : line.slice(a + 1, b));
    const step = b < 0 ? 0 : Number(line.slice(b + 1));
    if (a < 0 || value === undefined || !Number.isFinite(ts) || !Number.isFinite(step)) this.bad++;
    else this.accept(ts, value, step);
  }

  private accept(ts: number, value: Value, step: number): void {
    if (step <= this.last) this.monotonic = false;
    this.last = step;
    this.seen.push(step);
    this.w.add(this.key, step, value, ts);
    this.n++;
  }
}

/**
 * One metric file into the writer: "<timestamp ms> <value> <step>" per line. The file streams
 * through a reusable 4 MiB buffer (a metric file of any size, not one string of it: V8 strings end
 * at ~512 MiB), whole lines per chunk; the writer is drained after each chunk (backpressure).
 */
export async function readMetricFile(w: RunWriter, key: string, file: SourcePath, sink: Sink): Promise<number> {
  const lines = new MetricLines(w, key);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    sink.warn(`${pathText(file)}: cannot be read (${(e as Error).message}); metric skipped`);
    return 0;
  }
  try {
    let buf = Buffer.allocUnsafe(READ_CHUNK);
    let have = 0;
    for (let eof = false; !eof; ) {
      if (have === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2); // a line longer than the buffer
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const got = fs.readSync(fd, buf, have, buf.length - have, null);
      eof = got === 0;
      have += got;
      const end = eof ? have : buf.lastIndexOf(10, have - 1) + 1; // whole lines only, until the last one
      if (end <= 0) continue;
      lines.parse(buf, end);
      buf.copy(buf, 0, end, have);
      have -= end;
      await w.drain();
    }
  } finally {
    fs.closeSync(fd);
  }
  if (lines.bad) sink.warn(`${pathText(file)}: ${lines.bad} unreadable lines skipped`);
  if (!lines.monotonic) {
    const shared = lines.seen.length - new Set(lines.seen).size;
    if (shared) sink.warn(`${w.spec.name}: metric '${key}' logs ${shared} points at a step logged before; Assay keeps one value per step (the last logged)`);
  }
  return lines.n;
}

export async function uploadArtifacts(w: RunWriter, dir: SourcePath, sink: Sink): Promise<void> {
  const existing = await w.existingArtifacts();
  for (const [rel, file] of walk(dir, sink)) {
    try {
      await w.artifact(rel, file, existing);
    } catch (e) {
      if (!(e instanceof FileShrankError) && (!(e instanceof ImportHttpError) || e.status >= 500)) throw e;
      sink.warn(`artifact ${pathText(file)}: ${e.message}`);
    }
  }
}

export async function importMlflowFiles(root: string, sink: Sink, progress: Progress, o: { project?: string; artifacts?: boolean; jobs?: number }): Promise<void> {
  const runs = scanFileStore(root, sink);
  const specs = runSpecs(sink, runs, o.project);
  progress.start(runs.reduce((s, r) => s + r.metricFiles.reduce((t, m) => t + m.size, 0), 0), 'bytes');
  await eachConcurrently(runs, o.jobs ?? 4, async (r) => {
    if (await deletedTarget(sink, specs.get(r)!)) return;
    let w: RunWriter;
    try {
      w = await sink.run(specs.get(r)!);
    } catch (e) {
      if (!refusedRun(e)) throw e;
      sink.warn(`${r.dir}: run not imported: ${e.message}`);
      return;
    }
    for (const m of r.metricFiles) {
      await readMetricFile(w, m.key, m.file, sink);
      progress.advance(m.size);
    }
    // before finish(): a deleted run is deleted there, last
    if (o.artifacts && r.artifactDir) await uploadArtifacts(w, r.artifactDir, sink);
    await w.finish();
  });
  await finishProjects(sink, runs, o.project);
  progress.stop();
}
