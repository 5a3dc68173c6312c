import path from 'node:path';
import { artifactPathProblem, LIMITS, nameProblem } from '@assay/contracts';
import { deletedTarget, finishProjects, runSpecs, type MlflowRun } from './mlflow-map.ts';
import { withTempDir, writeHashed, type FileDigest } from './artifact-files.ts';
import type { Progress } from './progress.ts';
import { boundedAnswer, DEFAULT_TIMEOUT_S, eachConcurrently, ImportHttpError, parseValue, refusedRun, retryAfterSeconds, sleep, type RunWriter, type Sink } from './sink.ts';

/*
 * A running MLflow tracking server through its REST API: experiments/search and runs/search with
 * page tokens (active and deleted: both lifecycles are carried over), metrics/get-history per metric key with page tokens, artifacts/list
 * and downloads (the mlflow-artifacts proxy for `mlflow-artifacts:` URIs, get-artifact otherwise).
 * Auth as MLflow's own client: MLFLOW_TRACKING_TOKEN (Bearer) or MLFLOW_TRACKING_USERNAME/PASSWORD (Basic).
 *
 * The source is not trusted (issue 12): an answer of the wrong shape, a page token that loops, a
 * history or artifact that cannot be read is a warning naming the experiment, run, metric or
 * artifact, and the rest goes on; only what stops everything (credentials refused, the experiment
 * list unreadable, no answer within --timeout) stops the import.
 */

interface RestRun extends MlflowRun {
  experimentId: string;
  artifactUri: string;
  metricKeys: string[];
}

/** The source answered something that is not what MLflow answers (a shape, a page token, a status). */
class SourceError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** Credentials missing or refused: every later call would be refused too, so the import stops. */
class SourceAuthError extends Error {}

/** 429 and the 5xx an overloaded or restarting server answers: tried again, a few times. */
const RETRYABLE = new Set([429, 500, 502, 503, 504]);
const RETRIES = 4;
/** A Retry-After above this is not waited for in full (a source could ask for hours). */
const RETRY_AFTER_MAX_S = 60;
/** Pages that bring nothing but another token: a source paging nowhere. MLflow never answers one. */
const EMPTY_PAGES_MAX = 100;
/** One JSON answer at most (V8 strings end at ~512 MiB; a 25k-point history page is ~2 MB). */
const ANSWER_MAX_BYTES = 256 << 20;
/** Artifact directories below the run's root; a deeper tree is a source listing in a loop. */
const ARTIFACT_DEPTH_MAX = 64;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const shown = (v: unknown) => (v === undefined ? 'missing' : typeof v === 'string' && v.length > 60 ? `${JSON.stringify(v.slice(0, 60))}…` : JSON.stringify(v)?.slice(0, 60) ?? String(v));
/** An int64 as MLflow answers it (a number, or a string of one); anything else is NaN, which the writer skips. */
const int64 = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN);
/** Python's json writes NaN and ±Infinity bare; some MLflow-compatible servers answer with them. */
const quoteNonFinite = (text: string) => text.replace(/"(?:[^"\\]|\\.)*"|(-?)\b(NaN|Infinity)\b/g, (m, sign: string, word?: string) => (word ? `"${sign}${word}"` : m));

/** Reads at most `max` bytes of the body: a source must not fill the importer's memory. `onPart` is told of each part as it comes. */
async function cappedBody(res: Response, max: number, what: string, onPart?: () => void): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > max) {
    await res.body?.cancel();
    throw new SourceError(`${what}: ${declared} bytes, more than the ${max} this importer takes`);
  }
  const parts: Buffer[] = [];
  let n = 0;
  for await (const part of (res.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
    n += part.length;
    if (n > max) throw new SourceError(`${what}: more than the ${max} bytes this importer takes`);
    parts.push(Buffer.from(part.buffer, part.byteOffset, part.byteLength));
    onPart?.();
  }
  return Buffer.concat(parts);
}

