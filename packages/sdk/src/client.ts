/**
 * AssayClient — the read (and light management) client. Browser-safe: fetch only, no Node imports,
 * so the web UI can import it from `@assay/sdk/client`.
 */
import { HttpClient, seg, type HttpClientOptions, type QueryValue } from './http.ts';
import { AssayConfigError } from './errors.ts';
import { LIMITS } from './limits.ts';
import { decodeTimestamp, decodeValue } from './values.ts';
import type {
  Artifact,
  CompareResult,
  CompareResponse,
  ExperimentCreate,
  ExperimentPatch,
  ExperimentRecord,
  ExperimentStatus,
  ExperimentSummary,
  Me,
  MetricNamesResponse,
  MetricStats,
  MetricSummary,
  Page,
  Project,
  ProjectCreate,
  ProjectPatch,
  SummaryResponse,
  Timeseries,
  TimeseriesResponse,
} from './types.ts';

export { AssayError, AssayApiError, AssayNetworkError, AssayConfigError } from './errors.ts';

export interface AssayClientOptions extends Partial<HttpClientOptions> {}

export interface ListOptions {
  limit?: number;
  cursor?: string | null;
  name?: string;
}

export interface ListExperimentsOptions extends ListOptions {
  status?: ExperimentStatus;
  tag?: string;
}

export interface TimeseriesOptions {
  /**
   * `timeseries`: points in this page (server default 10 000, at most 100 000). `getMetric`: at
   * most this many points in all (default: the whole series); `truncated: true` when more exist.
   */
  limit?: number;
  /** Downsample to at most this many points (shape and extremes kept). */
  maxPoints?: number;
  stepMin?: number;
  stepMax?: number;
  host?: string;
  /** `getMetric`: points per request while paging (default and maximum 100 000). */
  pageSize?: number;
}

function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = p?.env?.[name];
  return v === '' ? undefined : v;
}

function decodeStats(m: MetricStats): MetricSummary {
  return {
    ...m,
    last: decodeValue(m.last),
    min: decodeValue(m.min),
    max: decodeValue(m.max),
    avg: decodeValue(m.avg),
    last_timestamp: m.last_timestamp == null ? null : decodeTimestamp(m.last_timestamp),
  };
}

export class AssayClient {
  readonly http: HttpClient;

  constructor(opts: AssayClientOptions | HttpClient = {}) {
    if (opts instanceof HttpClient) {
      this.http = opts;
      return;
    }
    const apiUrl = opts.apiUrl ?? env('ASSAY_API_URL') ?? (typeof location !== 'undefined' ? location.origin : undefined);
    if (!apiUrl) throw new AssayConfigError('Assay API URL is not set (pass apiUrl or set ASSAY_API_URL)');
    this.http = new HttpClient({ ...opts, apiUrl, apiKey: opts.apiKey ?? env('ASSAY_API_KEY') });
  }

  // ---- identity ----
  me(): Promise<Me> {
    return this.http.request<Me>('GET', '/me');
  }

  // ---- projects ----
  listProjects(opts: ListOptions = {}): Promise<Page<Project>> {
    return this.http.request('GET', '/projects', { query: { limit: opts.limit, cursor: opts.cursor, name: opts.name } });
  }

