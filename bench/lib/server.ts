import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { nowMs } from './stats.ts';
import { sleep } from './http.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** BENCH_SERVER_BIN runs another checkout's server (e.g. a frozen worktree); default this repo's. */
export const ASSAY_BIN = process.env.BENCH_SERVER_BIN ? path.resolve(process.env.BENCH_SERVER_BIN) : path.join(ROOT, 'packages/server/bin/assay.mjs');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Team {
  team_id: string;
  user_id: string;
  api_key: string;
}

export async function createTeam(dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<Team> {
  const { stdout } = await promisify(execFile)(process.execPath, [ASSAY_BIN, 'team', 'create', 'bench', '--data-dir', dataDir], {
    cwd: path.resolve(path.dirname(ASSAY_BIN), '../../..'),
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    maxBuffer: 16 << 20,
  });
  const line = stdout.trim().split('\n').reverse().find((l) => l.trim().startsWith('{'));
  if (!line) throw new Error(`team create printed no JSON:\n${stdout}`);
  return JSON.parse(line) as Team;
}

export class Server {
  readonly base: string;
  private log: string[] = [];
  private exited: Promise<number | null>;
  constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    readonly dataDir: string,
  ) {
    this.base = `http://127.0.0.1:${port}`;
    const keep = (b: Buffer) => {
      this.log.push(b.toString());
      if (this.log.length > 200) this.log.splice(0, this.log.length - 200);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.exited = new Promise((r) => proc.on('exit', (code) => r(code)));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  tail(n = 30): string {
    return this.log.join('').split('\n').slice(-n).join('\n');
  }

  /** Spawns `assay serve` and resolves once GET /readyz answers 200; `ms` = spawn → ready. */
  static async start(dataDir: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 180_000): Promise<{ server: Server; ms: number }> {
    const port = await freePort();
    const t0 = nowMs();
    const proc = spawn(process.execPath, [ASSAY_BIN, 'serve', '--port', String(port), '--data-dir', dataDir], {
      cwd: path.resolve(path.dirname(ASSAY_BIN), '../../..'),
      // throughput runs drive one key far past any SDK: the per-key rate limit would measure itself
      env: { ...process.env, LOG_LEVEL: 'warn', HOST: '127.0.0.1', ASSAY_RATE_LIMIT_PER_MINUTE: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new Server(proc, port, dataDir);
    let dead: string | undefined;
    server.exited.then((code) => (dead = `code ${code}, signal ${proc.signalCode}`));
    while (nowMs() - t0 < timeoutMs) {
      if (dead) throw new Error(`server exited during startup (${dead}):\n${server.tail()}`);
      try {
        const r = await fetch(`${server.base}/readyz`);
        await r.arrayBuffer();
        if (r.status === 200) return { server, ms: nowMs() - t0 };
      } catch {
        /* not listening yet */
      }
      await sleep(25);
    }
    await server.stop();
    throw new Error(`server not ready after ${timeoutMs} ms:\n${server.tail()}`);
  }

  /** SIGTERM (graceful: the server flushes), SIGKILL after the grace period. */
  async stop(graceMs = 30_000): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }

  /** RSS/HWM (bytes) summed over the server process and its descendants (bin may re-exec). */
  memory(): { rss: number; hwm: number; pids: number[] } {
    const pids = processTree(this.pid);
    let rss = 0;
    let hwm = 0;
    for (const pid of pids) {
      const m = procStatus(pid);
      rss += m.rss;
      hwm += m.hwm;
    }
    return { rss, hwm, pids };
  }
}

/** user+system CPU seconds of the process tree. */
export function cpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** Waits (≥ minMs) until the tree uses < `quiet` of a core over 1 s; returns ms waited. */
export async function settle(pid: number, minMs = 3000, maxMs = 30_000, quiet = 0.05): Promise<number> {
  const t0 = nowMs();
  await sleep(minMs - 1000);
  let last = cpuSeconds(pid);
  while (nowMs() - t0 < maxMs) {
    await sleep(1000);
    const now = cpuSeconds(pid);
    if (now - last < quiet) break;
    last = now;
  }
  return nowMs() - t0;
}

function procStatus(pid: number): { rss: number; hwm: number } {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Samples the server's RSS every `everyMs` until stopped; returns the peak seen. */
export function sampleRss(server: Server, everyMs = 100): { stop: () => { peakRss: number; samples: number } } {
  let peak = 0;
  let samples = 0;
  const t = setInterval(() => {
    peak = Math.max(peak, server.memory().rss);
    samples++;
  }, everyMs);
  return {
    stop() {
      clearInterval(t);
      peak = Math.max(peak, server.memory().rss);
      return { peakRss: peak, samples: samples + 1 };
    },
  };
}
