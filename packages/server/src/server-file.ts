import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * Who owns a data dir is decided by one kernel lock, nothing else: `<data-dir>/assay.lock` locked
 * with fcntl F_OFD_SETLK (Linux; flock on macOS, LockFileEx on Windows) through
 * `fs-native-extensions` (Holepunch, prebuilt binaries for linux/darwin/win32 x64+arm64, no
 * compiler at install). The kernel drops the lock when the last descriptor of the open file goes
 * away, so a process that dies in any way — `kill -9`, OOM killer, power loss — holds nothing
 * afterwards, and no file content or pid can make a dead server look alive. That is what the old
 * pid file (`kill(pid, 0)`) got wrong: a zombie, a process still being torn down, or our own pid
 * (pid 1 again in a container) counted as a running server.
 *
 * Why not the alternatives: Node has no flock; an abstract Unix socket is per network namespace
 * (two containers sharing a volume would both "own" it) and Linux-only; a path socket needs an
 * unlink-then-bind step that two starting servers can race through; `proper-lockfile` and
 * friends decide staleness from mtimes. OFD locks also have none of classic POSIX locks' traps
 * (closing any descriptor of the file dropped all of the process's locks).
 *
 * The lock file's content (pid, command, since) and `server.json` (URL and admin token for the
 * CLI) are informational: written by the holder right after it took the lock, never trusted to
 * decide ownership.
 */
const native = createRequire(import.meta.url)('fs-native-extensions') as {
  tryLock(fd: number): boolean;
  unlock(fd: number): void;
};

export interface ServerFile {
  pid: number;
  /** Empty while the server is still starting. */
  url: string;
  admin_token: string;
}

/** What the current holder wrote into the lock file. */
export interface LockHolder {
  pid: number;
  /** The `assay` command holding the dir: `serve`, `migrate`, `team create`. */
  command: string;
  since: string;
}

/** How long a start waits for the previous holder: a killed process releases its lock only once the kernel has torn it down (unmapping chDB's ~500 MB takes a moment). */
export const LOCK_WAIT_MS = 10_000;

const CLI_WAIT_MS = 180_000;

const fileOf = (dataDir: string) => path.join(dataDir, 'server.json');
const lockOf = (dataDir: string) => path.join(dataDir, 'assay.lock');

let held: { dataDir: string; fd: number } | undefined;

function tryLock(dataDir: string, command: string): boolean {
  if (held?.dataDir === dataDir) return true;
  fs.mkdirSync(dataDir, { recursive: true });
  const fd = fs.openSync(lockOf(dataDir), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  let locked = false;
  try {
    locked = native.tryLock(fd);
  } finally {
    if (!locked) fs.closeSync(fd);
  }
  if (!locked) return false;
  held = { dataDir, fd };
  const info = Buffer.from(JSON.stringify({ pid: process.pid, command, since: new Date().toISOString() } satisfies LockHolder) + '\n');
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, info, 0, info.length, 0);
  return true;
}

export function readLockHolder(dataDir: string): LockHolder | undefined {
  try {
    return JSON.parse(fs.readFileSync(lockOf(dataDir), 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/**
 * Takes the data dir's lock for this process (kept until it exits or calls `unlockDataDir`),
 * waiting up to `waitMs` for another holder to go away. Undefined once held; the holder (as far
 * as its lock file tells) when it is still held after the wait.
 */
export async function lockDataDir(dataDir: string, command: string, waitMs = LOCK_WAIT_MS): Promise<Partial<LockHolder> | undefined> {
  const start = Date.now();
  let told = false;
  while (!tryLock(dataDir, command)) {
    const holder = readLockHolder(dataDir);
    // A CLI command (team create, migrate) holds the dir for seconds, not for good: outwait it.
    const limit = holder?.command && holder.command !== 'serve' ? Math.max(waitMs, CLI_WAIT_MS) : waitMs;
    if (Date.now() - start >= limit) return holder ?? {};
    // A killed holder is usually gone within a few hundred ms: say nothing unless it lasts.
    if (!told && Date.now() - start > 1000) {
      console.error(`the data dir ${dataDir} is held by pid ${holder?.pid ?? '?'} (assay ${holder?.command ?? '?'}); waiting up to ${limit / 1000} s for it to exit…`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

export function unlockDataDir(): void {
  if (!held) return;
  native.unlock(held.fd);
  fs.closeSync(held.fd);
  held = undefined;
}

/** The refusal when another process keeps the data dir. */
export function busyMessage(dataDir: string, holder: Partial<LockHolder>): string {
  const s = readServerFile(dataDir);
  const what = holder.command === 'serve' || holder.command === undefined ? 'server' : `process (assay ${holder.command})`;
  const where = s && s.pid === holder.pid ? `, ${s.url || 'starting'}` : '';
  return `another Assay ${what} (pid ${holder.pid ?? '?'}${where}) already uses the data dir ${dataDir}; stop it or pass another --data-dir`;
}

export function writeServerFile(dataDir: string, s: ServerFile): void {
  fs.mkdirSync(dataDir, { recursive: true });
  // Renamed into place: a CLI reading it never sees half a file.
  const tmp = `${fileOf(dataDir)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(s), { mode: 0o600 });
  fs.renameSync(tmp, fileOf(dataDir));
}

export function removeServerFile(dataDir: string, pid = process.pid): void {
  if (readServerFile(dataDir)?.pid === pid) fs.rmSync(fileOf(dataDir), { force: true });
}

export function readServerFile(dataDir: string): ServerFile | undefined {
  try {
    return JSON.parse(fs.readFileSync(fileOf(dataDir), 'utf8')) as ServerFile;
  } catch {
    return undefined;
  }
}

/**
 * For a CLI command that needs the stores: the running server once it listens, or undefined when
 * no process holds the data dir — this process holds it then, so it can open the stores itself.
 * Waits while a server is starting, and while another CLI command holds the dir.
 */
export async function waitForServer(dataDir: string, command: string, timeoutMs = 180_000): Promise<ServerFile | undefined> {
  const until = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    if (tryLock(dataDir, command)) return undefined;
    const holder = readLockHolder(dataDir);
    const s = readServerFile(dataDir);
    // server.json is written by the holder right after it took the lock; one left by an earlier
    // server names another pid (or the same pid with a URL that the new one has not reached yet
    // — it rewrites the file with an empty URL before opening the stores).
    if (s?.url && holder?.command === 'serve' && s.pid === holder.pid) return s;
    if (Date.now() > until) throw new Error(busyMessage(dataDir, holder ?? {}) + ` (waited ${timeoutMs / 1000} s)`);
    if (!told) {
      console.error(`waiting for pid ${holder?.pid ?? '?'} (assay ${holder?.command ?? '?'}) on ${dataDir}…`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
