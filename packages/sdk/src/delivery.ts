/**
 * Server operations shared by the live sender, the spool replay and `syncSpool` (Node only: gzip,
 * files): posting a batch by the delivery rules (docs/sdk-delivery.md), get-or-create, and
 * applying one spooled record.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { HttpClient, seg } from './http.ts';
import { AssayApiError, AssayConfigError, AssayError, formatDetail } from './errors.ts';
import type { Logger } from './logger.ts';
import { sha256File, uploadArtifact } from './artifacts.ts';
import type { CreateFields, SpoolRecord } from './spool.ts';
import { pointProblem, type WirePoint } from './values.ts';
import type { DroppedMetric, ExperimentRecord, LogResponse, Me, Project } from './types.ts';

const gzip = promisify(gzipCb);

/** Bodies above this size are gzipped. */
export const GZIP_THRESHOLD = 16 * 1024;

/** One point the server refused: its metric and the server's reason. */
export interface DroppedPoint {
  metric: string;
  reason: string;
}

export interface PostResult {
  /** Points the server stored (or already had). */
  count: number;
  duplicate: boolean;
  /** Points refused with 422 and left out (the rest was re-sent). */
  dropped: DroppedPoint[];
}

export interface PostOptions {
  gzip?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** 401/403: the key was revoked or lacks the role — nothing more can be sent with it. */
export function isAuthError(err: unknown): err is AssayApiError {
  return err instanceof AssayApiError && (err.status === 401 || err.status === 403);
}

/**
 * Which points a 422 refused: index → reason, or null when an issue names no point (the body, the
 * batch_id, the array itself) and the whole batch is refused.
 */
export function refusedPoints(detail: unknown, n: number): Map<number, string> | null {
  if (!Array.isArray(detail) || detail.length === 0) return null;
  const out = new Map<number, string>();
  for (const issue of detail as Array<{ loc?: unknown; msg?: unknown }>) {
    const loc = Array.isArray(issue?.loc) ? issue.loc : [];
    const i = loc[2];
    if (loc[0] !== 'body' || loc[1] !== 'metrics' || typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= n) return null;
    if (!out.has(i)) out.set(i, `${loc.slice(3).join('.') || 'point'}: ${String(issue.msg ?? 'refused')}`);
  }
  return out;
}

async function postOnce(http: HttpClient, p: string, batchId: string, metrics: WirePoint[], opts: PostOptions): Promise<LogResponse> {
  const json = JSON.stringify({ batch_id: batchId, metrics });
  const base = { timeoutMs: opts.timeoutMs, signal: opts.signal };
  if (opts.gzip !== false && json.length >= GZIP_THRESHOLD) {
    const body = await gzip(json, { level: 1 });
    return http.request<LogResponse>('POST', p, { ...base, body, headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' } });
  }
  return http.request<LogResponse>('POST', p, { ...base, body: json, headers: { 'Content-Type': 'application/json' } });
}

/**
 * POST one batch by the delivery rules:
 *  - 413 (body too large): split in halves with derived, deterministic batch ids (`<id>.0`, `<id>.1`);
 *  - 422: drop exactly the points the issues' `loc` name (and any the SDK's own check refuses),
 *    re-send the rest under a new, derived batch id (`<id>-r<n>`), and report the dropped ones;
 *    a 422 naming no point drops the whole batch.
 * Derived ids are deterministic, so a replay of the same spooled batch is still stored once.
 * Other errors are thrown for the caller to classify (retry, spool, stop).
 */
export async function postBatch(
  http: HttpClient,
  projectId: string,
  experimentId: string,
  batchId: string,
  metrics: WirePoint[],
  opts: PostOptions = {},
): Promise<PostResult> {
  const p = `/metrics/batch/${seg(projectId)}/${seg(experimentId)}`;
  const dropped: DroppedPoint[] = [];
  let points = metrics;
  let id = batchId;
  for (let round = 1; points.length > 0; round++) {
    try {
      const r = await postOnce(http, p, id, points, opts);
      return { count: r?.count ?? points.length, duplicate: !!r?.duplicate, dropped };
    } catch (err) {
      if (err instanceof AssayApiError && err.status === 413 && points.length > 1) {
        const mid = Math.ceil(points.length / 2);
        const a = await postBatch(http, projectId, experimentId, `${id}.0`, points.slice(0, mid), opts);
        const b = await postBatch(http, projectId, experimentId, `${id}.1`, points.slice(mid), opts);
        return { count: a.count + b.count, duplicate: a.duplicate && b.duplicate, dropped: [...dropped, ...a.dropped, ...b.dropped] };
      }
      if (!(err instanceof AssayApiError && err.status === 422)) throw err;
      const refused = refusedPoints(err.detail, points.length);
      const keep: WirePoint[] = [];
      for (let i = 0; i < points.length; i++) {
        const why = refused ? (refused.get(i) ?? problemOf(points[i])) : `batch refused: ${formatDetail(err.detail)}`;
        if (why) dropped.push({ metric: String(points[i].metric_name), reason: why });
        else keep.push(points[i]);
      }
      if (keep.length === points.length) {
        // nothing identifiable was removed: sending it again would be refused again
        for (const q of keep) dropped.push({ metric: String(q.metric_name), reason: `batch refused: ${formatDetail(err.detail)}` });
        break;
      }
      points = keep;
      id = `${batchId}-r${round}`;
    }
  }
  return { count: 0, duplicate: false, dropped };
}

function problemOf(p: WirePoint): string | undefined {
  const pr = pointProblem(p as unknown as Record<string, unknown>);
  return pr ? `${pr.field}: ${pr.msg}` : undefined;
}

/** Counters of one run's delivery: what the server stored, what it refused (per metric). */
export class DeliveryTally {
  acked = 0;
  dropped = 0;
  batchesSent = 0;
  duplicateBatches = 0;
  readonly droppedPoints: Record<string, DroppedMetric> = {};

  /** `warn` is told once per metric that loses points. */
  constructor(private readonly warn: (msg: string) => void) {}

  /** A batch of `points` reached the server; `dropped` of them were refused. */
  delivered(points: number, dropped: DroppedPoint[], duplicate: boolean): void {
    this.acked += points - dropped.length;
    this.batchesSent++;
    if (duplicate) this.duplicateBatches++;
    this.drop(dropped);
  }

  drop(dropped: DroppedPoint[]): void {
    if (!dropped.length) return;
    this.dropped += dropped.length;
    for (const m of tallyDropped(this.droppedPoints, dropped)) {
      this.warn(`the server refused points of metric ${JSON.stringify(m)} (${this.droppedPoints[m].reason}); they are dropped and counted in droppedPoints, the rest was delivered`);
    }
  }
}

/** Add dropped points to a per-metric tally; returns the metrics seen for the first time. */
export function tallyDropped(into: Record<string, DroppedMetric>, dropped: DroppedPoint[]): string[] {
  const fresh: string[] = [];
  for (const d of dropped) {
    const t = into[d.metric];
    if (t) t.count++;
    else {
      into[d.metric] = { count: 1, reason: d.reason };
      fresh.push(d.metric);
    }
  }
  return fresh;
}

/** Does `teamId` (UUID or name) name the key's team? Throws AssayConfigError if not. */
export async function checkTeam(http: HttpClient, teamId: string, deadlineAt?: number): Promise<Me> {
  const me = await http.requestWithRetry<Me>('GET', '/me', {}, { deadlineAt, maxAttempts: 20 });
  if (teamId !== me.team_id && teamId !== me.team_name) {
    throw new AssayConfigError(
      `teamId ${JSON.stringify(teamId)} does not match the API key's team ` +
        `(${JSON.stringify(me.team_name)}, ${me.team_id}); the API key decides the team — use a key of that team or drop teamId`,
    );
  }
  return me;
}

export interface EnsureOptions {
  maxAttempts?: number;
  deadlineAt?: number;
  signal?: AbortSignal;
  /** Resume this experiment id (its name is looked up) instead of getting-or-creating by name. */
  resumeId?: string | null;
}

/**
 * Get-or-create the project and experiment by name (`?if_exists=return`: an existing experiment
 * is returned with the passed tags added, features deep-merged, description replaced).
 */
export async function ensureExperiment(
  http: HttpClient,
  project: string,
  experiment: string,
  create: CreateFields = {},
  o: EnsureOptions = {},
): Promise<{ project: Project; experiment: ExperimentRecord; created: boolean }> {
  const retry = { maxAttempts: o.maxAttempts ?? 20, deadlineAt: o.deadlineAt };
  const signal = o.signal;
  let name = experiment;
  let proj: Project;
  if (o.resumeId) {
    proj = await http.requestWithRetry<Project>('GET', `/projects/${seg(project)}`, { signal }, retry);
    const found = await http.requestWithRetry<ExperimentRecord>('GET', `/projects/${seg(proj.id)}/experiments/${seg(o.resumeId)}`, { signal }, retry);
    name = found.name;
  } else {
    proj = await http.requestWithRetry<Project>('POST', '/projects', { signal, json: { name: project }, query: { if_exists: 'return' } }, retry);
  }
  const body: Record<string, unknown> = { name };
  for (const [k, v] of Object.entries(create)) if (v !== undefined) body[k] = v;
  const res = await http.requestWithRetry<Response>('POST', `/projects/${seg(proj.id)}/experiments`, { signal, raw: true, json: body, query: { if_exists: 'return' } }, retry);
  const exp = (await res.json()) as ExperimentRecord;
  return { project: proj, experiment: exp, created: res.status === 201 };
}

export interface ReplayContext {
  project: string;
  experiment: string;
  projectId: string | null;
  experimentId: string | null;
  create?: CreateFields;
  teamId?: string | null;
  /** Resume by id (offline start of `Experiment.resume`): the header names the id, not the name. */
  resumeId?: string | null;
  gzip?: boolean;
  logger: Logger;
  /** The experiment as the server returned it when the header was resolved. */
  record?: ExperimentRecord | null;
}

export interface ApplyResult {
  /** Points of a metrics record that the server stored. */
  points: number;
  duplicate?: boolean;
  dropped?: DroppedPoint[];
}

/** Send one spooled record to the server. Throws on failure (caller classifies). */
export async function applyRecord(http: HttpClient, ctx: ReplayContext, rec: SpoolRecord, opts: PostOptions = {}): Promise<ApplyResult> {
  const req = { timeoutMs: opts.timeoutMs, signal: opts.signal };
  if (rec.type === 'header') {
    if (!ctx.experimentId || !ctx.projectId) {
      const deadlineAt = opts.timeoutMs === undefined ? undefined : Date.now() + opts.timeoutMs;
      if (ctx.teamId) await checkTeam(http, ctx.teamId, deadlineAt);
      const r = await ensureExperiment(http, ctx.project, ctx.experiment, ctx.create ?? {}, { maxAttempts: 1, resumeId: ctx.resumeId, deadlineAt, signal: opts.signal });
      ctx.projectId = r.project.id;
      ctx.experimentId = r.experiment.id;
      ctx.record = r.experiment;
    }
    return { points: 0 };
  }
  if (!ctx.projectId || !ctx.experimentId) throw new AssayError('spool replay: experiment not resolved (missing header)');
  const base = `/projects/${seg(ctx.projectId)}/experiments/${seg(ctx.experimentId)}`;
  switch (rec.type) {
    case 'metrics': {
      const r = await postBatch(http, ctx.projectId, ctx.experimentId, rec.batch_id, rec.metrics, { gzip: ctx.gzip, ...opts });
      return { points: r.count, duplicate: r.duplicate, dropped: r.dropped };
    }
    case 'features':
      await http.request('PATCH', base, { ...req, json: { features: rec.features } });
      return { points: 0 };
    case 'patch':
      await http.request('PATCH', base, { ...req, json: rec.patch });
      return { points: 0 };
    case 'code':
      await http.request('PUT', `${base}/code`, { ...req, json: rec.code });
      return { points: 0 };
    case 'status':
      await http.request('PATCH', base, { ...req, json: { status: rec.status } });
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
