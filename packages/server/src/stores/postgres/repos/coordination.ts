import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { replicaCoordination } from '../schema.ts';

/**
 * Coordination between the API processes sharing one database (docs/architecture.md "Running
 * several replicas"). System state, not a tenant's: no tenant argument. Times are PostgreSQL's
 * `now()`, the one clock every replica shares.
 */

const rowsOf = <T>(r: unknown): T[] => (r as { rows: T[] }).rows;

/**
 * Takes or renews the named lease for `holder` for `ttlMs`: true while `holder` has it. Another
 * holder gets it only once it ran out (its process stopped renewing: died, or stopped and released).
 */
export async function tryLease(db: Db, name: string, holder: string, ttlMs: number): Promise<boolean> {
  const r = await db.execute(sql`
    INSERT INTO ${replicaCoordination} (name, holder, expires_at, updated_at)
    VALUES (${name}, ${holder}, now() + ${ttlMs}::int * interval '1 millisecond', now())
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, updated_at = excluded.updated_at
    WHERE ${replicaCoordination.holder} = excluded.holder OR ${replicaCoordination.holder} IS NULL OR ${replicaCoordination.expiresAt} <= now()
    RETURNING holder`);
  return rowsOf(r).length === 1;
}

/** Gives the lease up at once (a clean stop), if `holder` has it. */
export async function releaseLease(db: Db, name: string, holder: string): Promise<void> {
  await db
    .update(replicaCoordination)
    .set({ holder: null, expiresAt: null, updatedAt: sql`now()` })
    .where(and(eq(replicaCoordination.name, name), eq(replicaCoordination.holder, holder)));
}

/** Who holds the named lease now (undefined: nobody, or it ran out). */
export async function leaseHolder(db: Db, name: string): Promise<string | undefined> {
  const [r] = await db
    .select({ holder: replicaCoordination.holder })
    .from(replicaCoordination)
    .where(and(eq(replicaCoordination.name, name), sql`${replicaCoordination.expiresAt} > now()`));
  return r?.holder ?? undefined;
}

/**
 * Reserves `size` consecutive values of the named counter, starting at `min` or above everything
 * reserved before (whichever is larger); returns the first. Concurrent reservations serialize on
 * the row, so no two processes ever get overlapping ranges.
 */
export async function reserveCounterBlock(db: Db, name: string, min: number, size: number): Promise<number> {
  const r = await db.execute(sql`
    INSERT INTO ${replicaCoordination} (name, counter, updated_at)
    VALUES (${name}, ${min}::bigint + ${size}::bigint, now())
    ON CONFLICT (name) DO UPDATE SET counter = greatest(${replicaCoordination.counter}, ${min}::bigint) + ${size}::bigint, updated_at = now()
    RETURNING counter - ${size}::bigint AS base`);
  return Number(rowsOf<{ base: string | number }>(r)[0].base);
}
