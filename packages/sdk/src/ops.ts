/** Server operations shared by the live sender and `syncSpool` (Node only: gzip, files). */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import fs from 'node:fs';
import { HttpClient, seg } from './http.ts';
import { AssayApiError, AssayConfigError, AssayError } from './errors.ts';
import { classifyError, retryDelay, sleep, type BackoffOptions } from './backoff.ts';
import { consoleLogger, type Logger } from './logger.ts';
import { sha256File, uploadArtifact } from './artifacts.ts';
import {
  defaultSpoolDir,
  isLocked,
  listSegments,
  readHeader,
  readOffset,
  readRecords,
  removeSegment,
  writeOffset,
  type CreateFields,
  type SpoolRecord,
} from './spool.ts';
import type { WirePoint } from './values.ts';
import type { BatchResponse, ExperimentRecord, Me, Project } from './types.ts';

const gzip = promisify(gzipCb);

/** Bodies above this size are gzipped. */
export const GZIP_THRESHOLD = 16 * 1024;

export interface PostResult {
  count: number;
  duplicate: boolean;
}

/**
 * POST one batch. On 413 (body too large) the batch is split in halves with derived, deterministic
 * batch ids (`<id>.0`, `<id>.1`), so a retried split stays idempotent.
 */
export async function postBatch(
  http: HttpClient,
  projectId: string,
  experimentId: string,
  batchId: string,
  metrics: WirePoint[],
  opts: { gzip?: boolean; timeoutMs?: number } = {},
): Promise<PostResult> {
  const json = JSON.stringify({ batch_id: batchId, metrics });
  const p = `/metrics/batch/${seg(projectId)}/${seg(experimentId)}`;
  try {
    let r: BatchResponse;
    if (opts.gzip !== false && json.length >= GZIP_THRESHOLD) {
      const body = await gzip(json, { level: 1 });
      r = await http.request<BatchResponse>('POST', p, {
        body,
        headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
        timeoutMs: opts.timeoutMs,
      });
    } else {
      r = await http.request<BatchResponse>('POST', p, { body: json, headers: { 'Content-Type': 'application/json' }, timeoutMs: opts.timeoutMs });
    }
    return { count: r?.count ?? metrics.length, duplicate: !!r?.duplicate };
  } catch (err) {
    if (err instanceof AssayApiError && err.status === 413 && metrics.length > 1) {
      const mid = Math.ceil(metrics.length / 2);
      const a = await postBatch(http, projectId, experimentId, `${batchId}.0`, metrics.slice(0, mid), opts);
      const b = await postBatch(http, projectId, experimentId, `${batchId}.1`, metrics.slice(mid), opts);
      return { count: a.count + b.count, duplicate: a.duplicate && b.duplicate };
    }
    throw err;
  }
}

/** Does `teamId` (UUID or name) name the key's team? Throws AssayConfigError if not. */
export async function checkTeam(http: HttpClient, teamId: string): Promise<Me> {
  const me = await http.request<Me>('GET', '/me');
  if (teamId !== me.team_id && teamId !== me.team_name) {
    throw new AssayConfigError(
      `teamId ${JSON.stringify(teamId)} does not match the API key's team ` +
        `(${JSON.stringify(me.team_name)}, ${me.team_id}); the API key decides the team — use a key of that team or drop teamId`,
    );
  }
  return me;
}

/** Get-or-create the project and experiment by name. */
export async function ensureExperiment(
  http: HttpClient,
  project: string,
  experiment: string,
  create: CreateFields = {},
  retry: { maxAttempts?: number; deadlineMs?: number } = {},
): Promise<{ project: Project; experiment: ExperimentRecord }> {
  const proj = await http.requestWithRetry<Project>('POST', '/projects', { json: { name: project }, query: { if_exists: 'return' } }, retry);
  const body: Record<string, unknown> = { name: experiment };
  for (const [k, v] of Object.entries(create)) if (v !== undefined) body[k] = v;
  const exp = await http.requestWithRetry<ExperimentRecord>(
    'POST',
    `/projects/${seg(proj.id)}/experiments`,
    { json: body, query: { if_exists: 'return' } },
    retry,
  );
  return { project: proj, experiment: exp };
}

export interface ReplayContext {
  project: string;
  experiment: string;
  projectId: string | null;
  experimentId: string | null;
  create?: CreateFields;
  teamId?: string | null;
  gzip?: boolean;
  logger: Logger;
}

export interface ApplyResult {
  points: number;
  duplicate?: boolean;
}

