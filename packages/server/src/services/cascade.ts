import type { AppContext } from '../context.ts';
import * as q from '../stores/clickhouse/queries/metrics.ts';
import * as experimentRepo from '../stores/postgres/repos/experiments.ts';
import * as logs from '../stores/postgres/repos/metric-logs.ts';
import * as projectRepo from '../stores/postgres/repos/projects.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { forgetIngestTargets } from './resolve.ts';

/**
 * Deletes that span both stores. Points go first: once the metadata row is gone nothing could
 * find them again (ClickHouse has no foreign keys). Callers have checked role and ownership.
 */
export async function deleteMetricsOf(ctx: AppContext, tenant: Tenant, projectId: string, experimentIds: string[]): Promise<void> {
  if (!experimentIds.length) return;
  await q.deleteExperimentPoints(ctx.ch, tenant, projectId, experimentIds);
  ctx.writeLogs.forget(tenant, experimentIds);
  await ctx.writeLogs.flush(); // nothing of these experiments may land after the clear below
  await logs.clearExperimentMetrics(ctx.pg.db, tenant, experimentIds);
}

export async function deleteExperimentCascade(ctx: AppContext, tenant: Tenant, projectId: string, experimentId: string): Promise<void> {
  forgetIngestTargets(ctx);
  await deleteMetricsOf(ctx, tenant, projectId, [experimentId]);
  await experimentRepo.deleteExperiment(ctx.pg.db, tenant, projectId, experimentId);
}

export async function deleteProjectCascade(ctx: AppContext, tenant: Tenant, projectId: string): Promise<void> {
  forgetIngestTargets(ctx);
  await deleteMetricsOf(ctx, tenant, projectId, await experimentRepo.listExperimentIds(ctx.pg.db, tenant, projectId));
  await projectRepo.deleteProject(ctx.pg.db, tenant, projectId);
}
