/** The experiment as `GET /projects/{p}/experiments/{e}` answers it (docs/api.md). */
export interface Experiment {
  id: string;
  project_id: string;
  name: string;
  description: string | null;
  status: 'running' | 'complete' | 'failed' | 'crashed';
  features: Record<string, unknown>;
  tags: string[];
  host: string | null;
  git: GitSnapshot | null;
  parent_id: string | null;
  started_at: string | null;
  finished_at: string | null;
  heartbeat_at: string | null;
  created_at: string;
}

export interface GitSnapshot {
  commit?: string;
  branch?: string;
  remote_url?: string;
  dirty?: boolean;
  diff?: string;
  untracked?: string[];
}

export interface Project {
  id: string;
  name: string;
}

export function durationText(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${r}s`;
  return `${r}s`;
}
