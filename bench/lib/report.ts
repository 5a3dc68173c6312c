import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fmt } from './stats.ts';

/**
 * One figure = one line: `name value unit [mlflow <peer value>, <ratio>x]`.
 * `ratio` is always "Assay advantage" (> 1 means Assay is better): assay/peer for throughputs
 * (higherIsBetter), peer/assay for latencies and sizes.
 */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  higherIsBetter: boolean;
  peer?: number;
  ratio?: number;
  detail?: Record<string, unknown>;
}

const figures: Figure[] = [];
const notes: string[] = [];
const started = new Date();

export function note(msg: string): void {
  notes.push(msg);
  console.log(`# ${msg}`);
}

export function figure(f: Omit<Figure, 'ratio'>): Figure {
  const out: Figure = { ...f };
  if (f.peer !== undefined && Number.isFinite(f.peer) && f.peer > 0 && f.value > 0) {
    out.ratio = f.higherIsBetter ? f.value / f.peer : f.peer / f.value;
  }
  figures.push(out);
  let line = `${f.name} ${fmt(f.value)} ${f.unit}`;
  if (f.peer !== undefined) line += ` [mlflow ${fmt(f.peer)}, ${out.ratio === undefined ? 'n/a' : fmt(out.ratio) + 'x'}]`;
  console.log(line);
  return out;
}

/** Attach a peer value to a figure printed earlier (prints the line again, completed). */
export function findFigure(name: string): Figure | undefined {
  return figures.find((f) => f.name === name);
}

export function writeSummary(dir: string, extra: Record<string, unknown>): string {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const file = path.join(dir, `${stamp}.json`);
  const summary = {
    started_at: started.toISOString(),
    finished_at: new Date().toISOString(),
    machine: {
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      mem_gib: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      loadavg_at_end: os.loadavg(),
    },
    ...extra,
    figures,
    notes,
  };
  fs.writeFileSync(file, JSON.stringify(summary, null, 2) + '\n');
  return file;
}
