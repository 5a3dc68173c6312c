import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { Progress } from './progress.ts';
import { clip, eachConcurrently, refusedRun, uniqueNames, type RunWriter, type Sink } from './sink.ts';
import { readTable } from './table.ts';
import { entries, pathText } from './fs-entries.ts';

/*
 * W&B history in files. A run is any directory under the export dir holding `wandb-history.jsonl`
 * (what `wandb` wrote into `wandb/run-*\/files/` locally, and what the export snippet in the README
 * writes from the public API's `run.scan_history()`), with optional `config.yaml` (→ features, the
 * `value` of each entry) and `wandb-metadata.json` (`startedAt`). The experiment is named by the
 * directory's path relative to the export dir, a trailing `files` dropped. The binary
 * `run-*.wandb` transaction log of offline runs is not read (see README).
 */

export interface WandbRun {
  dir: string;
  name: string;
  history: string;
}

export function scanExport(root: string, onWarning: (msg: string) => void = () => {}): WandbRun[] {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`${root} is not a directory`);
  const out: WandbRun[] = [];
  const walk = (dir: string) => {
    const list = entries(dir);
    const history = list.find((e) => e.file && e.name === 'wandb-history.jsonl');
    if (history) {
      let rel = path.relative(root, dir).split(path.sep).join('/');
      rel = rel.replace(/(^|\/)files$/, '') || path.basename(path.resolve(root));
      out.push({ dir, name: rel, history: path.join(dir, history.name) });
    }
    for (const e of list) {
      if (e.dir && e.mangled) onWarning(`${pathText(e.path)}: the directory name is not UTF-8; skipped`);
      else if (e.dir) walk(e.path as string);
    }
  };
  walk(root);
  return out;
}

/** config.yaml → features: W&B stores `key: {desc, value}`; its own `_wandb` and `wandb_version` entries are dropped. */
export function configFeatures(file: string, onWarning: (msg: string) => void = () => {}): Record<string, unknown> {
  if (!fs.existsSync(file)) return {};
  let doc: unknown;
  try {
    doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    onWarning(`${file}: not YAML (${(e as Error).message.split('\n')[0]}); the run is imported without its config`);
    return {};
  }
  if (doc !== null && (typeof doc !== 'object' || Array.isArray(doc))) {
    onWarning(`${file}: not a YAML mapping; the run is imported without its config`);
    return {};
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((doc ?? {}) as Record<string, unknown>)) {
    if (k.startsWith('_') || k === 'wandb_version') continue;
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && 'value' in v ? (v as { value: unknown }).value : v;
  }
  return out;
}

function startedAt(dir: string): number | undefined {
  const f = path.join(dir, 'wandb-metadata.json');
  if (!fs.existsSync(f)) return undefined;
  try {
    const raw = String((JSON.parse(fs.readFileSync(f, 'utf8')) as { startedAt?: string }).startedAt ?? '');
    // W&B writes UTC without a zone suffix; Date.parse would read it as local time
    const t = Date.parse(/(Z|[+-]\d\d:?\d\d)$/.test(raw) ? raw : `${raw}Z`);
    return Number.isNaN(t) ? undefined : t;
  } catch {
    return undefined;
  }
}

export async function importWandb(root: string, sink: Sink, progress: Progress, o: { project?: string; jobs?: number }): Promise<void> {
  const runs = scanExport(root, (msg) => sink.warn(msg));
  if (!runs.length) throw new Error(`no wandb-history.jsonl under ${root}`);
  const project = o.project ?? path.basename(path.resolve(root));
  const names = uniqueNames(runs, (r) => clip(r.name, 255), (r) => r.dir);
  progress.start(runs.reduce((s, r) => s + fs.statSync(r.history).size, 0), 'bytes');
  await eachConcurrently(runs, o.jobs ?? 4, async (run) => {
    const features = configFeatures(path.join(run.dir, 'config.yaml'), (msg) => sink.warn(msg));
    sink.counts.params += Object.keys(features).length;
    let w: RunWriter;
    try {
      w = await sink.run({ project, name: names.get(run)!, sourceKey: `wandb:${run.name}`, features });
    } catch (e) {
      if (!refusedRun(e)) throw e;
      sink.warn(`${run.dir}: run not imported: ${e.message}`);
      return;
    }
    const r = await readTable(w, run.history, 'jsonl', sink, progress);
    await w.finish({ status: 'complete', startedAt: startedAt(run.dir) ?? r?.first, finishedAt: r?.last });
  });
  progress.stop();
}
