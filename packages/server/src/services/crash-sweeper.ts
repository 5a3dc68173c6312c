import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { AppContext } from '../context.ts';
import { releaseLease, tryLease } from '../stores/postgres/repos/coordination.ts';
import { markStaleRunsCrashed } from '../stores/postgres/repos/experiments.ts';
import { recoverAggregateBacklog } from './aggregate-marks.ts';
import { batchLeaseMs, recoverPendingBatches } from './ingest.ts';

/**
 * Crash detection: `running` experiments whose last heartbeat is older than
 * ASSAY_HEARTBEAT_TIMEOUT_SECONDS become `crashed` (finished_at = the last heartbeat). One pass,
 * exported so tests can trigger it: pass `now` in the future instead of waiting, and `onlyTeams`
 * when the database may be shared with other suites (the sweep is otherwise cross-tenant).
 */
export async function sweepStaleRuns(ctx: AppContext, opts: { now?: Date; onlyTeams?: string[] } = {}): Promise<{ id: string; teamId: string }[]> {
  const now = opts.now ?? new Date();
  const cutoff = new Date(now.getTime() - ctx.config.ASSAY_HEARTBEAT_TIMEOUT_SECONDS * 1000);
  return markStaleRunsCrashed(ctx.pg.db, cutoff, now, opts.onlyTeams);
}

export interface CrashSweeper {
  /** Runs one pass now (unless the start-up grace period is still on); resolves to the ids marked. */
  sweep(): Promise<{ id: string; teamId: string }[]>;
  /** Stops the timer, waits for a pass in flight and hands the lease on, so stores can close after it. */
  stop(): Promise<void>;
  /** This process's name in the lease (host:pid:random). */
  readonly holder: string;
  /** Passes this process ran while holding the lease. */
  readonly passes: number;
}

type Log = { info?(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };

/** The sweeper's lease in replica_coordination. */
export const SWEEPER_LEASE = 'crash-sweeper';

/**
 * Started by `serve`: a pass every min(30 s, timeout / 3). The timer is unref'd (never keeps the
 * process alive). For the first `timeout` after start nothing is marked: while the server was down,
 * live runs could not heartbeat, and they deserve one full timeout to reach us again.
 *
 * Every API process runs one, but a pass runs only in the process holding the sweeper's lease
 * (a row in PostgreSQL, renewed by each pass, 3 intervals and at least 15 s long): one replica
 * sweeps, the others stand by and take over once that ran out if it dies, at once if it stops cleanly. The pass also
 * settles batch ids whose writer died with their lease run out (services/ingest.ts), so a dead
 * replica's cut-off batches don't wait for a restart or a retry; and it rebuilds the aggregates a
 * dead writer still owed (services/aggregate-marks.ts).
 */
export function startCrashSweeper(ctx: AppContext, log: Log, opts: { intervalMs?: number; graceMs?: number; onlyTeams?: string[] } = {}): CrashSweeper {
  const timeoutMs = ctx.config.ASSAY_HEARTBEAT_TIMEOUT_SECONDS * 1000;
  const intervalMs = opts.intervalMs ?? Math.max(250, Math.min(30_000, timeoutMs / 3));
  // at least 15 s: a pass held up by a busy event loop or a slow database must not hand the sweep over
  const leaseMs = Math.max(15_000, Math.ceil(3 * intervalMs));
  const graceUntil = Date.now() + (opts.graceMs ?? timeoutMs);
  const holder = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  let inFlight: Promise<{ id: string; teamId: string }[]> | undefined;
  let stopped = false;
  /** Whether the last pass had the lease (undefined: no pass yet), to log changes only. */
  let held: boolean | undefined;
  let passes = 0;

  const pass = async () => {
    const leased = await tryLease(ctx.pg.db, SWEEPER_LEASE, holder, leaseMs);
    if (leased !== held) log.info?.({ holder }, leased ? `crash sweeper: this process (${holder}) holds the sweeper lease` : `crash sweeper: another process holds the sweeper lease`);
    held = leased;
    if (!leased) return [];
    passes++;
    const marked = await sweepStaleRuns(ctx, { onlyTeams: opts.onlyTeams });
    if (marked.length) log.warn({ experiments: marked.map((m) => m.id), holder }, `marked ${marked.length} run(s) crashed: no heartbeat for ${ctx.config.ASSAY_HEARTBEAT_TIMEOUT_SECONDS} s`);
    const settled = await recoverPendingBatches(ctx, { onlyTeams: opts.onlyTeams });
    if (settled.landed + settled.dropped) log.warn({ ...settled, holder }, `settled ${settled.landed + settled.dropped} batch(es) a stopped writer left pending`);
    const rebuilt = await recoverAggregateBacklog(ctx, batchLeaseMs(ctx.config), { onlyTeams: opts.onlyTeams });
    if (rebuilt) log.warn({ rebuilt, holder }, `rebuilt the aggregates of ${rebuilt} experiment(s) a stopped writer left unwritten`);
    return marked;
  };

  const sweep = () => {
    if (stopped || Date.now() < graceUntil) return Promise.resolve([]);
    inFlight ??= pass()
      .catch((err: unknown) => {
        log.error({ err }, 'crash sweep failed');
        return [];
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };

  const timer = setInterval(() => void sweep(), intervalMs);
  timer.unref();
  return {
    sweep,
    holder,
    get passes() {
      return passes;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
      // the next replica's pass takes over now instead of after the lease runs out
      if (held) await releaseLease(ctx.pg.db, SWEEPER_LEASE, holder).catch(() => undefined);
    },
  };
}
