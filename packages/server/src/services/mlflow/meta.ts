import type { AppContext } from '../../context.ts';
import * as repo from '../../stores/postgres/repos/experiments.ts';
import type { ExperimentRow } from '../../stores/postgres/repos/experiments.ts';
import type { Tenant } from '../../stores/postgres/tenant.ts';
import { requireRole } from '../auth.ts';
import { missing } from './errors.ts';
import { hex, metaOf, RESERVED_KEY, type MlflowMeta } from './model.ts';

/** Deep-merges a change into a run's MLflow metadata (features["mlflow"]); lists in the change replace the stored ones. */
export async function updateRunMeta(ctx: AppContext, tenant: Tenant, e: ExperimentRow, change: (m: MlflowMeta) => Partial<MlflowMeta>): Promise<ExperimentRow> {
  requireRole(tenant, 'researcher');
  const u = await repo.updateExperiment(ctx.pg.db, tenant, e.projectId, e.id, { mergeFeatures: { [RESERVED_KEY]: change(metaOf(e)) } });
  if (!u) throw missing(`Run with id=${hex(e.id)} not found`);
  return u;
}
