import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream';

/*
 * Artifacts go from their source to the Assay server through files, never whole in memory: a
 * checkpoint of several GB would cost that much importer memory (twice, with the request's copy),
 * and one past what a Buffer holds (4 GiB) could not be imported at all.
 */

export interface FileDigest {
  sha256: string;
  size: number;
}

/** The file is shorter than when it was hashed (a source still being written): trying again would not help. */
export class FileShrankError extends Error {}

/** A file as a request body: its first `size` bytes (what was hashed), opened anew for each attempt of a request. */
export interface FileBody {
  file: string | Buffer;
  size: number;
}

/**
 * Sends the file as the request body with node:http, which reads it only as fast as the socket
 * takes it. Not fetch: undici (Node 20) takes a stream body in ahead of the socket, so a 400 MB
 * upload peaked at ~470 MB of importer memory with fetch and at ~80 MB with this.
 */
export function sendFile(url: string, init: { method: string; headers: Record<string, string>; signal: AbortSignal }, body: FileBody): Promise<Response> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = (target.protocol === 'https:' ? https : http).request(target, { method: init.method, headers: { ...init.headers, 'content-length': String(body.size) }, signal: init.signal }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (p: Buffer) => parts.push(p));
      res.on('error', reject);
      // a connection that closes (or a timeout that aborts) in the middle of the answer
      res.on('close', () => !res.complete && reject(init.signal.aborted ? init.signal.reason : new Error('the connection closed in the middle of the answer')));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        const text = Buffer.concat(parts);
        resolve(new Response(text.length ? text : null, { status: res.statusCode!, headers }));
      });
    });
    req.on('error', reject);
    if (body.size === 0) {
      req.end();
      return;
    }
    const file = fs.createReadStream(body.file, { end: body.size - 1 });
    // a file that shrank since it was hashed would leave the server waiting for the bytes still due
    file.on('end', () => file.bytesRead < body.size && req.destroy(new FileShrankError(`shorter than the ${body.size} bytes it had when it was hashed (it changed during the import); skipped`)));
    // after an answer (a 503 before the whole body went) the promise is settled: an error sending the rest changes nothing
    pipeline(file, req, (e) => e && reject(e));
  });
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
