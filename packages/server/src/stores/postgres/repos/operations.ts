import { asc, count, isNull, min } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { metricBatches } from '../schema.ts';

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
