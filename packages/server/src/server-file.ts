import fs from 'node:fs';
import path from 'node:path';

/**
 * `<data-dir>/server.json` marks a running server: its pid, URL and the local admin token.
 * The embedded stores belong to that process while it lives, so the CLI talks to it instead.
 */
export interface ServerFile {
  pid: number;
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