export class MlflowRestClient {
  private readonly base: string;
  private readonly auth: Record<string, string>;
  constructor(uri: string, env: NodeJS.ProcessEnv = process.env, private readonly timeoutSeconds = DEFAULT_TIMEOUT_S, private readonly sink?: Sink) {
    this.base = uri.replace(/\/+$/, '');
    if (env.MLFLOW_TRACKING_TOKEN) this.auth = { authorization: `Bearer ${env.MLFLOW_TRACKING_TOKEN}` };
    else if (env.MLFLOW_TRACKING_USERNAME) this.auth = { authorization: `Basic ${Buffer.from(`${env.MLFLOW_TRACKING_USERNAME}:${env.MLFLOW_TRACKING_PASSWORD ?? ''}`).toString('base64')}` };
    else this.auth = {};
  }

  private authProblem(status: number, what: string): SourceAuthError {
    const sent = this.auth.authorization?.startsWith('Bearer') ? 'MLFLOW_TRACKING_TOKEN' : this.auth.authorization ? 'MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD' : undefined;
    return new SourceAuthError(`${what}: HTTP ${status}: ${sent
      ? `the MLflow server refuses the credentials in ${sent}`
      : 'the MLflow server wants credentials: set MLFLOW_TRACKING_TOKEN (a token) or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD'}`);
  }

