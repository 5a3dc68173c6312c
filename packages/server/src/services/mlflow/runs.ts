import { jsonTextProblem, LIMITS } from '@assay/contracts';
import type { AppContext } from '../../context.ts';
import * as mlq from '../../stores/clickhouse/queries/mlflow.ts';
import type { LatestRow } from '../../stores/clickhouse/queries/mlflow.ts';
import { isUniqueViolation } from '../../stores/postgres/errors.ts';
import * as repo from '../../stores/postgres/repos/experiments.ts';
import type { ExperimentRow } from '../../stores/postgres/repos/experiments.ts';
import type { ProjectRow } from '../../stores/postgres/repos/projects.ts';
import type { Tenant } from '../../stores/postgres/tenant.ts';
import { requireRole } from '../auth.ts';
import { logBatch, logResolvedBatch } from '../ingest.ts';
import { chToNumber } from '../metric-values.ts';
import { forgetIngestTargets } from '../resolve.ts';
import { invalid, missing, requireStorable } from './errors.ts';
import { requireActiveExperiment } from './experiments.ts';
import { assayStatus, hex, metaOf, paramsOf, randomRunName, RESERVED_KEY, runDeleted, uuidOf, type MlflowMeta, type RunRow } from './model.ts';

/* Run operations addressed by MLflow's run_id alone, over the same repositories and ingest path as Assay's API. */

/** MLflow's own limits on keys and values, kept because its clients validate against them too. */
export const KEY_MAX = 250;
export const PARAM_VALUE_MAX = 6000;
export const TAG_VALUE_MAX = 8000;
const TERMINAL = new Set(['complete', 'failed', 'crashed']);

export async function findRun(ctx: AppContext, tenant: Tenant, runId: unknown): Promise<RunRow> {
  if (runId === undefined || runId === null || runId === '') throw invalid("Missing value for required parameter 'run_id'");
  if (typeof runId !== 'string') throw invalid(`Invalid value ${JSON.stringify(runId)} for parameter 'run_id' supplied`);
  const id = uuidOf(runId);
  const e = id ? await repo.findExperimentWithProjectState(ctx.pg.db, tenant, id) : undefined;
  if (!e) throw missing('Run with this run_id not found in your team');
  return e;
}

/** MLflow refuses every write to a deleted run (or a run of a deleted experiment) with this. */
export function requireActiveRun(e: RunRow): void {
  if (runDeleted(e)) throw invalid(`The run ${hex(e.id)} must be in the 'active' state. Current state is deleted.`);
}

function checkKey(kind: string, key: unknown): string {
  if (key === undefined || key === null || key === '') throw invalid("Missing value for required parameter 'key'");
  if (typeof key !== 'string') throw invalid(`Invalid value ${JSON.stringify(key)} for parameter 'key' supplied`);
  if ([...key].length > KEY_MAX) throw invalid(`${kind} key '${key.slice(0, 40)}…' had length ${[...key].length}, which exceeded length limit of ${KEY_MAX}`);
  const p = jsonTextProblem(key);
  if (p) throw invalid(`${kind} key: ${p.message}`);
  return key;
}
function checkValue(kind: string, key: string, value: unknown, max: number): string {
  if (value === undefined || value === null) throw invalid(`Missing value for required parameter '${kind} value' of '${key}'`);
  // MLflow types values as strings and refuses anything else; String({}) would store "[object Object]"
  if (typeof value !== 'string') throw invalid(`Invalid value ${JSON.stringify(value).slice(0, 100)} for ${kind.toLowerCase()} '${key}' supplied: expected a string`);
  if ([...value].length > max) throw invalid(`${kind} value '${value.slice(0, 40)}…' had length ${[...value].length}, which exceeded length limit of ${max}`);
  const p = jsonTextProblem(value);
  if (p) throw invalid(`${kind} value of '${key}': ${p.message}`);
  return value;
}

/**
 * Inserts the run; MLflow run names need not be unique but Assay experiment names are (per
 * project), so a taken name gets a short suffix — the MLflow name stays exact in the mlflow.runName tag.
 */
async function insertUnique(ctx: AppContext, tenant: Tenant, projectId: string, wanted: string, v: Omit<Parameters<typeof repo.insertExperiment>[3], 'name'>) {
  for (let attempt = 0; attempt < 8; attempt++) {
    const name = attempt === 0 ? wanted : `${wanted.slice(0, 240)}-${Math.random().toString(16).slice(2, 8)}`;
    const e = await repo.insertExperiment(ctx.pg.db, tenant, projectId, { ...v, name });
    if (e) return e;
  }
  throw invalid(`Could not find a free experiment name for run '${wanted}'`);
}

