import type { ClickHouseStore, Tenant } from '../query.ts';

/** Every metric name logged in a project (from the summary table: no point scan). */
export const SQL_PROJECT_METRIC_NAMES = `SELECT DISTINCT metric_name
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
ORDER BY metric_name`;

export async function projectMetricNames(ch: ClickHouseStore, tenant: Tenant, projectId: string): Promise<string[]> {
  const rows = await ch.rows<[string]>(tenant, 'metrics.project_names', SQL_PROJECT_METRIC_NAMES, { project_id: projectId });
  return rows.map((r) => r[0]);
}
