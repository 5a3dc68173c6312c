/**
 * `syncSpool` / `npx assay-sdk sync [dir]`: upload what runs left in the spool — segments of runs
 * that could not reach the server, whose key was revoked, or that crashed. Node only.
 */
import { HttpClient, seg } from './http.ts';
import { AssayConfigError } from './errors.ts';
import { classifyError, retryDelay, sleep, type BackoffOptions } from './backoff.ts';
import { consoleLogger, type Logger } from './logger.ts';
import { applyRecord, isAuthError, tallyDropped, type ReplayContext } from './delivery.ts';
import { isLocked, listSegments, readHeader, readOffset, readRecords, removeSegment, writeOffset, type SpoolRecord } from './spool.ts';
import { defaultSpoolDir, findForeignSpools, syncDirs, type ForeignSpool } from './spool-dirs.ts';
import type { DroppedMetric, ExperimentRecord } from './types.ts';

export interface SyncSpoolOptions {
  /** Overrides the URL stored in each segment's header (and ASSAY_API_URL). */
  apiUrl?: string;
  /** Defaults to ASSAY_API_KEY. Keys are never written to the spool. */
  apiKey?: string;
  fetch?: typeof fetch;
  logger?: Logger;
  /** Attempts per record on retryable failures before giving up on the segment (default 6). */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  gzip?: boolean;
  /** Mark an experiment whose segment has no final status as `crashed` (default true). */
  markCrashed?: boolean;
}

export interface SyncSpoolResult {
  /** The directories replayed (the given one; for the default also the legacy root). */
  dirs: string[];
  /** Segments found. */
  segments: number;
  /** Segments fully replayed and deleted. */
  synced: number;
  /** Segments skipped because a live process owns them. */
  locked: number;
  /** Segments left in place after an error (see `errors`). */
  failed: number;
  records: number;
  /** Points the server stored (or already had). */
  points: number;
  /** Metric batches the server already had (`duplicate: true`). */
  duplicates: number;
  /** Non-metric records the server refused with a 4xx (skipped). */
  rejected: number;
  /** Points the server refused (422) and that were left out, in all and per metric. */
  dropped: number;
  droppedPoints: Record<string, DroppedMetric>;
  /** The other SDK's spools found here: not replayed by this SDK (see `command`). */
  foreign: ForeignSpool[];
  errors: string[];
}

/**
 * Replay every spool segment in `dir` (default `$ASSAY_SPOOL_DIR/node`, plus legacy segments in
 * `$ASSAY_SPOOL_DIR` itself), oldest first, then delete it. Segments owned by a live process are
 * skipped. Safe to run repeatedly and concurrently: batches are idempotent by `batch_id`. The
 * Python SDK's spools found there are reported in `foreign`, never silently skipped.
 */
export async function syncSpool(dir?: string, opts: SyncSpoolOptions = {}): Promise<SyncSpoolResult> {
  const logger = opts.logger ?? consoleLogger();
  const dirs = syncDirs(dir);
  const res: SyncSpoolResult = {
    dirs,
    segments: 0,
    synced: 0,
    locked: 0,
    failed: 0,
    records: 0,
    points: 0,
    duplicates: 0,
    rejected: 0,
    dropped: 0,
    droppedPoints: {},
    foreign: findForeignSpools(dir ?? defaultSpoolDir()),
    errors: [],
  };
  const clients = new Map<string, HttpClient>();
  const apiKey = opts.apiKey ?? (process.env.ASSAY_API_KEY || undefined);
  for (const file of dirs.flatMap((d) => listSegments(d))) {
    res.segments++;
    if (isLocked(file)) {
      res.locked++;
      continue;
    }
    const h = readHeader(file);
    if (!h) {
      res.failed++;
      res.errors.push(`${file}: no header line; left in place`);
      continue;
    }
    const apiUrl = opts.apiUrl ?? h.header.api_url ?? (process.env.ASSAY_API_URL || undefined);
    if (!apiUrl) {
      res.failed++;
      res.errors.push(`${file}: no API URL (pass apiUrl or set ASSAY_API_URL)`);
      continue;
    }
    let http = clients.get(apiUrl);
    if (!http) clients.set(apiUrl, (http = new HttpClient({ apiUrl, apiKey, fetch: opts.fetch })));
    const outcome = await syncSegment(file, h, http, res, opts, logger);
    if (outcome === 'auth') break; // wrong key: don't try the rest either
  }
  for (const f of res.foreign) {
    logger.warn(`${f.runs} Python SDK run(s) spooled in ${f.dir} (foreign: not replayed by the TypeScript SDK); send them with: ${f.command}`);
  }
  return res;
}

