import { useEffect, useState } from 'react';
import { durationText, type Experiment } from './types.ts';

function useNow(ticking: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!ticking) return;
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, [ticking]);
  return now;
}

export function StatusBadge({ status }: { status: Experiment['status'] }) {
  return (
    <span className={`run-status run-status-${status}`} data-testid="run-status">
      {status === 'running' && <i className="live-dot" aria-hidden />}
      {status}
    </span>
  );
}

export function RunHeader({ run }: { run: Experiment }) {
  const running = run.status === 'running';
  const now = useNow(running);
  const start = Date.parse(run.started_at ?? run.created_at);
  const end = run.finished_at ? Date.parse(run.finished_at) : running ? now : Date.parse(run.heartbeat_at ?? run.created_at);
  return (
    <header className="run-header">
      <div className="run-title">
        <h1 data-testid="run-name">{run.name}</h1>
        <StatusBadge status={run.status} />
      </div>
      <dl className="run-facts">
        <div>
          <dt>Duration</dt>
          <dd data-testid="run-duration">{durationText(end - start)}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{new Date(start).toLocaleString()}</dd>
        </div>
        <div>
          <dt>Host</dt>
          <dd>{run.host ?? '—'}</dd>
        </div>
        {running && run.heartbeat_at && (
          <div>
            <dt>Last heartbeat</dt>
            <dd>{durationText(now - Date.parse(run.heartbeat_at))} ago</dd>
          </div>
        )}
        <div>
          <dt>ID</dt>
          <dd className="mono">{run.id}</dd>
        </div>
      </dl>
      {run.tags.length > 0 && (
        <div className="run-tags">
          {run.tags.map((t) => (
            <span className="tag" key={t}>
              {t}
            </span>
          ))}
        </div>
      )}
      {run.description && <p className="run-description">{run.description}</p>}
    </header>
  );
}
