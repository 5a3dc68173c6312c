/**
 * AssayClient — the read (and light management) client. Browser-safe: fetch only, no Node imports,
 * so the web UI can import it from `@assay/sdk/client`.
 */
import { HttpClient, seg, type HttpClientOptions, type QueryValue } from './http.ts';
import { AssayConfigError } from './errors.ts';
import { decodeTimestamp, decodeValue } from './values.ts';
import type {
  Artifact,
  CompareResult,
  CompareStats,
  ExperimentRecord,
  ExperimentStatus,
  ExperimentSummary,
  Features,
  Me,
  MetricName,
  MetricSummary,
  Page,
  Project,
  Timeseries,
} from './types.ts';

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
  /** Maximum raw points (server default 10 000). */
  limit?: number;
  /** Downsample to at most this many points (shape and extremes kept). */
  maxPoints?: number;
  stepMin?: number;
  stepMax?: number;
  host?: string;
}

export interface CreateExperimentBody {
  name: string;
  features?: Features;
  tags?: string[];
  parent_id?: string;
  host?: string;
  description?: string;
}

function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = p?.env?.[name];
  return v === '' ? undefined : v;
}

const statsKeys = ['last', 'min', 'max', 'avg'] as const;

function decodeStats<T extends Record<string, unknown>>(raw: T): T {
  const out: Record<string, unknown> = { ...raw };
  for (const k of statsKeys) if (k in out) out[k] = decodeValue(out[k]);
  return out as T;
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
  createProject(body: { name: string; description?: string }, opts: { ifExists?: 'return' } = {}): Promise<Project> {
    return this.http.request('POST', '/projects', { json: body, query: { if_exists: opts.ifExists } });
  }

  updateProject(project: string, body: { name?: string; description?: string; retention_days?: number }): Promise<Project> {
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

  createExperiment(project: string, body: CreateExperimentBody, opts: { ifExists?: 'return' } = {}): Promise<ExperimentRecord> {
    return this.http.request('POST', `/projects/${seg(project)}/experiments`, { json: body, query: { if_exists: opts.ifExists } });
  }

  updateExperiment(
    project: string,
    experiment: string,
    body: { status?: ExperimentStatus; features?: Features; tags?: string[]; description?: string },
  ): Promise<ExperimentRecord> {
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
  /** One metric's history. Values are numbers (NaN/±Infinity restored), timestamps Dates. */
  async timeseries(project: string, experiment: string, metricName: string, opts: TimeseriesOptions = {}): Promise<Timeseries> {
    const query: Record<string, QueryValue> = {
      limit: opts.limit,
      max_points: opts.maxPoints,
      step_min: opts.stepMin,
      step_max: opts.stepMax,
      host: opts.host,
    };
    const raw = await this.http.request<{
      experiment_id: string;
      metric_name: string;
      points: Array<{ timestamp: unknown; step: number; value: unknown }>;
      count: number;
      downsampled?: boolean;
    }>('GET', `/metrics/timeseries/${seg(project)}/${seg(experiment)}/${seg(metricName)}`, { query });
    return {
      experiment_id: raw.experiment_id,
      metric_name: raw.metric_name,
      count: raw.count,
      downsampled: raw.downsampled ?? false,
      points: raw.points.map((p) => ({ step: Number(p.step), value: decodeValue(p.value), timestamp: decodeTimestamp(p.timestamp) })),
    };
  }

  /** Per-metric aggregates (last, min, max, avg, count, first/last step) for one experiment. */
  async summary(project: string, experiment: string): Promise<ExperimentSummary> {
    const raw = await this.http.request<{ experiment_id: string; metrics: Record<string, Record<string, unknown>> }>(
      'GET',
      `/metrics/summary/${seg(project)}/${seg(experiment)}`,
    );
    const metrics: Record<string, MetricSummary> = {};
    for (const [name, m] of Object.entries(raw.metrics ?? {})) {
      const d = decodeStats(m);
      metrics[name] = {
        ...(d as unknown as MetricSummary),
        count: Number(m.count),
        first_step: Number(m.first_step),
        last_step: Number(m.last_step),
        last_timestamp: m.last_timestamp == null ? null : decodeTimestamp(m.last_timestamp),
      };
    }
    return { experiment_id: raw.experiment_id, metrics };
  }

  /** Compare experiments (ids or names) on some metrics. */
  async compare(project: string, experimentIds: string[], metricNames: string[]): Promise<CompareResult> {
    const raw = await this.http.request<{ project_id: string; experiments: Record<string, Record<string, Record<string, unknown>>> }>(
      'POST',
      '/metrics/compare',
      { query: { project_id: project, experiment_ids: experimentIds, metric_names: metricNames } },
    );
    const experiments: CompareResult['experiments'] = {};
    for (const [id, metrics] of Object.entries(raw.experiments ?? {})) {
      experiments[id] = {};
      for (const [name, m] of Object.entries(metrics)) {
        experiments[id][name] = { ...(decodeStats(m) as unknown as CompareStats), count: Number(m.count) };
      }
    }
    return { project_id: raw.project_id, experiments };
  }

  async metricNames(project: string, experiment: string): Promise<MetricName[]> {
    const r = await this.http.request<{ items: MetricName[] }>('GET', `/metrics/names/${seg(project)}/${seg(experiment)}`);
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
