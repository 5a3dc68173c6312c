import { asc, count, isNull, min, sql } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { aggregateBacklog, metricBatches } from '../schema.ts';

/**
 * Operator views across every team (`assay doctor`, behind the local admin token): no tenant
 * argument on purpose, and no tenant route reaches them.
 */

export interface PendingBatches {
  count: number;
  oldest: Date | null;
  /** The oldest ones first. */
  items: { teamId: string; experimentId: string; batchId: string; createdAt: Date }[];
}

/** Metric batches recorded before their ClickHouse insert and not committed after it (a crash in between, or an insert in flight). */
export async function pendingBatches(db: Db, limit: number): Promise<PendingBatches> {
  const [agg] = await db.select({ n: count(), oldest: min(metricBatches.createdAt) }).from(metricBatches).where(isNull(metricBatches.committedAt));
  const items = await db
    .select({ teamId: metricBatches.teamId, experimentId: metricBatches.experimentId, batchId: metricBatches.batchId, createdAt: metricBatches.createdAt })
    .from(metricBatches)
    .where(isNull(metricBatches.committedAt))
    .orderBy(asc(metricBatches.createdAt), asc(metricBatches.batchId))
    .limit(limit);
  return { count: Number(agg?.n ?? 0), oldest: agg?.oldest ? new Date(agg.oldest) : null, items };
}

/**
 * Experiments whose acknowledged points' aggregates are still to be written (`aggregate_backlog`),
 * and how many of those marks outlived their lease (a stopped writer's: the crash sweeper's pass or
 * the next start rebuilds them).
 */
export async function aggregateMarks(db: Db): Promise<{ count: number; leaseExpired: number }> {
  const [r] = await db
    .select({ n: count(), expired: sql<number>`count(*) FILTER (WHERE ${aggregateBacklog.leaseUntil} <= now())` })
    .from(aggregateBacklog);
  return { count: Number(r?.n ?? 0), leaseExpired: Number(r?.expired ?? 0) };
}
