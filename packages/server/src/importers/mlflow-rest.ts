import { deletedTarget, finishProjects, runSpecs, type MlflowRun } from './mlflow-map.ts';
import type { Progress } from './progress.ts';
import { boundedAnswer, DEFAULT_TIMEOUT_S, eachConcurrently, ImportHttpError, parseValue, type RunWriter, type Sink } from './sink.ts';

/*
 * A running MLflow tracking server through its REST API: experiments/search and runs/search with
 * page tokens (active and deleted: both lifecycles are carried over), metrics/get-history per metric key with page tokens, artifacts/list
 * and downloads (the mlflow-artifacts proxy for `mlflow-artifacts:` URIs, get-artifact otherwise).
 * Auth as MLflow's own client: MLFLOW_TRACKING_TOKEN (Bearer) or MLFLOW_TRACKING_USERNAME/PASSWORD (Basic).
 */

interface RestRun extends MlflowRun {
  experimentId: string;
  artifactUri: string;
  metricKeys: string[];
}

type Kv = { key: string; value: string }[] | undefined;
const kv = (l: Kv) => Object.fromEntries((l ?? []).map((t) => [t.key, t.value ?? '']));

class MlflowHttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class MlflowRestClient {
  private readonly base: string;
  private readonly auth: Record<string, string>;
  constructor(uri: string, env: NodeJS.ProcessEnv = process.env, private readonly timeoutSeconds = DEFAULT_TIMEOUT_S) {
    this.base = uri.replace(/\/+$/, '');
    if (env.MLFLOW_TRACKING_TOKEN) this.auth = { authorization: `Bearer ${env.MLFLOW_TRACKING_TOKEN}` };
    else if (env.MLFLOW_TRACKING_USERNAME) this.auth = { authorization: `Basic ${Buffer.from(`${env.MLFLOW_TRACKING_USERNAME}:${env.MLFLOW_TRACKING_PASSWORD ?? ''}`).toString('base64')}` };
    else this.auth = {};
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<T> {
    const url = new URL(this.base + path);
    if (method === 'GET' && body) for (const [k, v] of Object.entries(body)) if (v !== undefined) url.searchParams.set(k, String(v));
    const answer = this.answered(`MLflow ${method} ${path}`);
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        signal: answer.signal,
        headers: { ...this.auth, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
        body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
      });
      text = await res.text();
    } catch (e) {
      throw answer.hung(e);
    } finally {
      answer.done();
    }
    if (!res.ok) throw new MlflowHttpError(res.status, `MLflow ${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    try {
      return (text ? JSON.parse(text) : {}) as T;
    } catch {
      throw new Error(`MLflow ${method} ${path}: HTTP ${res.status} ${res.headers.get('content-type') ?? 'an answer'} that is not JSON: is ${this.base} an MLflow tracking server?`);
    }
  }

  /** A source server that takes the connection and never answers must not hold the import for ever (see DEFAULT_TIMEOUT_S). */
  private answered(what: string) {
    return boundedAnswer(what, 'the MLflow server', this.timeoutSeconds);
  }

  /** Every page of a paged MLflow call. */
  private async *pages<T>(method: 'GET' | 'POST', path: string, body: Record<string, unknown>, field: string): AsyncGenerator<T> {
    let token: string | undefined;
    do {
      const r = await this.call<Record<string, unknown>>(method, path, { ...body, page_token: token });
      for (const x of (r[field] as T[] | undefined) ?? []) yield x;
      token = (r.next_page_token as string | undefined) || undefined;
    } while (token);
  }

  async runs(): Promise<RestRun[]> {
    const out: RestRun[] = [];
    type Experiment = { experiment_id: string; name: string; lifecycle_stage?: string; tags?: Kv };
    for await (const e of this.pages<Experiment>('POST', '/api/2.0/mlflow/experiments/search', { max_results: 1000, view_type: 'ALL' }, 'experiments')) {
      const runs = this.pages<{ info: Record<string, unknown>; data?: { params?: Kv; tags?: Kv; metrics?: { key: string }[] } }>(
        'POST', '/api/2.0/mlflow/runs/search', { experiment_ids: [e.experiment_id], max_results: 1000, run_view_type: 'ALL' }, 'runs');
      for await (const r of runs) {
        const i = r.info;
        out.push({
          runId: String(i.run_id ?? i.run_uuid),
          experimentId: e.experiment_id,
          experimentName: e.name,
          runName: (i.run_name as string | undefined) || undefined,
          status: (i.status as string | undefined) ?? 'FINISHED',
          startTime: i.start_time != null ? Number(i.start_time) : null,
          endTime: i.end_time != null ? Number(i.end_time) : null,
          params: kv(r.data?.params),
          tags: kv(r.data?.tags),
          deleted: i.lifecycle_stage === 'deleted',
          experimentTags: kv(e.tags),
          experimentDeleted: e.lifecycle_stage === 'deleted',
          artifactUri: String(i.artifact_uri ?? ''),
          metricKeys: [...new Set((r.data?.metrics ?? []).map((m) => m.key))].sort(),
        });
      }
    }
    return out;
  }

  async history(w: RunWriter, runId: string, key: string): Promise<number> {
    let n = 0;
    const points = this.pages<{ value: unknown; timestamp: unknown; step: unknown }>('GET', '/api/2.0/mlflow/metrics/get-history', { run_id: runId, metric_key: key, max_results: 25_000 }, 'metrics');
    for await (const p of points) {
      const v = typeof p.value === 'number' ? p.value : parseValue(String(p.value));
      if (v === undefined) continue;
      w.add(key, Number(p.step ?? 0), v, Number(p.timestamp));
      n++;
    }
    return n;
  }

  /** Every artifact file of the run as [relative path, bytes]. */
  async *artifacts(run: RestRun, dir = ''): AsyncGenerator<[string, () => Promise<Buffer>]> {
    const entries = this.pages<{ path: string; is_dir?: boolean }>('GET', '/api/2.0/mlflow/artifacts/list', { run_id: run.runId, path: dir || undefined }, 'files');
    for await (const f of entries) {
      // MLflow lists paths relative to the artifact root; some servers list base names
      const rel = dir && !f.path.startsWith(`${dir}/`) ? `${dir}/${f.path}` : f.path;
      if (f.is_dir) yield* this.artifacts(run, rel);
      else yield [rel, () => this.download(run, rel)];
    }
  }

  private async download(run: RestRun, rel: string): Promise<Buffer> {
    const proxied = run.artifactUri.match(/^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/);
    const url = proxied
      ? `${this.base}/api/2.0/mlflow-artifacts/artifacts/${proxied[1].replace(/\/+$/, '')}/${rel.split('/').map(encodeURIComponent).join('/')}`
      : `${this.base}/get-artifact?${new URLSearchParams({ run_id: run.runId, path: rel })}`;
    // the bound is on the answer, not the download: an artifact may take long to come
    const answer = this.answered(`MLflow artifact ${rel} of run ${run.runId}`);
    let res: Response;
    try {
      res = await fetch(url, { headers: this.auth, signal: answer.signal });
    } catch (e) {
      throw answer.hung(e);
    } finally {
      answer.done();
    }
    if (!res.ok) throw new Error(`MLflow artifact ${rel} of run ${run.runId}: HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }
}

