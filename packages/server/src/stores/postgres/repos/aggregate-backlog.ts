import { sql } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { aggregateBacklog, experiments } from '../schema.ts';
import type { Tenant } from '../tenant.ts';
import { leaseEnd } from './metric-logs.ts';

/** An experiment a flush writes, as its mark names it. */
export interface BacklogExperiment {
  projectId: string;
  experimentId: string;
}

const rowsOf = <T = unknown>(r: unknown): T[] => (r as { rows: T[] }).rows;

/**
 * Before a flush inserts its points: its experiments are marked as owing aggregates, by `writer`
 * at flush `gen` (the newest such flush: two flushes' marks may commit in either order), with a lease (a live writer clears its marks within moments; one left past the
 * lease belongs to a process that died or could not write, and anyone may repair it). Experiments
 * deleted meanwhile are skipped (the join), so the mark never fails the flush on a foreign key.
 */
export async function markPending(db: Db, tenant: Tenant, writer: string, gen: number, list: BacklogExperiment[], leaseMs: number): Promise<void> {
  if (!list.length) return;
  const rows = JSON.stringify(list.map((e) => ({ p: e.projectId, e: e.experimentId })));
  await db.execute(sql`
    INSERT INTO ${aggregateBacklog} (team_id, project_id, experiment_id, writer, gen, lease_until)
    SELECT ${tenant.teamId}::uuid, r.p, r.e, ${writer}, ${gen}::bigint, ${leaseEnd(leaseMs)}
    FROM jsonb_to_recordset(${rows}::jsonb) AS r(p uuid, e uuid)
    JOIN ${experiments} x ON x.id = r.e AND x.team_id = ${tenant.teamId}::uuid
    ON CONFLICT (experiment_id, writer) DO UPDATE SET gen = greatest(${aggregateBacklog.gen}, excluded.gen), lease_until = excluded.lease_until`);
}

/** Once the aggregates of flushes up to `gen` are written: their marks go (a later flush's mark stays). */
export async function clearPending(db: Db, tenant: Tenant, writer: string, gen: number, experimentIds: string[]): Promise<void> {
  if (!experimentIds.length) return;
  await db.execute(sql`
    DELETE FROM ${aggregateBacklog}
    WHERE team_id = ${tenant.teamId}::uuid AND writer = ${writer} AND gen <= ${gen}::bigint
      AND experiment_id IN (SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(experimentIds)}::jsonb))`);
}

export interface StaleMark {
  teamId: string;
  projectId: string;
  experimentId: string;
  writer: string;
  gen: number;
}

/**
 * System job (start, crash sweeper), across teams: marks whose lease ran out. `anyLease`: every
 * mark (embedded stores at start: this process is the only one, and it has written nothing yet).
 */
export async function listStale(db: Db, o: { anyLease: boolean }): Promise<StaleMark[]> {
  const r = await db.execute(sql`
    SELECT team_id, project_id, experiment_id, writer, gen FROM ${aggregateBacklog}
    WHERE ${o.anyLease} OR lease_until <= now()
    ORDER BY lease_until`);
  return rowsOf<{ team_id: string; project_id: string; experiment_id: string; writer: string; gen: string | number }>(r).map((x) => ({
    teamId: x.team_id,
    projectId: x.project_id,
    experimentId: x.experiment_id,
    writer: x.writer,
    gen: Number(x.gen),
  }));
}

/**
 * Takes a stale mark for a repair: renews its lease if it is still the one listed (same writer and
 * gen, lease still out — under concurrent repairers the row lock re-checks it, so one wins).
 */
export async function claimStale(db: Db, tenant: Tenant, m: StaleMark, leaseMs: number, anyLease = false): Promise<boolean> {
  const r = await db.execute(sql`
    UPDATE ${aggregateBacklog} SET lease_until = ${leaseEnd(leaseMs)}
    WHERE team_id = ${tenant.teamId}::uuid AND experiment_id = ${m.experimentId}::uuid AND writer = ${m.writer} AND gen = ${m.gen}::bigint
      AND (${anyLease} OR lease_until <= now())
    RETURNING 1 AS taken`);
  return rowsOf(r).length === 1;
}

/** After the repair: the mark goes, unless its writer marked the experiment again meanwhile. */
export async function deleteRepaired(db: Db, tenant: Tenant, m: StaleMark): Promise<void> {
  await db.execute(sql`
    DELETE FROM ${aggregateBacklog}
    WHERE team_id = ${tenant.teamId}::uuid AND experiment_id = ${m.experimentId}::uuid AND writer = ${m.writer} AND gen = ${m.gen}::bigint`);
}
