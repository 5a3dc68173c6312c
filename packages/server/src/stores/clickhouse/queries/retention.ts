import { AGGREGATES } from '../ddl.ts';
import type { ClickHouseStore, Tenant } from '../query.ts';

/**
 * A project's retention, rewritten on its points and aggregate rows (ddl.ts migration 6). The
 * mutation recomputes the TTL of every part it rewrites, so points already past the new retention
 * are gone when it returns (mutations_sync = 2: on every replica), not at some later merge.
 */
export const SQL_SET_RETENTION: readonly string[] = ['metrics', ...AGGREGATES.map((a) => a.target)].map(
  (table) =>
    `ALTER TABLE ${table} UPDATE retention_days = {retention_days:UInt16} WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID} AND retention_days != {retention_days:UInt16} SETTINGS mutations_sync = 2`,
);

/** Points per experiment of a project (raw rows: what the TTL removes). */
export const SQL_PROJECT_POINT_COUNTS = `SELECT toString(experiment_id), count()
FROM metrics
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
GROUP BY experiment_id`;

export async function projectPointCounts(ch: ClickHouseStore, tenant: Tenant, projectId: string): Promise<Map<string, number>> {
  const rows = await ch.rows<[string, number]>(tenant, 'retention.counts', SQL_PROJECT_POINT_COUNTS, { project_id: projectId });
  return new Map(rows.map(([e, n]) => [e, Number(n)]));
}

export async function setRetention(ch: ClickHouseStore, tenant: Tenant, projectId: string, days: number): Promise<void> {
  for (const sql of SQL_SET_RETENTION) await ch.tenantCommand(tenant, 'retention.set', sql, { project_id: projectId, retention_days: days });
}
