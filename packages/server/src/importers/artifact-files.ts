import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/*
 * Artifacts go from their source to the Assay server through files, never whole in memory: a
 * checkpoint of several GB would cost that much importer memory (twice, with the request's copy),
 * and one past what a Buffer holds (4 GiB) could not be imported at all.
 */

export interface FileDigest {
  sha256: string;
  size: number;
}

/** The sha256 and size of a file, read as a stream. */
export async function hashFile(file: string | Buffer): Promise<FileDigest> {
  const h = createHash('sha256');
  let size = 0;
  for await (const part of fs.createReadStream(file) as AsyncIterable<Buffer>) {
    h.update(part);
    size += part.length;
  }
  return { sha256: h.digest('hex'), size };
}

/**
 * Writes the parts to `file` (created anew: a retried download starts it again), hashing them as
 * they come. `check` sees the byte count after each part and throws to stop the download.
 */
export async function writeHashed(parts: AsyncIterable<Uint8Array>, file: string, check: (bytes: number) => void): Promise<FileDigest> {
  const out = await fs.promises.open(file, 'w');
  const h = createHash('sha256');
  let size = 0;
  try {
    for await (const part of parts) {
      size += part.length;
      check(size);
      h.update(part);
      // one write at a time: the download waits for the disk instead of queueing parts in memory
      await out.write(part);
    }
  } finally {
    await out.close();
  }
  return { sha256: h.digest('hex'), size };
}

/** Temporary directories in use: an import interrupted by Ctrl-C or a kill must not leave a copy of a checkpoint behind. */
const live = new Set<string>();
const removeLive = () => {
  for (const dir of live) fs.rmSync(dir, { recursive: true, force: true });
  live.clear();
};
const onSignal = (signal: NodeJS.Signals) => {
  removeLive();
  forget();
  // the default action (exit with the signal), as if this handler had never been there
  process.kill(process.pid, signal);
};
const forget = () => {
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('exit', removeLive);
};

/** Runs `fn` with a fresh directory in os.tmpdir(), removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'assay-import-'));
  if (!live.size) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // process.exit() while other runs' downloads are still going (an import that failed elsewhere)
    process.on('exit', removeLive);
  }
  live.add(dir);
  try {
    return await fn(dir);
  } finally {
    live.delete(dir);
    if (!live.size) forget();
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}
