import fs from 'node:fs';
import path from 'node:path';

/**
 * `<data-dir>/server.json` marks a running server: its pid, URL and the local admin token.
 * The embedded stores belong to that process while it lives, so the CLI talks to it instead.
 */
export interface ServerFile {
  pid: number;
  /** Empty while the server is still starting. */
  url: string;
  admin_token: string;
}

const fileOf = (dataDir: string) => path.join(dataDir, 'server.json');

export function writeServerFile(dataDir: string, s: ServerFile): void {
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(fileOf(dataDir), JSON.stringify(s), { mode: 0o600 });
}

export function removeServerFile(dataDir: string, pid = process.pid): void {
  const s = readServerFile(dataDir, false);
  if (s?.pid === pid) fs.rmSync(fileOf(dataDir), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running server on this data dir, or undefined (a stale file from a killed server is ignored). */
export function readServerFile(dataDir: string, requireAlive = true): ServerFile | undefined {
  try {
    const s = JSON.parse(fs.readFileSync(fileOf(dataDir), 'utf8')) as ServerFile;
    return !requireAlive || alive(s.pid) ? s : undefined;
  } catch {
    return undefined;
  }
}

/** The running server once it listens; undefined if none. Waits while one is still starting. */
export async function waitForServer(dataDir: string, timeoutMs = 180_000): Promise<ServerFile | undefined> {
  const until = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    const s = readServerFile(dataDir);
    if (!s || s.url) return s;
    if (Date.now() > until) throw new Error(`the server (pid ${s.pid}) on ${dataDir} did not finish starting within ${timeoutMs / 1000} s`);
    if (!told) {
      console.error(`waiting for the server (pid ${s.pid}) on ${dataDir} to finish starting…`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
