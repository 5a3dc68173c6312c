/**
 * `assay serve` as a child process, for the crash suites: real process, real port, real SIGKILL.
 * `crash()` sends SIGKILL and does not wait for the process to go: the next `start` on the same
 * data dir and port begins while the kernel may still be tearing the old one down.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'assay.mjs');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Each child gets its own embedded stores, also in CI's PostgreSQL run (DATABASE_URL unset). */
export const childEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: '', TSX_DISABLE_CACHE: '1' };

export class ChildServer {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private out = '';
  /** ms from spawn until /readyz answered 200. */
  readyAfterMs = 0;

  constructor(
    readonly dataDir: string,
    readonly port: number,
    args: string[] = [BIN, 'serve', '--port', String(port), '--data-dir', dataDir],
    env: NodeJS.ProcessEnv = {},
  ) {
    this.proc = spawn(process.execPath, args, { env: { ...childEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => (this.out = (this.out + d.toString('utf8')).slice(-20_000));
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    this.exited = new Promise((res) => this.proc.once('exit', (code, signal) => res({ code, signal })));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get output(): string {
    return this.out;
  }

  /** Polls /readyz until 200; throws with the output if the process exits or time runs out. */
  async ready(timeoutMs = 120_000): Promise<this> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`assay serve exited during startup (${this.proc.exitCode ?? this.proc.signalCode}):\n${this.out}`);
      }
      try {
        const r = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) });
        await r.arrayBuffer();
        if (r.status === 200) {
          this.readyAfterMs = Date.now() - t0;
          return this;
        }
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    this.proc.kill('SIGKILL');
    throw new Error(`assay serve not ready after ${timeoutMs} ms:\n${this.out}`);
  }

  /** SIGKILL, without waiting for the process to be gone. */
  crash(): void {
    this.proc.kill('SIGKILL');
  }
}

export function adminToken(dataDir: string): string {
  return (JSON.parse(fs.readFileSync(path.join(dataDir, 'server.json'), 'utf8')) as { admin_token: string }).admin_token;
}

/** A team through the running server's admin route (as `assay team create` does); its API key. */
export async function createTeam(s: ChildServer, name: string): Promise<string> {
  const r = await fetch(`${s.url}/api/v1/admin/teams`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken(s.dataDir)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const body = (await r.json()) as { api_key: string };
  if (r.status !== 201 && r.status !== 200) throw new Error(`team create: ${r.status} ${JSON.stringify(body)}`);
  return body.api_key;
}