export async function importMlflowRest(uri: string, sink: Sink, progress: Progress, o: { project?: string; artifacts?: boolean; env?: NodeJS.ProcessEnv; jobs?: number; timeoutSeconds?: number }): Promise<void> {
  const client = new MlflowRestClient(uri, o.env, o.timeoutSeconds);
  const runs = await client.runs();
  const specs = runSpecs(sink, runs, o.project);
  progress.start(runs.length, 'runs');
  await eachConcurrently(runs, o.jobs ?? 4, async (r) => {
    if (await deletedTarget(sink, specs.get(r)!)) return;
    const w = await sink.run(specs.get(r)!);
    // some servers serve nothing of a run of a deleted experiment (Assay's MLflow API answers 404)
    const unreadable = (e: unknown, what: string) => {
      if (!(e instanceof MlflowHttpError && e.status === 404 && r.deleted)) throw e;
      sink.warn(`deleted run ${r.runId}: ${what} not readable from the server (${e.message.slice(0, 200)}); imported without it`);
    };
    for (const key of r.metricKeys) {
      await client.history(w, r.runId, key).catch((e) => unreadable(e, `metric '${key}'`));
      await w.drain();
    }
    if (o.artifacts) {
      // before finish(): a deleted run is deleted there, last
      const existing = await w.existingArtifacts();
      try {
        for await (const [rel, fetchBytes] of client.artifacts(r)) {
          try {
            await w.artifactBytes(rel, await fetchBytes(), existing);
          } catch (e) {
            if (!(e instanceof ImportHttpError) || e.status >= 500) throw e;
            sink.warn(`artifact ${rel} of run ${r.runId}: ${e.message}`);
          }
        }
      } catch (e) {
        unreadable(e, 'artifacts');
      }
    }
    await w.finish();
    progress.advance(1);
  });
  await finishProjects(sink, runs, o.project);
  progress.stop();
}
