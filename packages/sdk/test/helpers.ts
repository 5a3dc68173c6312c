/** Shared helpers of the live SDK tests: temp dirs that are always removed, read-back checks. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { expect } from 'vitest';
import type { AssayClient } from '../src/client.ts';

const made: string[] = [];

/** A fresh temp dir (outside any git work tree), removed by `removeTempDirs()`. */
export function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  made.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export const uniq = (p: string) => `${p}-${randomBytes(3).toString('hex')}`;
export const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => i + from);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The run's ids, as an Experiment or a server record has them. */
export interface RunRef {
  projectId: string | null;
  id: string | null;
}

/** Steps stored for `metric`, read back through the paging reader. */
export async function storedSteps(client: AssayClient, run: RunRef, metric: string): Promise<number[]> {
  return (await client.getMetric(run.projectId!, run.id!, metric)).points.map((p) => p.step);
}

/**
 * Every step 0…n−1 stored exactly once: the timeseries (deduplicated by step) and the summary
 * count (which would count a double insert) both say n.
 */
export async function expectExactlyOnce(client: AssayClient, run: RunRef, metrics: Record<string, number>): Promise<void> {
  const sum = await client.summary(run.projectId!, run.id!);
  for (const [m, n] of Object.entries(metrics)) {
    expect(await storedSteps(client, run, m), `${m} steps`).toEqual(range(n));
    expect(sum.metrics[m]?.count ?? 0, `${m} summary count`).toBe(n);
  }
}

/** A logger that keeps what it is told (to assert on warnings). */
export function recordingLogger() {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (msg: string) => void lines.push({ level, msg });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, text: (level?: string) => lines.filter((l) => !level || l.level === level).map((l) => l.msg).join('\n') };
}

/** A git work tree of its own, with a committed file changed and an untracked one (the tests never rely on running inside one). */
export function gitRepo(): string {
  const dir = tempDir('assay-git');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(dir, 'train.py'), 'lr = 0.1\n');
  git('add', '.');
  git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-q', '-m', 'first');
  fs.writeFileSync(path.join(dir, 'train.py'), 'lr = 0.3\n');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'untracked');
  return dir;
}
