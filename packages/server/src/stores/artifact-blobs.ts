import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { finished, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Content-addressed artifact bytes: `<root>/<team_id>/sha256/<aa>/<sha256>`. Identical files of
 * one team share a blob; teams never share one (a blob's existence must not leak across teams).
 * Uploads stream into `<root>/<team_id>/tmp/` while hashing, then rename into place — a blob
 * path only ever holds complete content, and memory use is one stream chunk, not the file.
 */
export interface ReceivedBlob {
  tmp: string;
  size: number;
  sha256: string;
}

export class BlobTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`artifact larger than ${maxBytes} bytes`);
  }
}

const SHA256_RE = /^[0-9a-f]{64}$/;

export function blobPath(root: string, teamId: string, sha256: string): string {
  if (!SHA256_RE.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
  return path.join(root, teamId, 'sha256', sha256.slice(0, 2), sha256);
}

/**
 * Streams `source` to a temp file, hashing and counting on the way; back-pressure from the disk
 * pauses the source, so nothing accumulates in memory. Over `maxBytes` it stops reading, removes the
 * temp file and throws BlobTooLargeError — without destroying `source`, so the caller can still
 * answer 413 on the same connection. The returned temp file is the caller's to commit or discard.
 */
export async function receiveBlob(root: string, teamId: string, source: Readable, maxBytes: number): Promise<ReceivedBlob> {
  const dir = path.join(root, teamId, 'tmp');
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `${randomUUID()}.part`);
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > maxBytes) return cb(new BlobTooLargeError(maxBytes));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  // pipe(), not pipeline(source, …): a failure on our side must not destroy the request stream
  // (that would reset the socket before the 413 is written). Source failures still reach us.
  const stopWatching = finished(source, { writable: false }, (err) => {
    if (err) meter.destroy(err);
  });
  source.pipe(meter);
  try {
    await pipeline(meter, fs.createWriteStream(tmp, { flags: 'wx', flush: true }));
  } catch (e) {
    source.unpipe(meter);
    await rm(tmp, { force: true });
    throw e;
  } finally {
    stopWatching();
  }
  return { tmp, size, sha256: hash.digest('hex') };
}

/** Moves a received temp file to its content address (a no-op if that content is already stored). */
export async function commitBlob(root: string, teamId: string, blob: ReceivedBlob): Promise<void> {
  const dest = blobPath(root, teamId, blob.sha256);
  if (await exists(dest)) {
    await rm(blob.tmp, { force: true });
    return;
  }
  await mkdir(path.dirname(dest), { recursive: true });
  // Atomic on one file system; two concurrent identical uploads both rename the same bytes.
  await rename(blob.tmp, dest);
  // The bytes were flushed before the rename; the new names must be too, or an OS crash right
  // after the upload was acknowledged can leave the artifact's row pointing at no file.
  await fsyncDir(path.dirname(dest));
  await fsyncDir(path.dirname(path.dirname(dest)));
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await fs.promises.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

export async function discardBlob(blob: ReceivedBlob): Promise<void> {
  await rm(blob.tmp, { force: true });
}

/** Opens a blob for reading; undefined when the file is missing. The fd is open before we answer. */
export async function openBlob(root: string, teamId: string, sha256: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
  const file = blobPath(root, teamId, sha256);
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: 1 << 20 });
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
