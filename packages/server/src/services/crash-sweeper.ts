import type { AppContext } from '../context.ts';
import { markStaleRunsCrashed } from '../stores/postgres/repos/experiments.ts';

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
  /** Stops the timer and waits for a pass in flight, so stores can close after it. */
  stop(): Promise<void>;
}

type Log = { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };

/**
 * Started by `serve`: a pass every min(30 s, timeout / 3). The timer is unref'd (never keeps the
 * process alive). For the first `timeout` after start nothing is marked: while the server was down,
 * live runs could not heartbeat, and they deserve one full timeout to reach us again.
 */
export function startCrashSweeper(ctx: AppContext, log: Log, opts: { intervalMs?: number; graceMs?: number; onlyTeams?: string[] } = {}): CrashSweeper {
  const timeoutMs = ctx.config.ASSAY_HEARTBEAT_TIMEOUT_SECONDS * 1000;
  const intervalMs = opts.intervalMs ?? Math.max(250, Math.min(30_000, timeoutMs / 3));
  const graceUntil = Date.now() + (opts.graceMs ?? timeoutMs);
  let inFlight: Promise<{ id: string; teamId: string }[]> | undefined;
  let stopped = false;

  const sweep = () => {
    if (stopped || Date.now() < graceUntil) return Promise.resolve([]);
    inFlight ??= sweepStaleRuns(ctx, { onlyTeams: opts.onlyTeams })
      .then((marked) => {
        if (marked.length) log.warn({ experiments: marked.map((m) => m.id) }, `marked ${marked.length} run(s) crashed: no heartbeat for ${ctx.config.ASSAY_HEARTBEAT_TIMEOUT_SECONDS} s`);
        return marked;
      })
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
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
    },
  };
}
