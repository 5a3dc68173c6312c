import type { ExperimentRow } from '../stores/postgres/repos/experiments.ts';
import type { ProjectRow } from '../stores/postgres/repos/projects.ts';
import { encodeCursor } from '../stores/postgres/tenant.ts';

/** Row → wire shape (snake_case, ISO dates). */
const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const projectDto = (p: ProjectRow) => ({
  id: p.id,
  team_id: p.teamId,
  name: p.name,
  description: p.description,
  retention_days: p.retentionDays,
  deleted_at: p.deletedAt?.toISOString() ?? null,
  created_at: p.createdAt.toISOString(),
  updated_at: p.updatedAt.toISOString(),
});

export const experimentDto = (e: ExperimentRow) => ({
  id: e.id,
  team_id: e.teamId,
  project_id: e.projectId,
  name: e.name,
  description: e.description,
  status: e.status,
  features: e.features,
  tags: e.tags,
  host: e.host,
  git: e.git,
  parent_id: e.parentId,
  started_at: e.startedAt.toISOString(),
  finished_at: iso(e.finishedAt),
  heartbeat_at: iso(e.heartbeatAt),
  deleted_at: iso(e.deletedAt),
  created_at: e.createdAt.toISOString(),
  updated_at: e.updatedAt.toISOString(),
});

/** Repositories fetch limit+1 rows; the extra one tells whether there is a next page. */
export function pageOf<R extends { createdAt: Date; id: string }, T>(rows: R[], limit: number, map: (r: R) => T) {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items: items.map(map), next_cursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
}
