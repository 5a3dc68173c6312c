import { Empty } from '../../components/states.tsx';
import type { GitSnapshot } from './types.ts';

/** A browsable URL for a commit when the remote is a known forge (https or scp-style ssh). */
function commitUrl(remote: string | undefined, commit: string | undefined): string | null {
  if (!remote || !commit) return null;
  const m = remote.match(/^(?:https?:\/\/|git@)([^/:]+)[/:](.+?)(?:\.git)?\/?$/);
  if (!m || !/github|gitlab|bitbucket|codeberg/.test(m[1])) return null;
  return `https://${m[1]}/${m[2]}/commit/${commit}`;
}

function lineClass(l: string): string {
  if (l.startsWith('diff --git') || l.startsWith('index ') || l.startsWith('+++') || l.startsWith('---')) return 'd-file';
  if (l.startsWith('@@')) return 'd-hunk';
  if (l.startsWith('+')) return 'd-add';
  if (l.startsWith('-')) return 'd-del';
  return '';
}

/** Lines rendered at once; a bigger diff is cut with a note (the whole text stays downloadable). */
const MAX_LINES = 20_000;

export function CodeSnapshot({ git }: { git: GitSnapshot | null }) {
  if (!git || Object.keys(git).length === 0) return <Empty>No code snapshot. The SDKs record one with <code>exp.log_code_snapshot()</code>.</Empty>;
  const url = commitUrl(git.remote_url, git.commit);
  const lines = git.diff ? git.diff.split('\n') : [];
  const files = lines.filter((l) => l.startsWith('diff --git')).length;
  const adds = lines.filter((l) => l.startsWith('+') && !l.startsWith('+++')).length;
  const dels = lines.filter((l) => l.startsWith('-') && !l.startsWith('---')).length;
  return (
    <section className="run-section" data-testid="code">
      <dl className="run-facts">
        <div>
          <dt>Commit</dt>
          <dd className="mono">{git.commit ? url ? <a href={url} target="_blank" rel="noreferrer">{git.commit}</a> : git.commit : '—'}</dd>
        </div>
        <div>
          <dt>Branch</dt>
          <dd>{git.branch ?? '—'}</dd>
        </div>
        <div>
          <dt>Remote</dt>
          <dd className="mono">{git.remote_url ?? '—'}</dd>
        </div>
        <div>
          <dt>Working tree</dt>
          <dd>{git.dirty ? 'dirty (uncommitted changes below)' : 'clean'}</dd>
        </div>
      </dl>
      {git.untracked && git.untracked.length > 0 && (
        <details>
          <summary>{git.untracked.length} untracked files</summary>
          <ul className="mono">
            {git.untracked.map((f) => (
              <li key={f}>{f}</li>
            ))}
          </ul>
        </details>
      )}
      {lines.length > 0 ? (
        <>
          <p className="diff-stat">
            {files} file{files === 1 ? '' : 's'} changed, <span className="d-add">+{adds}</span> <span className="d-del">−{dels}</span>
          </p>
          <pre className="diff" data-testid="diff">
            {lines.slice(0, MAX_LINES).map((l, i) => (
              <div key={i} className={lineClass(l)}>
                {l || ' '}
              </div>
            ))}
          </pre>
          {lines.length > MAX_LINES && <p className="diff-stat">Showing the first {MAX_LINES.toLocaleString()} of {lines.length.toLocaleString()} lines.</p>}
        </>
      ) : (
        <p className="diff-stat">No diff against the commit.</p>
      )}
    </section>
  );
}
