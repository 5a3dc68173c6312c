import type { AppContext } from '../../context.ts';
import * as repo from '../../stores/postgres/repos/experiments.ts';
import type { ExperimentRow } from '../../stores/postgres/repos/experiments.ts';
import type { ProjectRow } from '../../stores/postgres/repos/projects.ts';
import type { Tenant } from '../../stores/postgres/tenant.ts';
import { timeseries } from '../metrics.ts';
import { fromWire } from '../metric-values.ts';
import { runArtifactUri } from './artifact-location.ts';
import { invalid } from './errors.ts';
import { compareValues, parseFilter, parseOrderBy, test, type Clause, type Entity } from './filter.ts';
import { hex, metaOf, mlflowStatus, paramsOf, RESERVED_KEY, runDeleted, runName, tagsOf, type RunRow } from './model.ts';
import { latestMetrics, latestMetricsInProjects, type LatestMetric } from './runs.ts';

/** Run attributes MLflow's search accepts, read off an Assay experiment row. */
function runAttr(e: RunRow, key: string): string | number | undefined {
  switch (key) {
    case 'run_id': case 'run_uuid': case 'id': return hex(e.id);
    case 'run_name': return runName(e);
    case 'status': return mlflowStatus(e.status);
    case 'start_time': case 'created': case 'Created': return e.startedAt.getTime();
    case 'end_time': return e.finishedAt?.getTime();
    case 'user_id': return metaOf(e).tags?.['mlflow.user'] ?? '';
    case 'artifact_uri': return runArtifactUri(e);
    case 'lifecycle_stage': return runDeleted(e) ? 'deleted' : 'active';
    case 'experiment_id': return hex(e.projectId);
  }
  throw invalid(`Invalid attribute key '${key}' specified. Valid keys are 'run_id', 'run_name', 'status', 'start_time', 'end_time', 'user_id', 'artifact_uri', 'lifecycle_stage'`);
}

/** Page tokens are an offset into the ordered result (as MLflow's SQL store does). */
export const encodeToken = (offset: number) => Buffer.from(JSON.stringify({ offset })).toString('base64');
export function decodeToken(token: unknown): number {
  if (token === undefined || token === null || token === '') return 0;
  try {
    const o = JSON.parse(Buffer.from(String(token), 'base64').toString()) as { offset?: unknown };
    if (typeof o.offset === 'number' && Number.isSafeInteger(o.offset) && o.offset >= 0) return o.offset;
  } catch {
    /* fall through */
  }
  throw invalid(`Invalid page token, could not base64-decode '${String(token).slice(0, 40)}'`);
}

/** The runs of soft-deleted projects, all read as deleted (none for ACTIVE_ONLY). */
async function runsOfDeletedProjects(ctx: AppContext, tenant: Tenant, projects: ProjectRow[], lifecycle: 'active' | 'deleted' | 'all'): Promise<RunRow[]> {
  const deleted = projects.filter((p) => p.deletedAt);
  if (!deleted.length || lifecycle === 'active') return [];
  const at = new Map(deleted.map((p) => [p.id, p.deletedAt]));
  return (await repo.listProjectsExperiments(ctx.pg.db, tenant, [...at.keys()], 'all')).map((e) => ({ ...e, projectDeletedAt: at.get(e.projectId) ?? null }));
}

/**
 * The equality clauses PostgreSQL can pre-filter on (see repo.RunMatch): params by a flat key (a
 * dotted key may name a nested feature, which only the in-memory walk resolves), tags other than
 * the two that live in columns (run name, description).
 */
function runMatch(clauses: Clause[]): repo.RunMatch {
  const m: repo.RunMatch = { params: [], tags: [] };
  for (const c of clauses) {
    const values = c.op === '=' && typeof c.value === 'string' ? [c.value] : c.op === 'IN' && Array.isArray(c.value) ? c.value : undefined;
    if (!values) continue;
    if (c.entity === 'param' && !c.key.includes('.') && c.key !== RESERVED_KEY) m.params.push([c.key, values]);
    if (c.entity === 'tag' && c.key !== 'mlflow.runName' && c.key !== 'mlflow.note.content') m.tags.push([c.key, values]);
  }
  return m;
}

/**
 * search_runs over the runs of the given projects. Filter and order are evaluated in memory (see
 * filter.ts for why) over the runs PostgreSQL returns — only those that can match the filter's
 * param/tag equalities — while ClickHouse reads the latest values of the metrics a clause or the
 * order names, at the same time; then the page's runs get all their latest metrics.
 */
