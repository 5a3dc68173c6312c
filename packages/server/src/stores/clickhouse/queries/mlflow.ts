import type { ClickHouseStore, Tenant } from '../query.ts';
import type { RawValue } from './metrics.ts';

/** The columns both reads return, from one project's summary rows (the WHERE clause goes on after it). */
const LATEST_OF_PROJECT = `SELECT experiment_id, metric_name,
  argMaxMerge(last_value) AS last_v,
  max(last_step) AS last_step,
  toUnixTimestamp64Milli(max(last_timestamp)) AS last_ts
FROM metrics_summary
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
`;

/**
 * MLflow's "latest metrics" (the value at the highest step) of a project's runs, read by project
 * rather than by a list of run ids: a search_runs filter or order on metrics needs them for every
 * run of the experiment, and 10,000 ids as a parameter cost more than the read. The same summary
 * columns as SQL_COMPARE's `last`, without the min/max/sum the MLflow API never shows.
 */
export const SQL_LATEST_IN_PROJECT = `${LATEST_OF_PROJECT}  AND (empty({metric_names:Array(String)}) OR has({metric_names:Array(String)}, metric_name))
GROUP BY experiment_id, metric_name`;

/** The same for named runs (a page of search results, get_run). */
export const SQL_LATEST_OF_RUNS = `${LATEST_OF_PROJECT}  AND experiment_id IN {experiment_ids:Array(UUID)}
GROUP BY experiment_id, metric_name`;

export type LatestRow = [experimentId: string, metric: string, last: RawValue, lastStep: number, lastTsMs: number];

export async function latestInProject(ch: ClickHouseStore, tenant: Tenant, projectId: string, metricNames: string[]): Promise<LatestRow[]> {
  return ch.rows<LatestRow>(tenant, 'mlflow.latest_in_project', SQL_LATEST_IN_PROJECT, { project_id: projectId, metric_names: metricNames });
}

export async function latestOfRuns(ch: ClickHouseStore, tenant: Tenant, projectId: string, experimentIds: string[]): Promise<LatestRow[]> {
  return ch.rows<LatestRow>(tenant, 'mlflow.latest_of_runs', SQL_LATEST_OF_RUNS, { project_id: projectId, experiment_ids: experimentIds });
}
