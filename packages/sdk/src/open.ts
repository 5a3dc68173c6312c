/**
 * Opening a run: get-or-create (or resume by id) on the server within the offline grace; a server
 * that is down or does not answer in time starts the run offline instead. Node only.
 */
import { classifyError } from './backoff.ts';
import { checkTeam, ensureExperiment, type ReplayContext } from './delivery.ts';
import type { ResolvedOptions } from './options.ts';
import type { DroppedMetric, SenderStats } from './types.ts';

export interface OpenedRun {
  ctx: ReplayContext;
  /** The server was not reached in time (or ASSAY_MODE=offline): spool from the start. */
  offline: boolean;
  /** An existing experiment was returned (auto steps continue after its last step). */
  resumed: boolean;
  /** When the grace ends (what is left of it bounds the rest of the opening). */
  deadlineAt: number;
}

export async function openRun(o: ResolvedOptions): Promise<OpenedRun> {
  const ctx: ReplayContext = {
    project: o.project,
    experiment: o.name,
    projectId: null,
    experimentId: null,
    create: o.create,
    teamId: o.teamId ?? null,
    resumeId: o.id ?? null,
    gzip: o.gzip,
    logger: o.logger,
  };
  const deadlineAt = Date.now() + o.offlineGraceMs;
  if (o.offline || !o.http) return { ctx, offline: true, resumed: false, deadlineAt };
  try {
    if (o.teamId) await checkTeam(o.http, o.teamId, deadlineAt);
    const r = await ensureExperiment(o.http, o.project, o.name, o.create, { deadlineAt, resumeId: o.id });
    ctx.projectId = r.project.id;
    ctx.experimentId = r.experiment.id;
    ctx.record = r.experiment;
    return { ctx, offline: false, resumed: !r.created, deadlineAt };
  } catch (err) {
    if (classifyError(err) !== 'retry' || !o.spoolDirResolved) throw err;
    o.logger.warn(
      `cannot reach the Assay server at ${o.http.apiUrl} within ${o.offlineGraceMs} ms (${(err as Error).message}); ` +
        'running offline — metrics are spooled and sent when it answers',
    );
    return { ctx, offline: true, resumed: false, deadlineAt };
  }
}

/** What finish() could not deliver, and how to deliver it. */
export interface Undelivered {
  /** Points not acknowledged by the server (in the spool, or lost without one). */
  points: number;
  /** Points the server refused (422) and the SDK dropped (see droppedPoints). */
  dropped: number;
  droppedPoints: Record<string, DroppedMetric>;
  spoolDir: string | null;
  /** Why: the key was refused, the server was unreachable, or points were refused. */
  reason: string;
  /** The command that sends the spool. */
  command: string | null;
  message: string;
}

/** The report of a finish() that returns false: counts, where they are, the command (rule 3). */
export function undeliveredReport(s: SenderStats, spoolDir: string | null, online: boolean): Undelivered {
  const points = s.unsentOnDisk + s.pending;
  const command = spoolDir ? `ASSAY_API_KEY=<key> npx assay-sdk sync ${spoolDir}` : null;
  const reason = s.authError ? `the server refused the API key (${s.authError})` : points > 0 || !online ? 'the server was not reachable' : 'the server refused points';
  const parts = [`finish: ${reason}.`];
  if (points > 0 || (spoolDir && s.spoolFile)) {
    parts.push(spoolDir ? `${points} points not acknowledged (and the final status) are kept in the spool ${spoolDir}; send them with: ${command}` : `${points} points could not be delivered (spooling is disabled)`);
  }
  if (s.dropped > 0) parts.push(`${s.dropped} points were refused by the server and dropped: ${Object.keys(s.droppedPoints).map((m) => JSON.stringify(m)).join(', ')} (see droppedPoints)`);
  return { points, dropped: s.dropped, droppedPoints: s.droppedPoints, spoolDir, reason, command, message: parts.join(' ') };
}