export async function createRun(
  ctx: AppContext,
  tenant: Tenant,
  project: ProjectRow,
  b: { runName?: string; startTime?: number; userId?: string; tags: [string, string][] },
): Promise<ExperimentRow> {
  requireRole(tenant, 'researcher');
  requireActiveExperiment(project);
  // a Map, made an object by fromEntries: a tag named __proto__ is then an own key, not the prototype
  const given = new Map<string, string>();
  for (const [k, v] of b.tags) given.set(checkKey('Tag', k), checkValue('Tag', k, v, TAG_VALUE_MAX));
  const tags = Object.fromEntries(given);
  const name = b.runName || given.get('mlflow.runName') || randomRunName();
  requireStorable('run_name', name);
  requireStorable('user_id', b.userId);
  if ([...name].length > 255) throw invalid(`Run name '${name.slice(0, 40)}…' is longer than 255 characters`);
  tags['mlflow.runName'] = name;
  if (b.userId && !given.get('mlflow.user')) tags['mlflow.user'] = b.userId;
  const meta: MlflowMeta = { tags, ...(project.artifactLocation ? { artifact_root: project.artifactLocation } : {}) };
  return insertUnique(ctx, tenant, project.id, name, {
    features: { [RESERVED_KEY]: meta },
    description: given.get('mlflow.note.content') ?? null,
    startedAt: b.startTime ? new Date(b.startTime) : undefined,
  });
}

