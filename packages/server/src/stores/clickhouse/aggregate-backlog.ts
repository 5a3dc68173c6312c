import type { PartialBlocks } from './partials.ts';
import { insertNative, type ClickHouseStore } from './query.ts';

/** The aggregates a flush owes one experiment. */
export interface BacklogEntry {
  tenant: { teamId: string };
  projectId: string;
  experimentId: string;
  partials: PartialBlocks;
}

export interface BacklogHooks {
  /** The aggregates of every flush up to `gen` that touched these entries' experiments are in: their durable marks can go. */
  written(entries: BacklogEntry[], gen: number): Promise<void>;
  /**
   * An insert failed (some tables may hold the rows, others not): the entries' experiments are
   * rebuilt from their points. Never awaited by the write that failed (the repair needs the writer
   * to itself, which waits for this backlog).
   */
  repair(entries: BacklogEntry[]): Promise<void>;
}

export interface BacklogOptions {
  /**
   * The oldest flush whose aggregates are not in the backlog yet (still inserting its points, or
   * being repaired); Infinity when none. A mark of it or later must stay after a write.
   */
  floorGen: () => number;
  /**
   * How long the first queued entry waits for others to join its insert (ASSAY_AGGREGATE_DELAY_MS);
   * negative: no waiting, and the flush's acknowledgement waits for its aggregates.
   */
  delayMs: number;
  /** Queued bytes at which a flush's acknowledgement waits for the backlog to be written (back-pressure). */
  maxBytes: number;
}

const INPUT_TABLES = ['metrics_summary_input', 'metrics_aggregated_input', 'metrics_rollup_input', 'metrics_rollup_fine_input'] as const;

function bytesOf(p: PartialBlocks): number {
  let n = 0;
  for (const t of INPUT_TABLES) n += p[t]?.length ?? 0;
  return n;
}

/**
 * Aggregates written behind the acknowledgement. Each of a flush's four aggregate inserts (seven
 * views' parts) costs ClickHouse ~10 ms of CPU however few rows it holds — ~40 of the ~60 ms a
 * 2-point batch cost the server. The writer acknowledges once the points are in `metrics` (and the
 * experiments are marked in PostgreSQL as owing aggregates), and hands the partial aggregates
 * here; they wait up to `delayMs` for the next flushes' and go in as one insert per table.
 *
 * Reads see their own writes: a read of an aggregate table waits for the team's queued entries
 * (they are written at once, not after the delay) and for its repairs (query.ts asks `settled`).
 * One write at a time; what queues meanwhile forms the next.
 */
export class AggregateBacklog {
  private queue: BacklogEntry[] = [];
  private queuedBytes = 0;
  private queuedTeams = new Set<string>();
  /** When the oldest queued entry came (performance.now()): it waits delayMs from then. */
  private oldestAt = 0;
  /** The newest flush whose aggregates were handed over (ever), and the oldest one still queued. */
  private queuedGen = 0;
  private queuedMinGen = Infinity;
  /**
   * Experiments written whose marks a newer flush still held (see write), and that newest flush:
   * the next write clears them too.
   */
  private owed = new Map<string, BacklogEntry>();
  private owedGen = 0;
  /** Set by close: a failing repair stops retrying (the marks stay for the next start). */
  private closing = false;
  private timer: NodeJS.Timeout | undefined;
  private current: { done: Promise<void>; teams: Set<string> } | undefined;
  /** The write after `current`, promised to someone who could not wait for the delay. */
  private next: Promise<void> | undefined;
  /** Teams with a repair in progress after a failed write, and its end. */
  private repairs = new Map<string, Promise<void>>();

  constructor(
    private readonly ch: ClickHouseStore,
    private readonly opts: BacklogOptions,
    private readonly hooks: BacklogHooks,
    private readonly log: (err: unknown, msg: string) => void,
  ) {}

  /**
   * Queues a flush's aggregates (`gen`: its number, increasing). Returns a promise when the backlog
   * is over its size: the caller waits for it before acknowledging, so a backlog that cannot keep
   * up slows ingestion instead of growing without bound.
   */
  add(entries: BacklogEntry[], gen: number): Promise<void> | undefined {
    for (const e of entries) {
      const bytes = bytesOf(e.partials);
      if (!bytes) continue;
      if (!this.queue.length) this.oldestAt = performance.now();
      this.queue.push(e);
      this.queuedBytes += bytes;
      this.queuedTeams.add(e.tenant.teamId);
      this.queuedGen = Math.max(this.queuedGen, gen);
      this.queuedMinGen = Math.min(this.queuedMinGen, gen);
    }
    if (!this.queue.length) return undefined;
    if (this.opts.delayMs < 0 || this.queuedBytes >= this.opts.maxBytes) return this.writeSoon();
    if (!this.current) this.schedule();
    return undefined;
  }