  /**
   * One request, tried again on 429/5xx and dropped connections (at most RETRIES times, honouring
   * Retry-After). `read` takes the body of a 2xx answer; `boundBody` puts all of it inside
   * --timeout too, otherwise (a download may take long) only each pause between its parts.
   */
  private async fetchRetrying<T>(what: string, url: URL | string, init: RequestInit, read: (res: Response, onPart?: () => void) => Promise<T>, boundBody = true): Promise<{ res: Response; body?: T; errorText: string }> {
    for (let attempt = 0; ; attempt++) {
      const answer = this.answered(what);
      const stalled = new AbortController();
      let watchdog: NodeJS.Timeout | undefined;
      const alive = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => stalled.abort(), this.timeoutSeconds * 1000);
      };
      let res: Response;
      let body: T | undefined;
      let errorText = '';
      try {
        res = await fetch(url, { ...init, headers: { ...this.auth, ...(init.headers as Record<string, string>) }, signal: AbortSignal.any([answer.signal, stalled.signal]) });
        if (!boundBody) {
          answer.done();
          alive();
        }
        if (res.ok) body = await read(res, boundBody ? undefined : alive);
        else errorText = (await cappedBody(res, 64 << 10, what).catch(() => Buffer.alloc(0))).toString('utf8');
      } catch (e) {
        // not tried again: that would hold the import RETRIES times longer for the same silence
        if (stalled.signal.aborted) throw new SourceError(`${what}: nothing came for ${Math.round(this.timeoutSeconds)} s (--timeout) in the middle of the body`);
        const timedOut = answer.hung(e);
        if (timedOut !== e || e instanceof SourceError) throw timedOut;
        // undici says only "fetch failed" or "terminated"; why (ECONNRESET, …) is in its cause
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        if (attempt >= RETRIES) throw new SourceError(`${what}: ${(e as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`);
        await sleep(Math.min(250 * 2 ** attempt, 4000));
        continue;
      } finally {
        answer.done();
        clearTimeout(watchdog);
      }
      if (res.status === 401 || res.status === 403) throw this.authProblem(res.status, what);
      if (RETRYABLE.has(res.status) && attempt < RETRIES) {
        const after = retryAfterSeconds(res.headers.get('retry-after'));
        await sleep(after !== undefined ? Math.min(after, RETRY_AFTER_MAX_S) * 1000 : Math.min(250 * 2 ** attempt, 4000));
        continue;
      }
      return { res, body, errorText };
    }
  }

  private async call(method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<Record<string, unknown>> {
    const url = new URL(this.base + path);
    if (method === 'GET' && body) for (const [k, v] of Object.entries(body)) if (v !== undefined) url.searchParams.set(k, String(v));
    const what = `MLflow ${method} ${path}`;
    const { res, body: bytes, errorText } = await this.fetchRetrying(what, url, {
      method,
      headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
      body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
    }, (r) => cappedBody(r, ANSWER_MAX_BYTES, what));
    if (!res.ok) throw new SourceError(`${what}: HTTP ${res.status} ${errorText.slice(0, 300)}`, res.status);
    const text = bytes!.toString('utf8');
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      try {
        parsed = JSON.parse(quoteNonFinite(text));
      } catch {
        throw new Error(`${what}: HTTP ${res.status} ${res.headers.get('content-type') ?? 'an answer'} that is not JSON: is ${this.base} an MLflow tracking server?`);
      }
    }
    if (!isObject(parsed)) throw new SourceError(`${what}: the answer is ${shown(parsed)}, not a JSON object`);
    return parsed;
  }

  /** A source server that takes the connection and never answers must not hold the import for ever (see DEFAULT_TIMEOUT_S). */
  private answered(what: string) {
    return boundedAnswer(what, 'the MLflow server', this.timeoutSeconds);
  }

  /** Every item of every page of a paged MLflow call. */
  private async *pages(method: 'GET' | 'POST', path: string, body: Record<string, unknown>, field: string): AsyncGenerator<unknown> {
    for await (const page of this.pageLists(method, path, body, field)) for (const x of page) yield x;
  }

  /**
   * Every page of a paged MLflow call, as its list (a history reads its points a page at a time, not
   * one promise turn per point); a token answered before or a run of empty pages ends it with a SourceError.
   */
  private async *pageLists(method: 'GET' | 'POST', path: string, body: Record<string, unknown>, field: string): AsyncGenerator<unknown[]> {
    const what = `MLflow ${method} ${path}`;
    const seen = new Set<string>();
    let token: string | undefined;
    let empty = 0;
    for (;;) {
      const r = await this.call(method, path, { ...body, page_token: token });
      const items = r[field] ?? [];
      if (!Array.isArray(items)) throw new SourceError(`${what}: "${field}" is ${shown(items)}, not a list`);
      yield items;
      const next = r.next_page_token;
      if (next === undefined || next === null || next === '') return;
      if (typeof next !== 'string') throw new SourceError(`${what}: next_page_token is ${shown(next)}, not a string; the pages after it are not read`);
      if (seen.has(next)) throw new SourceError(`${what}: next_page_token ${shown(next)} was answered before (the source pages in a loop); the pages after it are not read`);
      empty = items.length ? 0 : empty + 1;
      if (empty >= EMPTY_PAGES_MAX) throw new SourceError(`${what}: ${empty} pages in a row with nothing but another next_page_token; the pages after them are not read`);
      seen.add(next);
      token = next;
    }
  }

  private warn(msg: string): void {
    this.sink?.warn(msg);
  }

  /** Text the server stores: lone surrogates read as U+FFFD (with a warning naming where). */
  private text(v: unknown, what: string): string | undefined {
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string') return undefined;
    const s = v.toWellFormed();
    if (s !== v) this.warn(`${what}: ${shown(v)} read as ${shown(s)}`);
    return s;
  }

  private kv(l: unknown, what: string): Record<string, string> {
    if (l === undefined || l === null) return {};
    if (!Array.isArray(l)) {
      this.warn(`${what}: ${shown(l)} is no list of key/value pairs; left out`);
      return {};
    }
    const out: Record<string, string> = {};
    let bad = 0;
    for (const t of l) {
      const key = isObject(t) ? this.text(t.key, `${what} key`) : undefined;
      if (key === undefined) bad++;
      else out[key] = this.text(t.value, `${what} ${shown(key)}`) ?? '';
    }
    if (bad) this.warn(`${what}: ${bad} entries without a text key left out`);
    return out;
  }

  private time(v: unknown, what: string): number | null {
    if (v === undefined || v === null) return null;
    const t = typeof v === 'number' || (typeof v === 'string' && v.trim() !== '') ? Number(v) : NaN;
    if (Number.isFinite(t) && t >= 0 && t <= LIMITS.timestampMaxMs) return Math.round(t);
    this.warn(`${what}: ${shown(v)} is no time in epoch ms from 1970 to 2106; left out`);
    return null;
  }

  async runs(): Promise<RestRun[]> {
    const out: RestRun[] = [];
    const byId = new Map<string, string>();
    for await (const e of this.pages('POST', '/api/2.0/mlflow/experiments/search', { max_results: 1000, view_type: 'ALL' }, 'experiments')) {
      const id = isObject(e) ? this.text(e.experiment_id, 'experiment id') : undefined;
      if (!isObject(e) || !id) {
        this.warn(`experiments/search: ${shown(e)} is no experiment with an experiment_id; skipped`);
        continue;
      }
      const given = this.text(e.name, `experiment ${id}: name`);
      const name = given?.trim() ? given : id;
      if (name !== given) this.warn(`experiment ${id}: name ${shown(e.name)} is no name; ${shown(id)} used`);
      const problem = nameProblem(name, 'project name', LIMITS.nameMax);
      if (problem) {
        this.warn(`experiment ${id}: name ${shown(name)} is no Assay project name (${problem}); its runs are not imported`);
        continue;
      }
      const experimentTags = this.kv(e.tags, `experiment ${id}: tags`);
      try {
        const runs = this.pages('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: [id], max_results: 1000, run_view_type: 'ALL' }, 'runs');
        for await (const r of runs) {
          const run = this.run(r, id, name, e.lifecycle_stage === 'deleted', experimentTags, byId);
          if (run) out.push(run);
        }
      } catch (err) {
        if (!(err instanceof SourceError)) throw err;
        this.warn(`experiment ${id} (${name}): runs not readable (${err.message.slice(0, 300)}); the runs read before are imported`);
      }
    }
    return out;
  }

  private run(r: unknown, experimentId: string, experimentName: string, experimentDeleted: boolean, experimentTags: Record<string, string>, byId: Map<string, string>): RestRun | undefined {
    const i = isObject(r) && isObject(r.info) ? r.info : undefined;
    const runId = i && this.text(i.run_id ?? i.run_uuid, `experiment ${experimentId}: run id`);
    if (!isObject(r) || !i || !runId) {
      this.warn(`experiment ${experimentId}: ${shown(r)} is no run with a run_id; skipped`);
      return undefined;
    }
    const earlier = byId.get(runId);
    if (earlier !== undefined) {
      this.warn(`run ${runId}: listed again (in experiment ${experimentId}, first in experiment ${earlier}); imported once`);
      return undefined;
    }
    byId.set(runId, experimentId);
    const data = isObject(r.data) ? r.data : {};
    const metrics = Array.isArray(data.metrics) ? data.metrics : [];
    const keys = metrics.map((m) => (isObject(m) && typeof m.key === 'string' ? m.key : undefined));
    if (data.metrics !== undefined && !Array.isArray(data.metrics)) this.warn(`run ${runId}: metrics ${shown(data.metrics)} is no list; no metric imported`);
    const keyless = keys.filter((k) => k === undefined).length;
    if (keyless) this.warn(`run ${runId}: ${keyless} metric entries without a text key skipped`);
    const runName = this.text(i.run_name, `run ${runId}: run_name`);
    return {
      runId,
      experimentId,
      experimentName,
      runName: runName || undefined,
      status: typeof i.status === 'string' || typeof i.status === 'number' ? i.status : 'FINISHED',
      startTime: this.time(i.start_time, `run ${runId}: start_time`),
      endTime: this.time(i.end_time, `run ${runId}: end_time`),
      params: this.kv(data.params, `run ${runId}: params`),
      tags: this.kv(data.tags, `run ${runId}: tags`),
      deleted: i.lifecycle_stage === 'deleted',
      experimentTags,
      experimentDeleted,
      artifactUri: typeof i.artifact_uri === 'string' ? i.artifact_uri : '',
      metricKeys: [...new Set(keys.filter((k) => k !== undefined))].sort(),
    };
  }

  /** The metric's points into the writer; how many were read, and how many were no point (warned about by the caller). */
  async history(w: RunWriter, runId: string, key: string): Promise<{ read: number; bad: number }> {
    let read = 0;
    let bad = 0;
    for await (const page of this.pageLists('GET', '/api/2.0/mlflow/metrics/get-history', { run_id: runId, metric_key: key, max_results: 25_000 }, 'metrics')) {
      for (const p of page) {
        const point = isObject(p) ? p : {};
        const v = typeof point.value === 'number' ? point.value : typeof point.value === 'string' ? parseValue(point.value) : undefined;
        if (v === undefined) {
          bad++;
          continue;
        }
        // MLflow answers int64 steps and timestamps as numbers or as strings; a missing step is 0
        w.add(key, point.step === undefined || point.step === null ? 0 : int64(point.step), v, int64(point.timestamp));
        read++;
      }
      // a history of any length: its batches must not pile up while the next pages come
      await w.drain();
    }
    return { read, bad };
  }

  /** Every artifact file of the run as [relative path, listed size, download into a file]; a listing that cannot be read is a warning. */
  async *artifacts(run: RestRun, dir = '', listed = new Set<string>()): AsyncGenerator<[string, number | undefined, (file: string) => Promise<FileDigest>]> {
    const where = `run ${run.runId}: artifacts${dir ? ` in ${shown(dir)}` : ''}`;
    listed.add(dir);
    const entries = this.pages('GET', '/api/2.0/mlflow/artifacts/list', { run_id: run.runId, path: dir || undefined }, 'files');
    try {
      for await (const f of entries) {
        if (!isObject(f) || typeof f.path !== 'string') {
          this.warn(`${where}: ${shown(f)} is no artifact entry; skipped`);
          continue;
        }
        // MLflow lists paths relative to the artifact root; some servers list base names
        const rel = dir && !f.path.startsWith(`${dir}/`) ? `${dir}/${f.path}` : f.path;
        // checked before anything is asked of the source: a path leaving the run's root is never requested
        const problem = artifactPathProblem(rel);
        if (problem) this.warn(`${where}: ${shown(f.path)} skipped (${problem})`);
        // an entry naming the listed directory itself is that directory, not a child of the same name
        else if (f.is_dir && (f.path === dir || listed.has(rel) || rel.split('/').length > ARTIFACT_DEPTH_MAX)) {
          this.warn(`${where}: directory ${shown(f.path)} ${rel.split('/').length > ARTIFACT_DEPTH_MAX ? `nests past ${ARTIFACT_DEPTH_MAX} levels` : 'is listed again (a loop)'}; not read`);
        }
        else if (f.is_dir) yield* this.artifacts(run, rel, listed);
        else {
          const size = typeof f.file_size === 'number' || typeof f.file_size === 'string' ? Number(f.file_size) : undefined;
          const known = Number.isSafeInteger(size) ? size : undefined;
          yield [rel, known, (file: string) => this.download(run, rel, file, known)];
        }
      }
    } catch (e) {
      if (!(e instanceof SourceError)) throw e;
      // a deleted run's artifacts may be gone from the source (Assay's MLflow API answers 404)
      this.warn(`${run.deleted && e.status === 404 ? 'deleted ' : ''}${where}: not readable from the server (${e.message.slice(0, 200)}); imported without them`);
    }
  }

  /** The artifact into `file`, hashed as it comes; more bytes than the listing said stop it (a source must not fill the disk). */
  private async download(run: RestRun, rel: string, file: string, listedSize: number | undefined): Promise<FileDigest> {
    const proxied = run.artifactUri.match(/^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/);
    const url = proxied
      ? `${this.base}/api/2.0/mlflow-artifacts/artifacts/${proxied[1].replace(/\/+$/, '')}/${rel.split('/').map(encodeURIComponent).join('/')}`
      : `${this.base}/get-artifact?${new URLSearchParams({ run_id: run.runId, path: rel })}`;
    const what = `MLflow artifact ${rel} of run ${run.runId}`;
    // a redirect is where a proxy sends a client to log in, not the file; the bound is on the answer, not the download
    const tooMany = (n: number) => {
      if (listedSize !== undefined && n > listedSize) throw new SourceError(`listed with ${listedSize} bytes, more came`);
    };
    const parts = (r: Response, onPart?: () => void) => writeHashed(progressing((r.body ?? []) as unknown as AsyncIterable<Uint8Array>, onPart), file, tooMany);
    const { res, body: digest } = await this.fetchRetrying(what, url, { redirect: 'manual' }, parts, false);
    if (!res.ok) throw new SourceError(`${what}: HTTP ${res.status}${res.headers.get('location') ? ` (redirected to ${res.headers.get('location')!.slice(0, 100)})` : ''}`, res.status);
    if (/^text\/html/i.test(res.headers.get('content-type') ?? '') && !/\.x?html?$/i.test(rel)) throw new SourceError(`${what}: the server answered an HTML page, not the file`);
    return digest!;
  }
}