async function syncSegment(
  file: string,
  h: NonNullable<ReturnType<typeof readHeader>>,
  http: HttpClient,
  res: SyncSpoolResult,
  opts: SyncSpoolOptions,
  logger: Logger,
): Promise<'ok' | 'failed' | 'auth'> {
  const { header } = h;
  const ctx: ReplayContext = {
    project: header.project,
    experiment: header.experiment,
    projectId: header.project_id,
    experimentId: header.experiment_id,
    create: header.create,
    teamId: header.team_id,
    resumeId: header.resume_id,
    gzip: opts.gzip,
    logger,
  };
  const maxAttempts = opts.maxAttempts ?? 6;
  let offset = Math.max(readOffset(file), h.end);
  let sawStatus = false;
  let aborted: string | null = null;
  let auth = false;
  const run = async (rec: SpoolRecord): Promise<boolean> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await applyRecord(http, ctx, rec);
        res.records++;
        res.points += r.points;
        if (r.duplicate) res.duplicates++;
        if (r.dropped?.length) {
          res.dropped += r.dropped.length;
          for (const m of tallyDropped(res.droppedPoints, r.dropped)) logger.warn(`syncSpool: the server refused points of metric ${JSON.stringify(m)}: ${res.droppedPoints[m].reason}; dropped`);
        }
        return true;
      } catch (err) {
        if (err instanceof AssayConfigError || isAuthError(err)) {
          auth = !(err instanceof AssayConfigError);
          aborted = (err as Error).message;
          return false;
        }
        if (classifyError(err) === 'fatal') {
          res.rejected++;
          logger.error(`syncSpool: ${file}: ${rec.type} record refused, skipped: ${(err as Error).message}`);
          return true;
        }
        if (attempt + 1 >= maxAttempts) {
          aborted = (err as Error).message;
          return false;
        }
        await sleep(retryDelay(err, attempt, opts.backoff ?? { baseMs: 250, maxMs: 5000 }));
      }
    }
  };
  // resolve the experiment first (header), then the records after the saved offset
  if (await run(header)) {
    outer: for (;;) {
      const items = readRecords(file, offset, 8 * 1024 * 1024, (line, at) => {
        res.errors.push(`${file}: corrupt line at byte ${at} skipped (${line.slice(0, 60)}…)`);
      });
      if (items.length === 0) break;
      for (const it of items) {
        if (it.record.type !== 'header') {
          if (!(await run(it.record))) break outer;
          if (it.record.type === 'status') sawStatus = true;
        }
        offset = it.end;
        writeOffset(file, offset);
      }
    }
  }
  if (aborted) {
    res.failed++;
    res.errors.push(`${file}: ${aborted}; left in place (resumes at byte ${offset})`);
    return auth ? 'auth' : 'failed';
  }
  if (!sawStatus && opts.markCrashed !== false && ctx.projectId && ctx.experimentId) {
    try {
      const base = `/projects/${seg(ctx.projectId)}/experiments/${seg(ctx.experimentId)}`;
      const e = await http.request<ExperimentRecord>('GET', base);
      if (e.status === 'running') await http.request('PATCH', base, { json: { status: 'crashed' } });
    } catch (err) {
      logger.warn(`syncSpool: could not mark ${ctx.experiment} crashed: ${(err as Error).message}`);
    }
  }
  removeSegment(file);
  res.synced++;
  return 'ok';
}
