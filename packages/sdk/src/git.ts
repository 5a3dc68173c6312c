/** `logCodeSnapshot("git_diff")`: commit, branch, remote, dirty flag, `git diff HEAD`, untracked files. Node only. */
import { execFile } from 'node:child_process';
import type { CodeSnapshot } from './types.ts';

/** Diffs larger than this are truncated (the server's body limit is far above, but a 64 MB diff is useless). */
export const MAX_DIFF_BYTES = 8 * 1024 * 1024;

function git(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, maxBuffer: 256 * 1024 * 1024, encoding: 'buffer', windowsHide: true }, (err, stdout, stderr) => {
      if (err) {
        const msg = (stderr as Buffer | undefined)?.toString('utf8').trim();
        reject(new Error(msg || err.message));
      } else resolve((stdout as Buffer).toString('utf8'));
    });
  });
}

async function tryGit(args: string[], cwd: string): Promise<string | null> {
  try {
    return await git(args, cwd);
  } catch {
    return null;
  }
}

/**
 * Collect the git state of `cwd`. Returns null (with `reason`) when git is missing or `cwd` is not
 * inside a work tree — the caller warns instead of failing.
 */
export async function collectGitSnapshot(cwd: string = process.cwd()): Promise<{ info: CodeSnapshot | null; reason?: string }> {
  let top: string;
  try {
    top = (await git(['rev-parse', '--show-toplevel'], cwd)).trim();
  } catch (e) {
    const m = (e as Error).message;
    return { info: null, reason: /ENOENT/.test(m) ? 'git is not installed' : `not a git repository (${cwd})` };
  }
  const [commit, branch, remote, status, untracked] = await Promise.all([
    tryGit(['rev-parse', 'HEAD'], top),
    tryGit(['rev-parse', '--abbrev-ref', 'HEAD'], top),
    tryGit(['config', '--get', 'remote.origin.url'], top),
    tryGit(['status', '--porcelain', '--untracked-files=no'], top),
    tryGit(['ls-files', '--others', '--exclude-standard', '-z'], top),
  ]);
  // No commit yet: diff the index against the empty tree instead of HEAD.
  let diff = commit
    ? await tryGit(['diff', 'HEAD', '--no-color', '--no-ext-diff'], top)
    : await tryGit(['diff', '--cached', '--no-color', '--no-ext-diff'], top);
  if (diff && Buffer.byteLength(diff) > MAX_DIFF_BYTES) {
    diff = Buffer.from(diff).subarray(0, MAX_DIFF_BYTES).toString('utf8') + '\n[assay: diff truncated]\n';
  }
  const untrackedList = untracked ? untracked.split('\0').filter(Boolean) : [];
  const br = branch?.trim() || null;
  return {
    info: {
      commit: commit?.trim() || null,
      branch: br === 'HEAD' ? null : br, // detached HEAD
      remote_url: redactUrl(remote?.trim() || null),
      dirty: (status !== null && status.trim() !== '') || untrackedList.length > 0,
      diff: diff ?? '',
      untracked: untrackedList,
    },
  };
}

/** Strip credentials from https://user:token@host/… remotes before they leave the machine. */
export function redactUrl(url: string | null): string | null {
  if (!url) return url;
  return url.replace(/^(\w+:\/\/)[^@/]+@/, '$1');
}
