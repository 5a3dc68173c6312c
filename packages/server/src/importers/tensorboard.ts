import fs from 'node:fs';
import path from 'node:path';
import type { Progress } from './progress.ts';
import { clip, eachConcurrently, uniqueNames, wireValue, type RunWriter, type Sink, type Status } from './sink.ts';
import { decodeScalarEvent, EventType, HParamsType, jsonOf, newScalarEvent, tensorScalar, type Event, type HParamsData, type SummaryValue } from './tb-proto.ts';
import { scanRecords } from './tfrecord.ts';
import { entries, pathText, type SourcePath } from './fs-entries.ts';

/*
 * A TensorBoard logdir: every events.out.tfevents.* below it; the files of one directory are one
 * run (TensorBoard's own notion), imported as one experiment named by the directory's path relative
 * to the logdir. Scalars come from `simple_value` (TF1, tensorboardX, PyTorch) and from one-element
 * numeric tensors (TF2 `tf.summary.scalar`, plugin "scalars"); hparams from the hparams plugin's
 * session_start_info become features, session_end_info's status the experiment's status.
 */

const HPARAMS_STATUS: Record<number, Status> = { 1: 'complete', 2: 'failed', 3: 'running' };
const NOT_SCALARS = new Set(['histograms', 'images', 'audio', 'text', 'pr_curves', 'hparams', 'mesh', 'graph_keras_model', 'custom_scalars']);

export interface TbRun {
  dir: string;
  rel: string;
  files: { file: SourcePath; size: number }[];
}

export function scanLogdir(logdir: string): TbRun[] {
  if (!fs.existsSync(logdir) || !fs.statSync(logdir).isDirectory()) throw new Error(`${logdir} is not a directory`);
  const byDir = new Map<string, TbRun>();
  const walk = (dir: SourcePath) => {
    for (const e of entries(dir)) {
      if (e.dir) walk(e.path);
      else if (e.file && e.name.includes('tfevents')) {
        // a directory name that is not UTF-8 reads with U+FFFD in the run's name; the files keep their bytes
        const text = pathText(dir);
        let r = byDir.get(text);
        if (!r) byDir.set(text, (r = { dir: text, rel: path.relative(logdir, text).split(path.sep).join('/') || '.', files: [] }));
        r.files.push({ file: e.path, size: fs.statSync(e.path).size });
      }
    }
  };
  walk(logdir);
  return [...byDir.values()];
}

/** Reads one run's files into the writer; returns what the experiment record needs. */
export async function readRun(w: RunWriter, run: TbRun, sink: Sink, progress: Progress): Promise<{ features: Record<string, unknown>; status?: Status; first?: number; last?: number }> {
  const plugins = new Map<string, string>(); // TF2 writes a tag's metadata with its first value only
  const features: Record<string, unknown> = {};
  let status: Status | undefined;
  let first: number | undefined;
  let last: number | undefined;
  let file: SourcePath = ''; // the file being read, for warnings
  const onValue = (v: SummaryValue, step: number, ts: number) => {
    const tag = v.tag ?? '';
    const plugin = v.metadata?.plugin_data?.plugin_name;
    if (plugin !== undefined && !plugins.has(tag)) plugins.set(tag, plugin);
    if (plugin === 'hparams') {
      const content = v.metadata?.plugin_data?.content;
      if (!content?.length) return;
      let h: HParamsData;
      try {
        h = HParamsType.decode(content) as unknown as HParamsData;
      } catch (err) {
        sink.warn(`${pathText(file)}: step ${step}: hparams ${JSON.stringify(tag)} not readable (${(err as Error).message}); skipped`);
        return;
      }
      for (const [k, x] of Object.entries(h.session_start_info?.hparams ?? {})) features[k] = jsonOf(x);
      if (h.session_end_info) status = HPARAMS_STATUS[h.session_end_info.status ?? 0] ?? 'complete';
      return;
    }
    if (Object.hasOwn(v, 'simple_value')) {
      w.add(tag, step, wireValue(v.simple_value!), ts);
      return;
    }
    if (v.tensor && !NOT_SCALARS.has(plugins.get(tag) ?? '')) {
      const x = tensorScalar(v.tensor);
      if (x !== undefined) w.add(tag, step, wireValue(x), ts);
    }
  };
  const seen = (ts: number) => {
    if (ts > 0) {
      if (first === undefined || ts < first) first = ts;
      if (last === undefined || ts > last) last = ts;
    }
  };
  const fast = newScalarEvent();
  for (const f of run.files) {
    file = f.file;
    const size = f.size;
    const rel = path.relative(path.dirname(run.dir), pathText(file));
    let undecodable = 0;
    const onRecord = (buf: Buffer, start: number, end: number, offset: number) => {
      if (decodeScalarEvent(buf, start, end, fast)) {
        if (!fast.summary) return;
        const ts = fast.wallTime * 1000;
        seen(ts);
        for (let i = 0; i < fast.n; i++) w.add(fast.tags[i], fast.step, wireValue(fast.values[i]), ts);
        return;
      }
      let e: Event;
      try {
        e = EventType.decode(buf.subarray(start, end)) as unknown as Event;
      } catch (err) {
        if (!undecodable++) sink.warn(`${pathText(file)}: offset ${offset}: not an Event protobuf (${(err as Error).message}); record skipped`);
        return;
      }
      const ts = (e.wall_time ?? 0) * 1000;
      const values = e.summary?.value;
      if (!values) return; // file_version and graph events: their time is when the writer opened, not training time
      seen(ts);
      for (const v of values) onValue(v, Number(e.step ?? 0), ts);
    };
    // a fast reader must not queue the whole file in memory: the writer's queue is drained per chunk read
    await scanRecords(file, onRecord, (i) => sink.warn(`${pathText(file)}: offset ${i.offset}: ${i.problem}`), () => w.drain());
    if (undecodable > 1) sink.warn(`${rel}: ${undecodable} records were not Event protobufs`);
    progress.advance(size);
  }
  return { features, status, first, last };
}

export async function importTensorboard(logdir: string, sink: Sink, progress: Progress, o: { project?: string; jobs?: number }): Promise<void> {
  const runs = scanLogdir(logdir);
  if (!runs.length) throw new Error(`no events.out.tfevents.* file under ${logdir}`);
  const project = o.project ?? path.basename(path.resolve(logdir));
  const names = uniqueNames(runs, (r) => clip(r.rel === '.' ? path.basename(path.resolve(logdir)) : r.rel, 255), (r) => r.rel);
  progress.start(runs.reduce((s, r) => s + r.files.reduce((t, f) => t + f.size, 0), 0), 'bytes');
  await eachConcurrently(runs, o.jobs ?? 4, async (run) => {
    const w = await sink.run({ project, name: names.get(run)!, sourceKey: `tensorboard:${run.rel}` });
    const r = await readRun(w, run, sink, progress);
    sink.counts.params += Object.keys(r.features).length;
    await w.finish({
      features: r.features,
      status: r.status ?? 'complete',
      startedAt: r.first !== undefined ? Math.floor(r.first) : undefined,
      finishedAt: r.status === 'running' || r.last === undefined ? undefined : Math.floor(r.last),
    });
  });
  progress.stop();
}