/** Send one spooled record to the server. Throws on failure (caller classifies). */
export async function applyRecord(http: HttpClient, ctx: ReplayContext, rec: SpoolRecord): Promise<ApplyResult> {
  if (rec.type === 'header') {
    if (!ctx.experimentId || !ctx.projectId) {
      if (ctx.teamId) await checkTeam(http, ctx.teamId);
      const r = await ensureExperiment(http, ctx.project, ctx.experiment, ctx.create ?? {}, { maxAttempts: 1 });
      ctx.projectId = r.project.id;
      ctx.experimentId = r.experiment.id;
    }
    return { points: 0 };
  }
  if (!ctx.projectId || !ctx.experimentId) throw new AssayError('spool replay: experiment not resolved (missing header)');
  const base = `/projects/${seg(ctx.projectId)}/experiments/${seg(ctx.experimentId)}`;
  switch (rec.type) {
    case 'metrics': {
      const r = await postBatch(http, ctx.projectId, ctx.experimentId, rec.batch_id, rec.metrics, { gzip: ctx.gzip });
      return { points: rec.metrics.length, duplicate: r.duplicate };
    }
    case 'features':
      await http.request('PATCH', base, { json: { features: rec.features } });
      return { points: 0 };
    case 'code':
      await http.request('PUT', `${base}/code`, { json: rec.code });
      return { points: 0 };
    case 'status':
      await http.request('PATCH', base, { json: { status: rec.status } });
      return { points: 0 };
    case 'artifact': {
      let digest: { sha256: string; size: number };
      try {
        digest = await sha256File(rec.local_path);
      } catch {
        ctx.logger.warn(`spool replay: artifact ${rec.local_path} no longer exists; not uploaded`);
        return { points: 0 };
      }
      if (digest.sha256 !== rec.sha256) {
        ctx.logger.warn(`spool replay: artifact ${rec.local_path} changed since it was logged; uploading the current content`);
      }
      await uploadArtifact(http, ctx.projectId, ctx.experimentId, rec.local_path, rec.path, digest, { maxAttempts: 1 });
      return { points: 0 };
    }
    default:
      ctx.logger.warn(`spool replay: unknown record type ${JSON.stringify((rec as { type?: unknown }).type)}; skipped`);
      return { points: 0 };
  }
}

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
  /** Segments found. */
  segments: number;
  /** Segments fully replayed and deleted. */
  synced: number;
  /** Segments skipped because a live process owns them. */
  locked: number;
  /** Segments left in place after an error (see `errors`). */
  failed: number;
  records: number;
  points: number;
  /** Metric batches the server already had (`duplicate: true`). */
  duplicates: number;
  /** Records the server rejected with a non-retryable 4xx (skipped). */
  rejected: number;
  errors: string[];
}

/**
 * Replay every spool segment in `dir` (default `ASSAY_SPOOL_DIR` or `~/.assay/spool`), oldest
 * first, then delete it. Segments owned by a live process are skipped. Safe to run repeatedly and
 * concurrently with itself on different machines: batches are idempotent by `batch_id`.
 */
export async function syncSpool(dir: string = defaultSpoolDir(), opts: SyncSpoolOptions = {}): Promise<SyncSpoolResult> {
  const logger = opts.logger ?? consoleLogger();
  const res: SyncSpoolResult = { segments: 0, synced: 0, locked: 0, failed: 0, records: 0, points: 0, duplicates: 0, rejected: 0, errors: [] };
  const clients = new Map<string, HttpClient>();
  const apiKey = opts.apiKey ?? (process.env.ASSAY_API_KEY || undefined);
  const maxAttempts = opts.maxAttempts ?? 6;
  for (const file of listSegments(dir)) {
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
    const { header } = h;
    const apiUrl = opts.apiUrl ?? header.api_url ?? (process.env.ASSAY_API_URL || undefined);
    if (!apiUrl) {
      res.failed++;
      res.errors.push(`${file}: no API URL (pass apiUrl or set ASSAY_API_URL)`);
      continue;
    }
    let http = clients.get(apiUrl);
    if (!http) {
      http = new HttpClient({ apiUrl, apiKey, fetch: opts.fetch });
      clients.set(apiUrl, http);
    }
    const ctx: ReplayContext = {
      project: header.project,
      experiment: header.experiment,
      projectId: header.project_id,
      experimentId: header.experiment_id,
      create: header.create,
      teamId: header.team_id,
      gzip: opts.gzip,
      logger,
    };
    let offset = Math.max(readOffset(file), h.end);
    let sawStatus = false;
    let aborted: string | null = null;
    let fatalAuth = false;
    const run = async (rec: SpoolRecord): Promise<boolean> => {
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await applyRecord(http!, ctx, rec);
          res.records++;
          res.points += r.points;
          if (r.duplicate) res.duplicates++;
          return true;
        } catch (err) {
          if (err instanceof AssayConfigError) {
            aborted = err.message;
            return false;
          }
          if (classifyError(err) === 'fatal') {
            if (err instanceof AssayApiError && (err.status === 401 || err.status === 403)) {
              fatalAuth = true;
              aborted = err.message;
              return false;
            }
            res.rejected++;
            logger.error(`syncSpool: ${file}: record rejected, skipped: ${(err as Error).message}`);
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
          if (it.record.type === 'header') {
            offset = it.end;
            continue;
          }
          if (!(await run(it.record))) break outer;
          if (it.record.type === 'status') sawStatus = true;
          offset = it.end;
          writeOffset(file, offset);
        }
      }
    }
    if (aborted) {
      res.failed++;
      res.errors.push(`${file}: ${aborted}; left in place (resumes at byte ${offset})`);
      if (fatalAuth) break; // wrong key: don't try the rest either
      continue;
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
  }
  return res;
}

/** Is there anything in `dir` that syncSpool would send? */
export function pendingSegments(dir: string = defaultSpoolDir()): string[] {
  return listSegments(dir).filter((f) => !isLocked(f) && fs.existsSync(f));
}