export async function searchRuns(
  ctx: AppContext,
  tenant: Tenant,
  projects: ProjectRow[],
  o: { filter?: string; orderBy?: string[]; maxResults: number; offset: number; lifecycle: 'active' | 'deleted' | 'all' },
): Promise<{ runs: RunRow[]; metrics: Map<string, LatestMetric[]>; more: boolean }> {
  const clauses = parseFilter(o.filter);
  const order = parseOrderBy(o.orderBy);
  if ([...clauses, ...order].some((c) => c.entity === 'dataset')) throw invalid('Searching runs by datasets is not supported by Assay');
  const activeIds = [...new Set(projects.filter((p) => !p.deletedAt).map((p) => p.id))];
  const ofDeleted = await runsOfDeletedProjects(ctx, tenant, projects, o.lifecycle);
  if (!clauses.length && !order.length && !ofDeleted.length) {
    // nothing to evaluate: the page comes straight from PostgreSQL in MLflow's default order
    const page = await repo.listProjectsExperiments(ctx.pg.db, tenant, activeIds, o.lifecycle, { limit: o.maxResults + 1, offset: o.offset });
    const runs = page.slice(0, o.maxResults);
    return { runs, metrics: await latestMetrics(ctx, tenant, runs), more: page.length > o.maxResults };
  }
  const metricKeys = [...new Set([...clauses, ...order].filter((c) => c.entity === 'metric').map((c) => c.key))];
  const allProjects = [...new Set(projects.map((p) => p.id))];
  const [active, filterMetrics] = await Promise.all([
    repo.listProjectsExperiments(ctx.pg.db, tenant, activeIds, o.lifecycle, undefined, runMatch(clauses)),
    metricKeys.length ? latestMetricsInProjects(ctx, tenant, allProjects, metricKeys) : undefined,
  ]);
  const rows: RunRow[] = [...active, ...ofDeleted];

  const params = new Map<string, Map<string, string>>();
  const tags = new Map<string, Map<string, string>>();
  const lookup = (e: ExperimentRow, entity: Entity, key: string): string | number | undefined => {
    switch (entity) {
      case 'metric': return filterMetrics?.get(e.id)?.find((m) => m.key === key)?.value;
      case 'param': {
        let p = params.get(e.id);
        if (!p) params.set(e.id, (p = paramsOf(e.features)));
        return p.get(key);
      }
      case 'tag': {
        let t = tags.get(e.id);
        if (!t) tags.set(e.id, (t = tagsOf(e)));
        return t.get(key);
      }
      default: return runAttr(e, key);
    }
  };
  const matched = rows.filter((e) => clauses.every((c) => test(c, lookup(e, c.entity, c.key))));
  // MLflow's default order: newest start first, run id as the tie-break
  const keys = [...order, { entity: 'attribute' as const, key: 'start_time', asc: false }, { entity: 'attribute' as const, key: 'run_id', asc: true }];
  matched.sort((a, b) => {
    for (const k of keys) {
      const r = compareValues(lookup(a, k.entity, k.key), lookup(b, k.entity, k.key), k.asc);
      if (r) return r;
    }
    return 0;
  });
  const page = matched.slice(o.offset, o.offset + o.maxResults);
  // the page's runs need all their latest metrics, not just the ones filtered on
  const metrics = await latestMetrics(ctx, tenant, page);
  return { runs: page, metrics, more: matched.length > o.offset + o.maxResults };
}

export interface HistoryPoint {
  key: string;
  value: number | string;
  timestamp: number;
  step: number;
}

/** A metric's full history (or one page of it), through the same timeseries service as Assay's API. */
export async function metricHistory(
  ctx: AppContext,
  tenant: Tenant,
  e: ExperimentRow,
  key: string,
  o: { maxResults?: number; stepMin?: number },
): Promise<{ points: HistoryPoint[]; nextStepMin: number | null }> {
  const out: HistoryPoint[] = [];
  let stepMin = o.stepMin;
  const PAGE = 100_000;
  for (;;) {
    const want = o.maxResults ? Math.min(PAGE, o.maxResults - out.length) : PAGE;
    const r = await timeseries(ctx, tenant, e.projectId, e.id, key, { limit: want, step_min: stepMin, includeDeleted: true });
    for (const p of r.points) out.push({ key, value: mlValue(p.value), timestamp: Date.parse(p.timestamp), step: p.step });
    if (r.next_step_min === null) return { points: out, nextStepMin: null };
    if (o.maxResults && out.length >= o.maxResults) return { points: out, nextStepMin: r.next_step_min };
    stepMin = r.next_step_min;
  }
}

/** Sampled history for the chart endpoint (get-history-bulk-interval): at most `maxResults` points per run, extremes kept. */
export async function sampledHistory(ctx: AppContext, tenant: Tenant, e: ExperimentRow, key: string, o: { maxResults: number; startStep?: number; endStep?: number }): Promise<HistoryPoint[]> {
  const r = await timeseries(ctx, tenant, e.projectId, e.id, key, { limit: o.maxResults, max_points: o.maxResults, step_min: o.startStep, step_max: o.endStep, includeDeleted: true });
  return r.points.map((p) => ({ key, value: mlValue(p.value), timestamp: Date.parse(p.timestamp), step: p.step }));
}

/** JSON has no NaN/±Inf: MLflow's protobuf JSON spells them "NaN", "Infinity", "-Infinity", as Assay does. */
function mlValue(v: number | string): number | string {
  return typeof v === 'number' ? v : (Number.isNaN(fromWire(v as never)) ? 'NaN' : v);
}
