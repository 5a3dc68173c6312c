/**
 * The live run's spool replay (Node): while the sender is in spool mode, send the segment back in
 * order, and once it has caught up, delete it and let the sender go direct again. `syncSpool`
 * (sync.ts) is the offline twin for segments no process owns.
 *
 * Metric batches are replayed up to `maxInFlight` at a time when they cannot touch the same
 * (metric, step); any other record is a barrier (sent alone, in order). The offset only advances
 * over a prefix that fully succeeded, so a crash mid-replay re-sends (harmlessly: batch ids).
 */
import type { HttpClient } from './http.ts';
import type { Logger } from './logger.ts';
import { classifyError, retryDelay, type BackoffOptions } from './backoff.ts';
import { applyRecord, isAuthError, type ApplyResult, type ReplayContext } from './delivery.ts';
import { readRecords, type ReadItem, type SpoolRecord, type SpoolSegment } from './spool.ts';
import { rangesOverlap, stepRanges } from './batching.ts';

/** What the replay needs from its sender. */
export interface ReplayPort {
  readonly http: HttpClient;
  readonly ctx: ReplayContext;
  readonly maxInFlight: number;
  readonly backoff: BackoffOptions;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** Per-request timeout: short while probing a server that failed (hung counts as down). */
  timeoutMs(probing: boolean): number;
  /** Still replaying? (spool mode, not closed, not stopped by a refused key) */
  active(): boolean;
  /** Move what is in memory to the segment and return it (null: nothing was ever spooled). */
  segment(): SpoolSegment | null;
  /** Everything replayed (the segment, if any, is deleted): direct sending resumes. */
  caughtUp(seg: SpoolSegment | null): void;
  /** A record reached the server. */
  applied(rec: SpoolRecord, r: ApplyResult): void;
  /** The server refused a record for good (not 401/403): it is skipped. */
  refused(rec: SpoolRecord, err: unknown): void;
  /** 401/403, or the experiment cannot be resolved: stop, keep the spool for `sync`. */
  blocked(err: unknown, rec: SpoolRecord): void;
  retried(err: unknown): void;
  /** The header resolved the experiment (a run that started offline). */
  resolved(): Promise<void> | void;
  sleep(ms: number): Promise<void>;
}

/** The longest run of items from `i` that may be sent together. */
function window(items: ReadItem[], i: number, max: number): ReadItem[] {
  const first = items[i].record;
  if (first.type !== 'metrics') return [items[i]];
  const seen = [stepRanges(first.metrics)];
  let j = i + 1;
  while (j < items.length && j - i < max) {
    const r = items[j].record;
    if (r.type !== 'metrics') break;
    const rr = stepRanges(r.metrics);
    if (seen.some((x) => rangesOverlap(x, rr))) break;
    seen.push(rr);
    j++;
  }
  return items.slice(i, j);
}

export async function replaySpool(port: ReplayPort): Promise<void> {
  let attempt = 0;
  let probing = true;
  while (port.active()) {
    const seg = port.segment();
    if (!seg) return port.caughtUp(null);
    const items = readRecords(seg.path, seg.offset, 8 * 1024 * 1024, (_line, at) => port.logger.error(`corrupt spool line at byte ${at} of ${seg.path} skipped`));
    if (items.length === 0) {
      // caught up (no await between the read and this point: nothing can have been appended)
      port.caughtUp(seg);
      return;
    }
    let i = 0;
    let retryErr: unknown = null;
    while (i < items.length && retryErr === null) {
      if (!port.active()) return;
      const win = window(items, i, port.maxInFlight);
      const hadIds = !!port.ctx.experimentId;
      const opts = { timeoutMs: port.timeoutMs(probing), signal: port.signal };
      const results = await Promise.allSettled(win.map((it) => applyRecord(port.http, port.ctx, it.record, opts)));
      for (let k = 0; k < win.length; k++) {
        const { record, end } = win[k];
        const r = results[k];
        if (r.status === 'fulfilled') {
          port.applied(record, r.value);
          seg.setOffset(end);
          attempt = 0;
          probing = false;
          continue;
        }
        const err = r.reason;
        if (!port.active()) return;
        if (isAuthError(err) || (classifyError(err) === 'fatal' && record.type === 'header')) {
          port.blocked(err, record);
          return;
        }
        if (classifyError(err) === 'fatal') {
          port.refused(record, err);
          seg.setOffset(end);
          continue;
        }
        retryErr = err; // later successes in this window are re-sent after the backoff: duplicates, harmless
        break;
      }
      if (!hadIds && port.ctx.experimentId) await port.resolved();
      i += win.length;
    }
    if (retryErr !== null) {
      port.retried(retryErr);
      probing = true;
      await port.sleep(retryDelay(retryErr, attempt++, port.backoff));
    }
  }
}
