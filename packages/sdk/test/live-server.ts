/**
 * A live Assay server for integration tests: `assay team create` in a temp data dir, then
 * `assay serve` on a free port, polled on /readyz. Can be killed (SIGKILL) and restarted on the
 * same port and data dir.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The server under test; ASSAY_TEST_SERVER_BIN points the tests at another checkout. */
export const ASSAY_BIN = process.env.ASSAY_TEST_SERVER_BIN || path.join(REPO_ROOT, 'packages/server/bin/assay.mjs');
const SERVER_CWD = path.resolve(path.dirname(ASSAY_BIN), '../../..');

export function serverAvailable(): boolean {
  return fs.existsSync(ASSAY_BIN);
}

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

export interface Team {
  team_id: string;
  user_id: string;
  api_key: string;
  name: string;
}

/** `assay team create`; with `admin` the admin user gets that email and password (web UI sign-in). */
export function createTeam(
  dataDir: string,
  name: string,
  env: NodeJS.ProcessEnv = process.env,
  admin?: { email: string; password: string },
): Promise<Team> {
  const adminArgs = admin ? ['--email', admin.email, '--password', admin.password] : [];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [ASSAY_BIN, 'team', 'create', name, '--data-dir', dataDir, ...adminArgs],
      { cwd: SERVER_CWD, env, timeout: 180_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`assay team create failed: ${err.message}\n${String(stderr).slice(-2000)}`));
        const line = String(stdout)
          .split('\n')
          .filter((l) => l.trim().startsWith('{'))
          .pop();
        if (!line) return reject(new Error(`assay team create printed no JSON:\n${stdout}\n${stderr}`));
        resolve({ ...(JSON.parse(line) as Omit<Team, 'name'>), name });
      },
    );
  });
}

export interface LiveServerOptions {
  /** Extra environment for the server process. */
  env?: Record<string, string>;
  team?: string;
  /** The team admin's web sign-in (email + password); without it the admin has no password. */
  admin?: { email: string; password: string };
  /** Reuse a data dir (default: a fresh temp dir, removed by `cleanup()`). */
  dataDir?: string;
  port?: number;
  /** Create the team but don't start serving yet (for "server down for the whole run"). */
  noStart?: boolean;
}

export class LiveServer {
  readonly dataDir: string;
  readonly port: number;
  readonly team: Team;
  readonly env: NodeJS.ProcessEnv;
  private proc: ChildProcess | null = null;
  private exited: Promise<void> | null = null;
  private readonly ownsDir: boolean;
  private log: string[] = [];

  private constructor(dataDir: string, port: number, team: Team, env: NodeJS.ProcessEnv, ownsDir: boolean) {
    this.dataDir = dataDir;
    this.port = port;
    this.team = team;
    this.env = env;
    this.ownsDir = ownsDir;
  }

  static async create(opts: LiveServerOptions = {}): Promise<LiveServer> {
    const ownsDir = !opts.dataDir;
    const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'assay-sdk-live-'));
    // Each live server gets its own embedded stores, also in CI's PostgreSQL run: servers sharing
    // one database would collide on team names and sweep each other's runs as crashed. The
    // server's own suite is what runs against the real PostgreSQL.
    const { DATABASE_URL: _shared, ...inherited } = process.env;
    // TSX_DISABLE_CACHE: the server runs through tsx, whose transform cache would be left in TMPDIR
    const env = { ...inherited, LOG_LEVEL: 'warn', TSX_DISABLE_CACHE: '1', ...opts.env };
    try {
      const team = await createTeam(dataDir, opts.team ?? 'team-123', env, opts.admin);
      const s = new LiveServer(dataDir, opts.port ?? (await freePort()), team, env, ownsDir);
      if (!opts.noStart) await s.start();
      return s;
    } catch (err) {
      if (ownsDir) fs.rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get apiKey(): string {
    return this.team.api_key;
  }
  get running(): boolean {
    return this.proc !== null;
  }

  async start(timeoutMs = 90_000): Promise<void> {
    if (this.proc) return;
    const proc = spawn(process.execPath, [ASSAY_BIN, 'serve', '--port', String(this.port), '--data-dir', this.dataDir], {
      cwd: SERVER_CWD,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    const keep = (d: Buffer) => {
      this.log.push(d.toString('utf8'));
      if (this.log.length > 200) this.log.splice(0, 100);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    let exitInfo: string | null = null;
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, sig) => {
        exitInfo = `code ${code}, signal ${sig}`;
        if (this.proc === proc) this.proc = null;
        resolve();
      }),
    );
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      if (exitInfo) throw new Error(`assay serve exited during startup (${exitInfo}):\n${this.logTail()}`);
      try {
        const r = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) });
        await r.arrayBuffer();
        if (r.ok) return;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.kill();
    throw new Error(`assay serve not ready after ${timeoutMs} ms:\n${this.logTail()}`);
  }

  /** SIGKILL — a crash: no graceful flush. */
  async kill(): Promise<void> {
    await this.stop('SIGKILL');
  }

  /** Stop and wait for the process to exit (SIGTERM = graceful by default). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<void> {
    const p = this.proc;
    if (!p) return;
    p.kill(signal);
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(t);
    this.proc = null;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** GET/POST an API path with the team's key; throws on non-2xx. */
  async api<T = unknown>(method: string, p: string, body?: unknown): Promise<T> {
    const r = await fetch(`${this.url}/api/v1${p}`, {
      method,
      headers: { Authorization: `Bearer ${this.apiKey}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${p} → ${r.status}: ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  logTail(n = 4000): string {
    return this.log.join('').slice(-n);
  }

  async cleanup(): Promise<void> {
    await this.stop();
    if (this.ownsDir) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
