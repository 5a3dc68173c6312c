import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { AppContext } from '../context.ts';
import type { BacklogEntry, BacklogHooks } from '../stores/clickhouse/aggregate-backlog.ts';
import * as q from '../stores/clickhouse/queries/metrics.ts';
import type { ClickHouseStore } from '../stores/clickhouse/query.ts';
import type { MetricWriter, WriteRequest } from '../stores/clickhouse/writer.ts';
import type { PostgresStore } from '../stores/postgres/db.ts';
import * as marks from '../stores/postgres/repos/aggregate-backlog.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';

/**
 * The durable side of the aggregate backlog (stores/clickhouse/aggregate-backlog.ts): before a
 * flush's points go in, its experiments are marked in PostgreSQL as owing aggregates; the marks go
 * once the aggregates are in. Whatever stops in between — the process killed, an aggregate insert
 * failed — leaves a mark, and a mark is repaired by rebuilding the experiment's aggregates from its
 * points (queries/metrics.ts rebuildAggregates): at once after a failed insert, at start, and by
 * the crash sweeper once a dead process's lease ran out. So an acknowledged point's aggregates are
 * never lost, only late.
 */

/** This process's name on its marks (host:pid:random): a restarted process is another writer. */
export const writerName = (): string => `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

/** Only the team matters to the stores; this is the system acting on the team's behalf. */
export const systemTenant = (teamId: string): Tenant => ({ teamId, userId: '', role: 'admin', keyId: null, sessionId: null });

function byTeam<E extends { tenant: { teamId: string }; projectId: string; experimentId: string }>(entries: E[]) {
  const teams = new Map<string, Map<string, marks.BacklogExperiment>>();
  for (const e of entries) {
    let t = teams.get(e.tenant.teamId);
    if (!t) teams.set(e.tenant.teamId, (t = new Map()));
    t.set(e.experimentId, { projectId: e.projectId, experimentId: e.experimentId });
  }
  return [...teams].map(([teamId, exps]) => ({ tenant: systemTenant(teamId), experiments: [...exps.values()] }));
}

/** Marks a flush's experiments (its `beforeInsert` step): one statement per team. */
export async function markFlush(pg: PostgresStore, writer: string, gen: number, batch: WriteRequest[], leaseMs: number): Promise<void> {
  for (const t of byTeam(batch)) await marks.markPending(pg.db, t.tenant, writer, gen, t.experiments, leaseMs);
}

/** The backlog's hooks: clear the marks once written; rebuild from the points after a failure. */
export function backlogHooks(stores: { pg: PostgresStore; ch: ClickHouseStore }, writer: string, metricWriter: () => MetricWriter): BacklogHooks {
  const clear = async (entries: BacklogEntry[], gen: number) => {
    for (const t of byTeam(entries)) await marks.clearPending(stores.pg.db, t.tenant, writer, gen, t.experiments.map((e) => e.experimentId));
  };
  return {
    written: clear,
    repair: (entries) =>
      metricWriter().exclusive(async () => {
        // the writer is ours alone: every flush so far is in `metrics`, no aggregate is queued
        const upTo = metricWriter().lastGen;
        for (const t of byTeam(entries)) for (const e of t.experiments) await q.rebuildAggregates(stores.ch, t.tenant, e.projectId, e.experimentId);
        await clear(entries, upTo);
      }),
  };
}

/**
 * Repairs marks left by stopped writers (their lease ran out; `all`: every mark, for embedded
 * stores at start, where this is the only process and has written nothing yet). Each mark is taken
 * first (one repairer wins), rebuilt with this process's writer to itself, then removed unless its
 * writer marked the experiment again meanwhile. `onlyTeams` scopes it for tests.
 */
export async function recoverAggregateBacklog(ctx: AppContext, leaseMs: number, o: { all?: boolean; onlyTeams?: string[] } = {}): Promise<number> {
  let repaired = 0;
  for (const m of await marks.listStale(ctx.pg.db, { anyLease: o.all ?? false })) {
    if (o.onlyTeams && !o.onlyTeams.includes(m.teamId)) continue;
    const tenant = systemTenant(m.teamId);
    if (!(await marks.claimStale(ctx.pg.db, tenant, m, leaseMs, o.all))) continue;
    await ctx.writer.exclusive(() => q.rebuildAggregates(ctx.ch, tenant, m.projectId, m.experimentId));
    await marks.deleteRepaired(ctx.pg.db, tenant, m);
    repaired++;
  }
  return repaired;
}
