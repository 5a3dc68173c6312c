import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, freePort } from './child-server.ts';

/**
 * `assay serve` with the design document's production settings, as a real process: JSON log lines,
 * a warning per insecure setting, and WORKERS refused (one process, and why) while the stores are
 * embedded. WORKERS>1 needs a ClickHouse server, which this machine does not have (issue 13 brings
 * an HTTP fixture): the multi-process path is covered there, not here.
 */
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-modes-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Child processes of `pid` running `assay` — what a cluster worker would be (from /proc: Linux, as CI). tsx's esbuild helper is not one. */
function assayChildrenOf(pid: number): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      // field 4 of /proc/<pid>/stat is the parent pid; the command name (field 2) may hold spaces, so split after ')'
      return Number(fs.readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1]) === pid &&
        fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('assay.mjs');
    } catch {
      return false;
    }
  }).map(Number);
}

describe('serve with ENVIRONMENT=production', () => {
  it('logs JSON only, warns once per insecure setting, refuses WORKERS with embedded stores', async () => {
    const port = await freePort();
    const proc = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--data-dir', dataDir], {
      env: {
        ...process.env, DATABASE_URL: '', CLICKHOUSE_URL: '', REDIS_URL: '', TSX_DISABLE_CACHE: '1',
        ENVIRONMENT: 'Production', LOG_LEVEL: 'INFO', WORKERS: '2', ASSAY_CORS_ORIGINS: '*', ASSAY_RATE_LIMIT_PER_MINUTE: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(proc);
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    for (let i = 0; i < 1200 && !out.includes('Assay listening on'); i++) {
      if (proc.exitCode !== null) throw new Error(`serve exited: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string; pid: number; time: number });
    expect(lines.every((l) => l.pid === proc.pid && typeof l.time === 'number')).toBe(true);
    const warnings = lines.filter((l) => l.level === 40).map((l) => l.msg);
    expect(warnings).toEqual([
      'insecure setting: ASSAY_CORS_ORIGINS contains "*": list the origins that may call the API instead',
      'insecure setting: ASSAY_RATE_LIMIT_PER_MINUTE=0: no per-key rate limit',
      'insecure setting: WORKERS=2 without REDIS_URL: each worker counts rate limits on its own, so a key gets 2× ASSAY_RATE_LIMIT_PER_MINUTE',
      'WORKERS=2 ignored: the embedded PGlite (no DATABASE_URL) and chDB (no CLICKHOUSE_URL or CLICKHOUSE_HOST) belong to one process (the data dir lock), ' +
        'so Assay serves from one process. Set DATABASE_URL and CLICKHOUSE_URL (or CLICKHOUSE_HOST) to run several API workers.',
    ]);
    expect(lines.filter((l) => l.level === 30).map((l) => l.msg.split(' ')[0])).toEqual(['Assay', '', '']);
    // one process serves: no forked workers
    expect(assayChildrenOf(proc.pid!)).toEqual([]);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', postgres: 'ok', clickhouse: 'ok' }]);
    const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    const tail = out.trim().split('\n').slice(lines.length).map((l) => JSON.parse(l) as { msg: string });
    expect(tail.map((l) => l.msg)).toEqual(['SIGTERM: closing — no new requests, flushing buffered metrics', 'stopped cleanly']);
  }, 180_000);
});
