import type { Db } from './db.ts';
import { addWriteLogs, type MetricWrite } from './repos/metric-logs.ts';
import type { Tenant } from './tenant.ts';

/**
 * Keeps the seed's metric_write_logs (points and last timestamp per experiment and metric) as a
 * mirror, written at most every `intervalMs` instead of in every flush: a flush touches a row per
 * (experiment, metric), and that upsert was ~12 ms of synchronous PGlite time per flush on the
 * acknowledgement path. The API reads metric names and counts from the ClickHouse summary, which
 * is written before the acknowledgement; this table may trail it by `intervalMs` (and loses at
 * most that much if the process dies — the points themselves are not affected).
 */
export class WriteLogMirror {
  private pending = new Map<string, { tenant: Tenant; writes: Map<string, MetricWrite> }>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly intervalMs: number,
    private readonly log: (err: unknown, msg: string) => void,
  ) {}

  add(tenant: Tenant, writes: Iterable<MetricWrite>): void {
    let t = this.pending.get(tenant.teamId);
    if (!t) this.pending.set(tenant.teamId, (t = { tenant, writes: new Map() }));
    for (const w of writes) {
      const key = `${w.experimentId}\u0000${w.metricName}`;
      const had = t.writes.get(key);
      if (!had) t.writes.set(key, { ...w });
      else {
        had.points += w.points;
        if (w.lastLoggedAt > had.lastLoggedAt) had.lastLoggedAt = w.lastLoggedAt;
      }
    }
    this.timer ??= setTimeout(() => void this.flush(), this.intervalMs).unref();
  }

  /** Drops what is not written yet for these experiments (their metrics are being deleted). */
  forget(tenant: Tenant, experimentIds: string[]): void {
    const t = this.pending.get(tenant.teamId);
    if (!t) return;
    const ids = new Set(experimentIds);
    for (const [key, w] of t.writes) if (ids.has(w.experimentId)) t.writes.delete(key);
  }

  /** Writes everything pending (one statement per team); flushes never overlap. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.flushing.then(async () => {
      const at = new Date();
      for (const { tenant, writes } of batch.values()) {
        try {
          await addWriteLogs(this.db, tenant, [...writes.values()], at);
        } catch (err) {
          this.log(err, 'metric_write_logs mirror update failed');
        }
      }
    });
    return this.flushing;
  }
}