  /** Every project, following `next_cursor`. */
  async *iterProjects(opts: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<Project> {
    yield* paginate((cursor) => this.listProjects({ ...opts, cursor }));
  }

  getProject(project: string): Promise<Project> {
    return this.http.request('GET', `/projects/${seg(project)}`);
  }

  /** Create a project; with `ifExists: 'return'` returns the existing one instead of 409. */
  createProject(body: ProjectCreate, opts: { ifExists?: 'return' } = {}): Promise<Project> {
    return this.http.request('POST', '/projects', { json: body, query: { if_exists: opts.ifExists } });
  }

  updateProject(project: string, body: ProjectPatch): Promise<Project> {
    return this.http.request('PATCH', `/projects/${seg(project)}`, { json: body });
  }

  deleteProject(project: string): Promise<void> {
    return this.http.request('DELETE', `/projects/${seg(project)}`);
  }

  // ---- experiments ----
  listExperiments(project: string, opts: ListExperimentsOptions = {}): Promise<Page<ExperimentRecord>> {
    return this.http.request('GET', `/projects/${seg(project)}/experiments`, {
      query: { limit: opts.limit, cursor: opts.cursor, name: opts.name, status: opts.status, tag: opts.tag },
    });
  }

  async *iterExperiments(project: string, opts: Omit<ListExperimentsOptions, 'cursor'> = {}): AsyncGenerator<ExperimentRecord> {
    yield* paginate((cursor) => this.listExperiments(project, { ...opts, cursor }));
  }

  getExperiment(project: string, experiment: string): Promise<ExperimentRecord> {
    return this.http.request('GET', `/projects/${seg(project)}/experiments/${seg(experiment)}`);
  }

  /** With `ifExists: 'return'` an existing experiment is returned, its tags and features merged with the given ones. */
  createExperiment(project: string, body: ExperimentCreate, opts: { ifExists?: 'return' } = {}): Promise<ExperimentRecord> {
    return this.http.request('POST', `/projects/${seg(project)}/experiments`, { json: body, query: { if_exists: opts.ifExists } });
  }

  /** PATCH: `features` are deep-merged, `tags` replace the stored ones, `description: null` clears it. */
  updateExperiment(project: string, experiment: string, body: ExperimentPatch): Promise<ExperimentRecord> {
    return this.http.request('PATCH', `/projects/${seg(project)}/experiments/${seg(experiment)}`, { json: body });
  }

  deleteExperiment(project: string, experiment: string): Promise<void> {
    return this.http.request('DELETE', `/projects/${seg(project)}/experiments/${seg(experiment)}`);
  }

  // ---- artifacts ----
  async listArtifacts(project: string, experiment: string): Promise<Artifact[]> {
    const r = await this.http.request<{ items: Artifact[] }>('GET', `/projects/${seg(project)}/experiments/${seg(experiment)}/artifacts`);
    return r.items;
  }

  /** The raw Response of an artifact download (stream it with `res.body`). */
  downloadArtifact(project: string, experiment: string, artifactId: string): Promise<Response> {
    return this.http.request<Response>('GET', `/projects/${seg(project)}/experiments/${seg(experiment)}/artifacts/${seg(artifactId)}`, {
      raw: true,
      headers: { Accept: '*/*' },
    });
  }

  // ---- metrics ----
  /**
   * One page of a metric's history (`limit` points, server default 10 000). Values are numbers
   * (NaN/±Infinity restored), timestamps Dates. `truncated` / `next_step_min` say where the next
   * page starts (`stepMin`); `getMetric` follows them for you.
   */
  async timeseries(project: string, experiment: string, metricName: string, opts: TimeseriesOptions = {}): Promise<Timeseries> {
    const query: Record<string, QueryValue> = {
      limit: opts.limit,
      max_points: opts.maxPoints,
      step_min: opts.stepMin,
      step_max: opts.stepMax,
      host: opts.host,
    };
    const raw = await this.http.request<TimeseriesResponse>('GET', `/metrics/timeseries/${seg(project)}/${seg(experiment)}/${seg(metricName)}`, { query });
    return {
      ...raw,
      downsampled: raw.downsampled ?? false,
      truncated: raw.truncated ?? false,
      next_step_min: raw.next_step_min ?? null,
      points: raw.points.map((p) => {
        const out: Timeseries['points'][number] = { step: Number(p.step), value: decodeValue(p.value), timestamp: decodeTimestamp(p.timestamp) };
        if (p.host) out.host = p.host;
        return out;
      }),
    };
  }

  /**
   * A metric's whole history (within `stepMin`…`stepMax`), paging with `next_step_min` until the
   * series ends. With `limit`, at most that many points, and `truncated: true` when more exist.
   * With `maxPoints`, one downsampled answer (`downsampled: true`).
   */
  async getMetric(project: string, experiment: string, metricName: string, opts: TimeseriesOptions = {}): Promise<Timeseries> {
    if (opts.maxPoints !== undefined) return this.timeseries(project, experiment, metricName, opts);
    const want = opts.limit ?? Infinity;
    const points: Timeseries['points'] = [];
    let stepMin = opts.stepMin;
    let page: Timeseries;
    for (;;) {
      const limit = Math.max(1, Math.min(opts.pageSize ?? LIMITS.timeseriesLimitMax, LIMITS.timeseriesLimitMax, want - points.length));
      page = await this.timeseries(project, experiment, metricName, { ...opts, limit, stepMin });
      for (const p of page.points) points.push(p);
      const next = page.next_step_min;
      if (!page.truncated || next === null || points.length >= want) break;
      if (stepMin !== undefined && next <= stepMin) break; // the server did not advance: never loop
      stepMin = next;
    }
    let { truncated, next_step_min } = page;
    if (points.length > want) {
      // a page of whole steps overshot (several hosts per step): cut to the limit
      next_step_min = points[want].step;
      truncated = true;
      points.length = want;
    }
    return { ...page, points, count: points.length, truncated, next_step_min };
  }

  /** Per-metric aggregates (last, min, max, avg, count, first/last step) for one experiment. */
  async summary(project: string, experiment: string): Promise<ExperimentSummary> {
    const raw = await this.http.request<SummaryResponse>('GET', `/metrics/summary/${seg(project)}/${seg(experiment)}`);
    const metrics: Record<string, MetricSummary> = {};
    for (const [name, m] of Object.entries(raw.metrics ?? {})) metrics[name] = decodeStats(m);
    return { experiment_id: raw.experiment_id, metrics };
  }

  /** Compare experiments (ids or names) on some metrics. */
  async compare(project: string, experimentIds: string[], metricNames: string[]): Promise<CompareResult> {
    const raw = await this.http.request<CompareResponse>('POST', '/metrics/compare', {
      query: { project_id: project, experiment_ids: experimentIds, metric_names: metricNames },
    });
    const experiments: CompareResult['experiments'] = {};
    for (const [id, metrics] of Object.entries(raw.experiments ?? {})) {
      experiments[id] = {};
      for (const [name, m] of Object.entries(metrics)) experiments[id][name] = decodeStats(m);
    }
    return { project_id: raw.project_id, experiments };
  }

  async metricNames(project: string, experiment: string): Promise<MetricNamesResponse['items']> {
    const r = await this.http.request<MetricNamesResponse>('GET', `/metrics/names/${seg(project)}/${seg(experiment)}`);
    return r.items;
  }

  deleteMetrics(project: string, experiment: string): Promise<void> {
    return this.http.request('DELETE', `/metrics/${seg(project)}/${seg(experiment)}`);
  }
}

async function* paginate<T>(fetchPage: (cursor: string | null | undefined) => Promise<Page<T>>): AsyncGenerator<T> {
  let cursor: string | null | undefined = undefined;
  do {
    const page: Page<T> = await fetchPage(cursor);
    yield* page.items;
    cursor = page.next_cursor;
  } while (cursor);
}