/** Renames the Assay experiment with the run (a suffix if the name is taken in the project). */
async function rename(ctx: AppContext, tenant: Tenant, e: ExperimentRow, name: string): Promise<void> {
  if (name === e.name) return;
  for (let attempt = 0; attempt < 8; attempt++) {
    const n = attempt === 0 ? name : `${name.slice(0, 240)}-${Math.random().toString(16).slice(2, 8)}`;
    try {
      await repo.updateExperiment(ctx.pg.db, tenant, e.projectId, e.id, { name: n });
      forgetIngestTargets(ctx);
      return;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }
}

export async function updateRun(ctx: AppContext, tenant: Tenant, e: RunRow, b: { status?: unknown; endTime?: number; runName?: string }): Promise<ExperimentRow> {
  requireRole(tenant, 'researcher');
  requireActiveRun(e);
  requireStorable('run_name', b.runName);
  const patch: Parameters<typeof repo.updateExperiment>[4] = {};
  if (b.status !== undefined && b.status !== null && b.status !== '') {
    const st = assayStatus(b.status);
    patch.status = st;
    patch.finishedAt = TERMINAL.has(st) ? new Date(b.endTime ?? Date.now()) : null;
    if (st === 'running') patch.heartbeatAt = new Date();
  } else if (b.endTime) patch.finishedAt = new Date(b.endTime);
  if (b.runName) {
    if ([...b.runName].length > 255) throw invalid('Run name is longer than 255 characters');
    patch.mergeFeatures = { [RESERVED_KEY]: { tags: { 'mlflow.runName': b.runName } } };
    await rename(ctx, tenant, e, b.runName);
  }
  const u = await repo.updateExperiment(ctx.pg.db, tenant, e.projectId, e.id, patch);
  if (!u) throw missing(`Run with id=${hex(e.id)} not found`);
  return u;
}

export async function setDeleted(ctx: AppContext, tenant: Tenant, e: RunRow, deleted: boolean): Promise<void> {
  requireRole(tenant, 'researcher');
  // its experiment's delete is what hides it: restoring the run alone would not bring it back
  if (!deleted && e.projectDeletedAt) throw invalid(`The experiment ${hex(e.projectId)} must be in the 'active' state. Current state is deleted.`);
  await repo.updateExperiment(ctx.pg.db, tenant, e.projectId, e.id, { deletedAt: deleted ? (e.deletedAt ?? new Date()) : null });
}

/**
 * Params and tags in one statement. A param, once logged, keeps its value: logging another value
 * for it is MLflow's INVALID_PARAMETER_VALUE (the same value again is a no-op), checked before
 * anything is written.
 */
export async function logParamsAndTags(ctx: AppContext, tenant: Tenant, e: ExperimentRow, params: [unknown, unknown][], tags: [unknown, unknown][]): Promise<void> {
  requireRole(tenant, 'researcher');
  requireActiveRun(e);
  const existing = paramsOf(e.features);
  // Maps, keyed by the caller's text: a param named constructor or __proto__ is a param like any other
  const newParams = new Map<string, string>();
  for (const [rk, rv] of params) {
    const k = checkKey('Param', rk);
    const v = checkValue('Param', k, rv, PARAM_VALUE_MAX);
    if (k === RESERVED_KEY) throw invalid(`Param key '${RESERVED_KEY}' is reserved by Assay for MLflow metadata`);
    const old = existing.get(k) ?? newParams.get(k);
    if (old !== undefined && old !== v) {
      throw invalid(`Changing param values is not allowed. Param with key='${k}' was already logged with value='${old}' for run ID='${hex(e.id)}'. Attempted logging new value '${v}'.`);
    }
    const stored = e.features && Object.hasOwn(e.features, k) ? e.features[k] : undefined;
    if (stored !== undefined && stored !== null && typeof stored === 'object') throw invalid(`Param key '${k}' names a nested Assay feature; log its leaves (e.g. '${k}.<field>') instead`);
    newParams.set(k, v);
  }
  const newTags = new Map<string, string>();
  for (const [rk, rv] of tags) {
    const k = checkKey('Tag', rk);
    newTags.set(k, checkValue('Tag', k, rv, TAG_VALUE_MAX));
  }
  const merge: Record<string, unknown> = Object.fromEntries([...newParams].filter(([k]) => !existing.has(k)));
  if (newTags.size) merge[RESERVED_KEY] = { tags: Object.fromEntries(newTags) };
  if (!Object.keys(merge).length) return;
  const patch: Parameters<typeof repo.updateExperiment>[4] = { mergeFeatures: merge, heartbeatAt: new Date() };
  const note = newTags.get('mlflow.note.content');
  if (note !== undefined) patch.description = note;
  const u = await repo.updateExperiment(ctx.pg.db, tenant, e.projectId, e.id, patch);
  if (!u) throw missing(`Run with id=${hex(e.id)} not found`);
  const renamed = newTags.get('mlflow.runName');
  if (renamed) await rename(ctx, tenant, u, renamed);
}

export async function deleteTag(ctx: AppContext, tenant: Tenant, e: ExperimentRow, key: unknown): Promise<void> {
  requireRole(tenant, 'researcher');
  requireActiveRun(e);
  const k = checkKey('Tag', key);
  const stored = metaOf(e).tags ?? {};
  if (Object.hasOwn(stored, k)) {
    await repo.removeFeatureKey(ctx.pg.db, tenant, e.projectId, e.id, [RESERVED_KEY, 'tags', k]);
    if (k === 'mlflow.note.content') await repo.updateExperiment(ctx.pg.db, tenant, e.projectId, e.id, { description: null });
  } else if (e.tags.includes(k)) {
    await repo.updateExperiment(ctx.pg.db, tenant, e.projectId, e.id, { tags: e.tags.filter((t) => t !== k) });
  } else {
    throw missing(`No tag with name: ${k} in run with id ${hex(e.id)}`);
  }
}

/** Integer milliseconds/steps may come as JSON numbers or (proto int64) strings. */
export function int64(v: unknown, field: string, dflt?: number): number {
  if (v === undefined || v === null || v === '') {
    if (dflt === undefined) throw invalid(`Missing value for required parameter '${field}'`);
    return dflt;
  }
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw invalid(`Invalid value ${JSON.stringify(v)} for parameter '${field}' supplied: expected an integer`);
  return n;
}

/**
 * What a run's start and end time can be: the same epoch milliseconds as a metric point's timestamp.
 * (PostgreSQL holds more, but a year below 100 reads back wrong — "0001-…" parses as 2001 — and
 * past year 275760 a JS Date is invalid: both were a 500 or a silently different time.)
 */
export const RUN_TIME_MIN_MS = 0;
export const RUN_TIME_MAX_MS = LIMITS.timestampMaxMs;

/** start_time / end_time: epoch milliseconds a run can be stored with. */
export function runTimeMs(v: unknown, field: string): number {
  const ms = int64(v, field);
  if (ms < RUN_TIME_MIN_MS || ms > RUN_TIME_MAX_MS) throw invalid(`Invalid value ${ms} for parameter '${field}' supplied: Assay stores run times from ${RUN_TIME_MIN_MS} to ${RUN_TIME_MAX_MS} epoch milliseconds, as metric timestamps`);
  return ms;
}

function metricValue(v: unknown, key: string): number | string {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return v;
    if (v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  }
  throw invalid(`Got invalid value ${JSON.stringify(v)} for metric '${key}' (timestamp=…). Please specify value as a valid double (64-bit floating point)`);
}

export interface MetricPoint {
  metric_name: string;
  metric_value: number | string;
  step: number;
  timestamp: number;
}

/** MLflow metrics → Assay metric points, all checked before anything is written (a bad one refuses the whole call). */
export function toPoints(metrics: unknown[]): MetricPoint[] {
  const now = Date.now();
  return metrics.map((m) => {
    const o = (m ?? {}) as Record<string, unknown>;
    const key = checkKey('Metric', o.key);
    const step = int64(o.step, 'step', 0);
    if (step < 0) throw invalid(`Metric '${key}' has step ${step}: Assay stores steps >= 0`);
    const ts = int64(o.timestamp, 'timestamp', now);
    if (ts < 0 || ts > LIMITS.timestampMaxMs) throw invalid(`Metric '${key}' has timestamp ${ts}: Assay stores epoch milliseconds from 0 to ${LIMITS.timestampMaxMs}`);
    return { metric_name: key, metric_value: metricValue(o.value, key), step, timestamp: ts };
  });
}

/** Metric points through the same ingest path as Assay's `POST /metrics/batch` (acknowledged once durable). */
export async function logMetrics(ctx: AppContext, tenant: Tenant, e: RunRow, points: MetricPoint[]): Promise<void> {
  requireRole(tenant, 'researcher');
  requireActiveRun(e);
  if (!points.length) return;
  // the run was just read with its project (findRun): resolving both again cost two reads per call
  if (e.projectRetentionDays !== undefined) await logResolvedBatch(ctx, tenant, { project: { id: e.projectId, retentionDays: e.projectRetentionDays }, experiment: e }, { metrics: points });
  else await logBatch(ctx, tenant, e.projectId, e.id, { metrics: points });
  // MLflow clients send no heartbeat: a run that logs is alive (the crash sweeper must not end it)
  const now = Date.now();
  if (!e.heartbeatAt || now - e.heartbeatAt.getTime() > 30_000 || e.status === 'crashed') {
    await repo.touchHeartbeat(ctx.pg.db, tenant, e.projectId, e.id, new Date(now));
  }
}

export interface LatestMetric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

/** The latest value (highest step) of every metric of these runs, from the ClickHouse summary. */
export async function latestMetrics(ctx: AppContext, tenant: Tenant, runs: ExperimentRow[]): Promise<Map<string, LatestMetric[]>> {
  const out = new Map<string, LatestMetric[]>();
  const byProject = new Map<string, string[]>();
  for (const r of runs) {
    out.set(r.id, []);
    const l = byProject.get(r.projectId) ?? [];
    l.push(r.id);
    byProject.set(r.projectId, l);
  }
  const CHUNK = 5000;
  const reads: Promise<LatestRow[]>[] = [];
  for (const [projectId, ids] of byProject) {
    // a page that is most of a big project (max_results 50,000) reads the project: cheaper than its ids as a parameter
    if (ids.length > CHUNK) reads.push(mlq.latestInProject(ctx.ch, tenant, projectId, []));
    else reads.push(mlq.latestOfRuns(ctx.ch, tenant, projectId, ids));
  }
  for (const rows of await Promise.all(reads)) addLatest(out, rows, false);
  // ClickHouse's GROUP BY has no order: a run's metrics by name, the same on every read
  for (const l of out.values()) l.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return out;
}

/**
 * The latest values of the named metrics for every run of these projects (a search's filter or
 * order on metrics), keyed by run; started before the runs are read so both stores work at once.
 */
export async function latestMetricsInProjects(ctx: AppContext, tenant: Tenant, projectIds: string[], metricNames: string[]): Promise<Map<string, LatestMetric[]>> {
  const out = new Map<string, LatestMetric[]>();
  for (const rows of await Promise.all(projectIds.map((p) => mlq.latestInProject(ctx.ch, tenant, p, metricNames)))) addLatest(out, rows, true);
  return out;
}

function addLatest(out: Map<string, LatestMetric[]>, rows: LatestRow[], create: boolean): void {
  for (const [experimentId, key, last, lastStep, lastTs] of rows) {
    let l = out.get(experimentId);
    if (!l) {
      if (!create) continue;
      out.set(experimentId, (l = []));
    }
    l.push({ key, value: chToNumber(last), timestamp: Number(lastTs), step: Number(lastStep) });
  }
}

export async function removeModelTag(ctx: AppContext, tenant: Tenant, e: ExperimentRow, modelId: string, key: string): Promise<void> {
  requireRole(tenant, 'researcher');
  await repo.removeFeatureKey(ctx.pg.db, tenant, e.projectId, e.id, [RESERVED_KEY, 'models', modelId, 'tags', key]);
}

/** Active runs of these projects (logged-model search reads their models). */
export async function listProjectsExperiments(ctx: AppContext, tenant: Tenant, projectIds: string[]): Promise<ExperimentRow[]> {
  return repo.listProjectsExperiments(ctx.pg.db, tenant, projectIds, 'active');
}
