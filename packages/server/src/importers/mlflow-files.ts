import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { deletedTarget, finishProjects, runSpecs, type MlflowRun } from './mlflow-map.ts';
import type { Progress } from './progress.ts';
import { eachConcurrently, ImportHttpError, parseValue, type RunWriter, type Sink } from './sink.ts';

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
  artifactDir?: string;
  metricFiles: { key: string; file: string; size: number }[];
}

const readYaml = (file: string): Record<string, unknown> | undefined => {
  try {
    const v = YAML.parse(fs.readFileSync(file, 'utf8'));
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

/** Every file under dir as [key relative to dir with "/", absolute path]. */
function walk(dir: string, prefix = ''): [string, string][] {
  if (!fs.existsSync(dir)) return [];
  const out: [string, string][] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const key = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(path.join(dir, e.name), key));
    else if (e.isFile()) out.push([key, path.join(dir, e.name)]);
  }
  return out;
}

const readKeyValues = (dir: string) => Object.fromEntries(walk(dir).map(([k, f]) => [k, fs.readFileSync(f, 'utf8')]));

export function scanFileStore(root: string, sink: Sink): FileRun[] {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`${root} is not a directory`);
  const runs: FileRun[] = [];
  const dirsOf = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name !== '.trash').map((e) => path.join(d, e.name)).sort() : []);
  let found = 0;
  for (const expDir of [...dirsOf(root), ...dirsOf(path.join(root, '.trash'))]) {
    const meta = readYaml(path.join(expDir, 'meta.yaml'));
    if (!meta || meta.experiment_id === undefined) continue;
    found++;
    const experimentName = String(meta.name ?? path.basename(expDir));
    const experimentTags = readKeyValues(path.join(expDir, 'tags'));
    const experimentDeleted = meta.lifecycle_stage === 'deleted' || path.basename(path.dirname(expDir)) === '.trash';
    for (const runDir of fs.readdirSync(expDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()) {
      const dir = path.join(expDir, runDir);
      const m = readYaml(path.join(dir, 'meta.yaml'));
      const runId = String(m?.run_id ?? m?.run_uuid ?? '');
      if (!m || !runId) continue; // models/, datasets/, tags/ and other non-run directories
      const tags = readKeyValues(path.join(dir, 'tags'));
      let artifactDir = path.join(dir, 'artifacts');
      const uri = typeof m.artifact_uri === 'string' ? m.artifact_uri : '';
      if (uri.startsWith('file:')) {
        const local = fileURLToPath(uri);
        if (fs.existsSync(local)) artifactDir = local;
      }
      runs.push({
        dir,
        runId,
        experimentName,
        runName: typeof m.run_name === 'string' && m.run_name ? m.run_name : undefined,
        status: (m.status as number | string | undefined) ?? 'FINISHED',
        startTime: typeof m.start_time === 'number' ? m.start_time : null,
        endTime: typeof m.end_time === 'number' ? m.end_time : null,
        params: readKeyValues(path.join(dir, 'params')),
        tags,
        deleted: m.lifecycle_stage === 'deleted',
        experimentTags,
        experimentDeleted,
        artifactDir: fs.existsSync(artifactDir) ? artifactDir : undefined,
        metricFiles: walk(path.join(dir, 'metrics')).map(([key, file]) => ({ key, file, size: fs.statSync(file).size })),
      });
    }
  }
  if (!found) throw new Error(`${root} holds no MLflow experiment (no <id>/meta.yaml): is it an mlruns directory?`);
  return runs;
}

const READ_CHUNK = 4 << 20;

/**
 * One metric file into the writer: "<timestamp ms> <value> <step>" per line. The file streams
 * through a reusable 4 MiB buffer (a metric file of any size, not one string of it: V8 strings end
 * at ~512 MiB), each chunk's whole lines turned into one latin1 string and cut by hand — slices of
 * it are views, not copies, which measured faster than parsing the bytes (this loop is the MLflow
 * import's hot path).
 */
export async function readMetricFile(w: RunWriter, key: string, file: string, sink: Sink): Promise<number> {
  let n = 0;
  let bad = 0;
  let last = -1;
  let monotonic = true;
  const seen: number[] = [];
  const fd = fs.openSync(file, 'r');
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
      const text = buf.toString('latin1', 0, end);
      buf.copy(buf, 0, end, have);
      have -= end;
      for (let i = 0; i < text.length; ) {
        let j = text.indexOf('\n', i);
        if (j < 0) j = text.length;
        if (j > i) {
          const line = text.slice(i, j);
          const a = line.indexOf(' ');
          const b = line.indexOf(' ', a + 1);
          const ts = Number(line.slice(0, a));
          const value = parseValue(b < 0 ? line.slice(a + 1) : line.slice(a + 1, b));
          const step = b < 0 ? 0 : Number(line.slice(b + 1));
          if (a < 0 || value === undefined || !Number.isFinite(ts) || !Number.isFinite(step)) bad++;
          else {
            if (step <= last) monotonic = false;
            last = step;
            seen.push(step);
            w.add(key, step, value, ts);
            if (++n % 100_000 === 0) await w.drain();
          }
        }
        i = j + 1;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  if (bad) sink.warn(`${file}: ${bad} unreadable lines skipped`);
  if (!monotonic) {
    const shared = seen.length - new Set(seen).size;
    if (shared) sink.warn(`${w.spec.name}: metric '${key}' logs ${shared} points at a step logged before; Assay keeps one value per step (the last logged)`);
  }
  return n;
}

export async function uploadArtifacts(w: RunWriter, dir: string, sink: Sink): Promise<void> {
  const existing = await w.existingArtifacts();
  for (const [rel, file] of walk(dir)) {
    try {
      await w.artifact(rel, file, existing);
    } catch (e) {
      if (!(e instanceof ImportHttpError) || e.status >= 500) throw e;
      sink.warn(`artifact ${file}: ${e.message}`);
    }
  }
}

export async function importMlflowFiles(root: string, sink: Sink, progress: Progress, o: { project?: string; artifacts?: boolean; jobs?: number }): Promise<void> {
  const runs = scanFileStore(root, sink);
  const specs = runSpecs(sink, runs, o.project);
  progress.start(runs.reduce((s, r) => s + r.metricFiles.reduce((t, m) => t + m.size, 0), 0), 'bytes');
  await eachConcurrently(runs, o.jobs ?? 4, async (r) => {
    if (await deletedTarget(sink, specs.get(r)!)) return;
    const w = await sink.run(specs.get(r)!);
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
