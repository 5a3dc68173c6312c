/**
 * TEST FIXTURE ONLY: starts the ClickHouse-HTTP fixture (server.ts) as a child process. Never a
 * way to run Assay.
 *
 *   const ch = await startClickHouseHttpFixture();
 *   // CLICKHOUSE_URL=ch.url …
 *   await ch.stop(); // the child exits and its temp data dir is gone
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ClickHouseHttpFixture {
  /** e.g. http://127.0.0.1:40123 — use as CLICKHOUSE_URL. */
  url: string;
  pid: number;
  /** The child's temp data dir (removed by stop()). */
  dataDir: string;
  /** SIGTERM, then waits for the exit (the child removes its data dir first). Idempotent. */
  stop(): Promise<void>;
}

export interface FixtureOptions {
  /** The one user the fixture accepts (default `default`, empty password). */
  user?: string;
  password?: string;
  /** chDB sessions (statements in parallel; parameterised ones run one at a time). Default 4. */
  sessions?: number;
  /** Default 60 s: chDB's first start loads a large native library. */
  startTimeoutMs?: number;
}

const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'server.ts');

export function startClickHouseHttpFixture(o: FixtureOptions = {}): Promise<ClickHouseHttpFixture> {
  const proc = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: {
      ...process.env,
      CH_FIXTURE_PORT: '0',
      CH_FIXTURE_USER: o.user ?? 'default',
      CH_FIXTURE_PASSWORD: o.password ?? '',
      CH_FIXTURE_SESSIONS: String(o.sessions ?? 4),
    },
    // stdin stays open: the fixture exits when it closes, so it never outlives this process.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`ch-http-fixture did not start within ${o.startTimeoutMs ?? 60_000} ms:\n${out}`)), o.startTimeoutMs ?? 60_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(e);
    };
    proc.stderr!.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-10_000);
      if (process.env.CH_FIXTURE_DEBUG) process.stderr.write(d);
    });
    const early = (code: number | null, signal: NodeJS.Signals | null) => fail(new Error(`ch-http-fixture exited during startup (${code ?? signal}):\n${out}`));
    proc.once('exit', early);
    proc.stdout!.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-10_000);
      const m = /ch-http-fixture listening on (http:\/\/\S+) data (.+)\n/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      proc.off('exit', early);
      proc.stdout!.removeAllListeners('data').resume();
      // A parent that forgets stop() still exits; the child follows when its stdin closes.
      proc.unref();
      for (const s of [proc.stdin, proc.stdout, proc.stderr] as unknown as { unref?: () => void }[]) s.unref?.();
      let stopping: Promise<void> | undefined;
      resolve({
        url: m[1],
        pid: proc.pid!,
        dataDir: m[2],
        stop() {
          stopping ??= (async () => {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
            const t = setTimeout(() => proc.kill('SIGKILL'), 30_000);
            await exited;
            clearTimeout(t);
          })();
          return stopping;
        },
      });
    });
  });
}
