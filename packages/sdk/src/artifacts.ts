/** File matching, streaming sha256 and streaming upload for `logArtifacts`. Node only. */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { HttpClient, seg } from './http.ts';
import { classifyError, retryDelay, sleep } from './backoff.ts';
import type { Artifact } from './types.ts';

/** Glob → RegExp over '/'-separated relative paths: `*`, `?`, `[...]`, `{a,b}`, `**`. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  let i = 0;
  let braces = 0;
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        const atStart = i === 0 || pattern[i - 1] === '/';
        const next = pattern[i + 2];
        if (atStart && next === '/') {
          re += '(?:[^/]*(?:/|$))*'; // "**/" → zero or more directories
          i += 3;
          continue;
        }
        re += '.*';
        i += 2;
        continue;
      }
      re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const j = pattern.indexOf(']', i + 1);
      if (j < 0) re += '\\[';
      else {
        let cls = pattern.slice(i + 1, j).replace(/\\/g, '\\\\');
        if (cls.startsWith('!')) cls = '^' + cls.slice(1);
        re += `[${cls}]`;
        i = j;
      }
    } else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) re += '|';
    else re += c.replace(/[.+^$()|\\]/g, '\\$&');
    i++;
  }
  return new RegExp(`^${re}$`);
}

export interface MatchedFile {
  /** Absolute local path. */
  absPath: string;
  /** '/'-separated path relative to the search root (the artifact path). */
  relPath: string;
  size: number;
}

/**
 * Files under `root` whose relative path matches `pattern` (Python-glob-like: `*.pt` matches only the
 * top level, `**\/*.pt` recurses). If `root` is a file it is returned alone (relPath = its base name).
 * Symlinked files are followed, symlinked directories are not (no cycles). Sorted by relPath.
 */
export async function findFiles(root: string, pattern = '*'): Promise<MatchedFile[]> {
  const st = await fsp.stat(root);
  if (st.isFile()) return [{ absPath: path.resolve(root), relPath: path.basename(root), size: st.size }];
  const re = globToRegExp(pattern.replace(/\\/g, '/').replace(/^\.\//, ''));
  const recursive = pattern.includes('**');
  const maxDepth = recursive ? Infinity : pattern.split('/').length - 1;
  const out: MatchedFile[] = [];
  async function walk(dir: string, rel: string, depth: number) {
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      const abs = path.join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      let s: Stats | null = null;
      if (e.isSymbolicLink()) {
        s = await fsp.stat(abs).catch(() => null);
        if (!s || !s.isFile()) continue;
      }
      if (e.isDirectory()) {
        if (depth < maxDepth) await walk(abs, r, depth + 1);
      } else if (e.isFile() || s?.isFile()) {
        if (re.test(r)) out.push({ absPath: abs, relPath: r, size: (s ?? (await fsp.stat(abs))).size });
      }
    }
  }
  await walk(path.resolve(root), '', 0);
  out.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  return out;
}

/** Streaming sha256 (hex) and size of a file. */
export function sha256File(file: string): Promise<{ sha256: string; size: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let size = 0;
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (chunk) => {
        size += (chunk as Buffer).length;
        h.update(chunk);
      })
      .on('error', reject)
      .on('end', () => resolve({ sha256: h.digest('hex'), size }));
  });
}

/**
 * One file of `logArtifacts`: the stored artifact (`skipped` when an identical file — same path and
 * sha256 — already existed, so nothing was sent), or, while offline, `pending: true` (the upload
 * is spooled and happens on replay / sync).
 */
export type UploadResult =
  | (Artifact & { skipped: boolean; pending?: false; localPath: string })
  | (Pick<Artifact, 'path' | 'size' | 'sha256'> & { skipped: false; pending: true; localPath: string });

/**
 * Upload one file with a streamed body (never read whole into memory) and `X-Content-SHA256`.
 * Retries network errors / 408 / 429 / 5xx by re-opening the file.
 */
export async function uploadArtifact(
  http: HttpClient,
  projectId: string,
  experimentId: string,
  localPath: string,
  artifactPath: string,
  digest: { sha256: string; size: number },
  opts: { maxAttempts?: number; timeoutMs?: number } = {},
): Promise<Artifact> {
  const maxAttempts = opts.maxAttempts ?? 5;
  for (let attempt = 0; ; attempt++) {
    const stream = createReadStream(localPath, { highWaterMark: 1 << 20 });
    try {
      return await http.request<Artifact>('PUT', `/projects/${seg(projectId)}/experiments/${seg(experimentId)}/artifacts`, {
        query: { path: artifactPath },
        body: Readable.toWeb(stream) as unknown as ReadableStream,
        headers: {
          'Content-Type': 'application/octet-stream',
          'X-Content-SHA256': digest.sha256,
        },
        timeoutMs: opts.timeoutMs ?? Math.max(120_000, digest.size / 1000), // ≥ 1 MB/s
      });
    } catch (err) {
      if (classifyError(err) !== 'retry' || attempt + 1 >= maxAttempts) throw err;
      await sleep(retryDelay(err, attempt));
    } finally {
      stream.destroy();
    }
  }
}

/** Normalise an artifact path: '/'-separated, no leading './' or '/'. */
export function joinArtifactPath(prefix: string | undefined, rel: string): string {
  const p = prefix ? prefix.replace(/\\/g, '/').replace(/^\.?\/+/, '').replace(/\/+$/, '') : '';
  return p ? `${p}/${rel}` : rel;
}
