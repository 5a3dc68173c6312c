import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { note } from '../lib/report.ts';
import type { Ctx } from '../lib/context.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SCRIPT = path.join(ROOT, 'python/bench_sdk.py');

/**
 * Relays `python3 python/bench_sdk.py --api-url … --api-key …` (the Python SDK's own benchmark)
 * against this run's server. Lines shaped `name value unit …` are kept as figures in the summary.
 */
export async function sdkPart(ctx: Ctx): Promise<void> {
  if (!fs.existsSync(SCRIPT)) {
    note('sdk skipped: python/bench_sdk.py does not exist yet');
    return;
  }
  const py = process.env.BENCH_PYTHON ?? 'python3';
  const args = [SCRIPT, '--api-url', ctx.server.base, '--api-key', ctx.team.api_key];
  note(`sdk: ${py} python/bench_sdk.py --api-url ${ctx.server.base} --api-key <key>`);
  const figures: { line: string; name: string; value: number; unit: string }[] = [];
  const code = await new Promise<number | null>((resolve) => {
    const proc = spawn(py, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONPATH: path.join(ROOT, 'python') } });
    let buf = '';
    proc.stdout.on('data', (b: Buffer) => {
      buf += b.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) relay(line, figures);
    });
    proc.stderr.on('data', (b: Buffer) => process.stderr.write(b));
    proc.on('exit', (c) => {
      if (buf) relay(buf, figures);
      resolve(c);
    });
    proc.on('error', (e) => {
      note(`sdk: could not run ${py}: ${e.message}`);
      resolve(-1);
    });
  });
  if (code !== 0) note(`sdk: bench_sdk.py exited with ${code}`);
  ctx.results.sdk = { exit_code: code, figures };
}

function relay(line: string, out: { line: string; name: string; value: number; unit: string }[]): void {
  console.log(line);
  const m = /^([A-Za-z0-9_.:/-]+)\s+(-?[\d.]+(?:e[+-]?\d+)?)\s+(\S+)/.exec(line.trim());
  if (m) out.push({ line: line.trim(), name: `sdk.${m[1]}`, value: Number(m[2]), unit: m[3] });
}