/** The parts, telling `onPart` of each as it comes (the stall watchdog of a download). */
async function* progressing(parts: AsyncIterable<Uint8Array>, onPart?: () => void): AsyncGenerator<Uint8Array> {
  for await (const part of parts) {
    onPart?.();
    yield part;
  }
}

export async function importMlflowRest(uri: string, sink: Sink, progress: Progress, o: { project?: string; artifacts?: boolean; env?: NodeJS.ProcessEnv; jobs?: number; timeoutSeconds?: number }): Promise<void> {
  const client = new MlflowRestClient(uri, o.env, o.timeoutSeconds, sink);
  const runs = await client.runs();
  const specs = runSpecs(sink, runs, o.project);
  progress.start(runs.length, 'runs');
  await eachConcurrently(runs, o.jobs ?? 4, async (r) => {
    if (await deletedTarget(sink, specs.get(r)!)) return;
    let w: RunWriter;
    try {
      w = await sink.run(specs.get(r)!);
    } catch (e) {
      // what the source holds (a name, a param, a tag) is refused: that run is left out, not the import
      if (!refusedRun(e)) throw e;
      sink.warn(`run ${r.runId}: not imported: ${e.message}`);
      return;
    }
    for (const key of r.metricKeys) {
      const what = `${r.deleted ? 'deleted ' : ''}run ${r.runId}: metric ${JSON.stringify(key.slice(0, 60))}`;
      try {
        const { bad } = await client.history(w, r.runId, key);
        if (bad) sink.warn(`${what}: ${bad} values that are no number (nor NaN/±Infinity) skipped`);
      } catch (e) {
        if (!(e instanceof SourceError)) throw e;
        sink.warn(`${what}: not readable from the server (${e.message.slice(0, 200)}); the points read before are imported`);
      }
      await w.drain();
    }
    if (o.artifacts) {
      // before finish(): a deleted run is deleted there, last
      const existing = await w.existingArtifacts();
      for await (const [rel, size, download] of client.artifacts(r)) {
        try {
          // through a file, not memory: an artifact may be a checkpoint of many GB
          await withTempDir(async (dir) => {
            const file = path.join(dir, 'artifact');
            const got = await download(file);
            if (size !== undefined && got.size !== size) throw new SourceError(`listed with ${size} bytes, ${got.size} came`);
            await w.artifact(rel, file, existing, got);
          });
        } catch (e) {
          if (!(e instanceof SourceError) && (!(e instanceof ImportHttpError) || e.status >= 500)) throw e;
          sink.warn(`artifact ${rel} of run ${r.runId}: ${e.message}; skipped`);
        }
      }
    }
    await w.finish();
    progress.advance(1);
  });
  await finishProjects(sink, runs, o.project);
  progress.stop();
}
