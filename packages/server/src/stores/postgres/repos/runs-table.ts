import { and, asc, desc, eq, getTableColumns, gt, inArray, isNull, or, type SQL } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { clickhouseSyncState, experimentReferences, experiments } from '../schema.ts';
import type { Tenant } from '../tenant.ts';
import type { ExperimentRow } from './experiments.ts';

/**
 * The runs of a project for the UI's table, newest first, up to `limit` rows (the caller asks for
 * one more to tell truncation). The code snapshot (`git`, up to megabytes of diff) is not read.
 * With `since`: only runs whose row changed, that sent a heartbeat, or whose points were written
 * (clickhouse_sync_state, stamped after every flush) after that time.
 */
export async function listTableRuns(
  db: Db,
  tenant: Tenant,
  projectId: string,
  o: { includeDeleted: boolean; since?: Date; limit: number },
): Promise<Omit<ExperimentRow, 'git'>[]> {
  const where: (SQL | undefined)[] = [eq(experiments.teamId, tenant.teamId), eq(experiments.projectId, projectId)];
  if (!o.includeDeleted) where.push(isNull(experiments.deletedAt));
  if (o.since) {
    const written = db
      .select({ id: clickhouseSyncState.experimentId })
      .from(clickhouseSyncState)
      .where(and(eq(clickhouseSyncState.teamId, tenant.teamId), gt(clickhouseSyncState.lastSyncedAt, o.since)));
    where.push(or(gt(experiments.updatedAt, o.since), gt(experiments.heartbeatAt, o.since), inArray(experiments.id, written)));
  }
  const { git: _git, ...cols } = getTableColumns(experiments);
  return db
    .select(cols)
    .from(experiments)
    .where(and(...where))
    .orderBy(desc(experiments.createdAt), desc(experiments.id))
    .limit(o.limit);
}

/** Every reference edge (child → parent, any kind) among the runs of a project, oldest first. */
export async function projectParentEdges(db: Db, tenant: Tenant, projectId: string): Promise<{ child: string; parent: string }[]> {
  return db
    .select({ child: experimentReferences.experimentId, parent: experimentReferences.parentId })
    .from(experimentReferences)
    .innerJoin(experiments, and(eq(experiments.id, experimentReferences.experimentId), eq(experiments.teamId, tenant.teamId)))
    .where(and(eq(experimentReferences.teamId, tenant.teamId), eq(experiments.projectId, projectId)))
    .orderBy(asc(experimentReferences.createdAt));
}