  /** The write of what is queued, once the oldest entry has waited delayMs (unless one is set or asked for). */
  private schedule(): void {
    if (this.timer || this.next || !this.queue.length) return;
    const wait = Math.max(0, this.oldestAt + this.opts.delayMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeSoon();
    }, wait);
  }

  /**
   * Resolves once every aggregate queued now for the team is written (or, after a failure, rebuilt
   * — `withRepairs`); undefined (nothing to wait for) when none is pending, the usual case.
   */
  settled(teamId: string, withRepairs: boolean): Promise<void> | undefined {
    const write = this.queuedTeams.has(teamId) ? this.writeSoon() : this.current?.teams.has(teamId) ? this.current.done : undefined;
    if (!withRepairs) return write;
    // a write that fails starts a repair before it settles: look for one after it
    return write ? write.then(() => this.repairs.get(teamId)) : this.repairs.get(teamId);
  }

  /** Writes everything queued and waits for it, e.g. before a repair, a backup or shutdown. */
  async drain(): Promise<void> {
    while (this.queue.length || this.current) await this.writeSoon();
  }

  /** Waits for the repairs under way; `closing`: a failing one stops retrying (shutdown: they hold the stores). */
  async repairsDone(closing = false): Promise<void> {
    this.closing ||= closing;
    while (this.repairs.size) await Promise.all(this.repairs.values());
  }

  /** The write that will hold what is queued now: now if none is running, else right after it. */
  private writeSoon(): Promise<void> {
    if (!this.current) return this.start();
    return (this.next ??= this.current.done.then(() => {
      this.next = undefined;
      return this.start();
    }));
  }

  private start(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.queue.length) return Promise.resolve();
    const entries = this.queue;
    const gen = this.queuedGen;
    const teams = this.queuedTeams;
    this.queue = [];
    this.queuedBytes = 0;
    this.queuedTeams = new Set();
    this.queuedMinGen = Infinity;
    const done = this.write(entries, gen).finally(() => {
      this.current = undefined;
      this.schedule();
    });
    this.current = { done, teams };
    return done;
  }

  private async write(entries: BacklogEntry[], gen: number): Promise<void> {
    const results = await Promise.allSettled(INPUT_TABLES.map((t) => insertNative(this.ch, t, entries.flatMap((e) => e.partials[t] ?? []))));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      this.log(failed.reason, 'aggregate insert failed: rebuilding the experiments from their points');
      void this.repair(entries);
      return;
    }
    // A mark holds the newest flush of its experiment: one still inserting its points, or queued
    // after this write started, keeps it (its aggregates are not in yet) — until a later write.
    const newest = Math.max(gen, this.owedGen);
    const upTo = Math.min(newest, this.opts.floorGen() - 1, this.queuedMinGen - 1);
    const clearing = this.owed.size ? [...entries, ...this.owed.values()] : entries;
    try {
      await this.hooks.written(clearing, upTo);
      if (upTo >= newest) {
        this.owed.clear();
        this.owedGen = 0;
        return;
      }
    } catch (err) {
      // the aggregates are in; the next write clears the marks again
      this.log(err, 'clearing aggregate marks failed');
    }
    for (const e of entries) this.owed.set(`${e.tenant.teamId}:${e.experimentId}`, { tenant: e.tenant, projectId: e.projectId, experimentId: e.experimentId, partials: {} });
    this.owedGen = newest;
  }

  /**
   * Rebuilds the entries' experiments from their points (a failed insert, here or of the points
   * themselves), retrying while it fails (ClickHouse down) until it works or the writer closes;
   * reads of their teams wait for it. Resolves when done, never rejects.
   */
  repair(entries: BacklogEntry[]): Promise<void> {
    // after the caller's write has settled: the repair drains the backlog first, and that write is part of it
    const repair = Promise.resolve().then(() => this.repairUntilDone(entries));
    for (const t of new Set(entries.map((e) => e.tenant.teamId))) {
      const before = this.repairs.get(t);
      const until: Promise<void> = (before ? Promise.all([before, repair]).then(() => undefined) : repair).finally(() => {
        if (this.repairs.get(t) === until) this.repairs.delete(t);
      });
      this.repairs.set(t, until);
    }
    return repair;
  }

  private async repairUntilDone(entries: BacklogEntry[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.hooks.repair(entries);
      } catch (err) {
        if (this.closing) return this.log(err, 'aggregate repair failed at shutdown: the marks stay, the next start rebuilds them');
        this.log(err, 'aggregate repair failed: retrying');
      }
      const until = performance.now() + Math.min(30_000, 500 * 2 ** attempt);
      while (!this.closing && performance.now() < until) await new Promise((r) => setTimeout(r, 100));
    }
  }
}
