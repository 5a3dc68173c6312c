import { createHash } from 'node:crypto';
import { LIMITS, nameProblem } from '@assay/contracts';
import { FileShrankError, hashFile, sendFile, type FileBody, type FileDigest } from './artifact-files.ts';
import { BINARY_CONTENT_TYPE, encodeBinaryBatch } from '../stores/clickhouse/binary-batch.ts';
import { compareStrings } from '../stores/clickhouse/writer.ts';
import { Float64Column } from '../stores/clickhouse/encode.ts';

/*
 * The one write path of every importer: the public HTTP API of a running Assay server. Projects
 * and experiments are get-or-create (`if_exists=return`), metric points go as binary columnar
 * batches (stores/clickhouse/binary-batch.ts; JSON `series` to a server that answers 415) whose batch_id is derived from (source run, chunk number, chunk content): a second import sends
 * the same ids and the server answers "duplicate" without writing, and an interrupted import just
 * runs again. Nothing here needs the server's data dir, so it works against a remote server and
 * while the local one is serving.
 */

export type Status = 'running' | 'complete' | 'failed' | 'crashed';
export type Value = number | 'NaN' | 'Infinity' | '-Infinity';

export interface RunSpec {
  project: string;
  /** Experiment name; importers make it unique and deterministic per project. */
  name: string;
  /** Stable identity of the source run (e.g. `mlflow:<run_id>`): batch ids derive from it. */
  sourceKey: string;
  description?: string | null;
  features?: Record<string, unknown>;
  tags?: string[];
  status?: Status;
  startedAt?: number;
  /** End time; undefined keeps what a terminal status records. */
  finishedAt?: number | null;
  /** Deleted in the source (MLflow lifecycle_stage): imported, then soft-deleted (MLflow delete_run). */
  deleted?: boolean;
}

export interface Counts {
  projects: number;
  experiments: number;
  experimentsExisting: number;
  params: number;
  points: number;
  pointsExisting: number;
  artifacts: number;
  artifactsExisting: number;
  warnings: number;
  /** Projects and experiments imported in the deleted state (MLflow deleted experiments and runs). */
  deleted: number;
}

export interface SinkOptions {
  url: string;
  apiKey: string;
  /** Points per batch request (default DEFAULT_BATCH_POINTS). */
  batchPoints?: number;
  /** Batch requests in flight at once (default DEFAULT_IN_FLIGHT): parsing the source overlaps the server's writes. */
  concurrency?: number;
  onPoints?: (n: number) => void;
  onWarning?: (msg: string) => void;
  /** Read and count the source, send nothing (`--dry-run`; the benchmark's parse-only figure). */
  dryRun?: boolean;
  /** Seconds one request may wait for its answer (default DEFAULT_TIMEOUT_S; an upload gets 1 s more per MB of body). */
  timeoutSeconds?: number;
}

/**
 * Without a bound, a server that takes the connection and never answers holds an import for
 * undici's 300 s header timeout times every retry (~45 min). A batch is answered in well under a
 * second on a healthy server, so 2 minutes means it is stuck; the request is not retried then — more
 * requests would only queue behind the stuck ones — and the import stops with that message (running
 * it again later resumes it).
 */
export const DEFAULT_TIMEOUT_S = 120;

/**
 * The bound on one request's answer (DEFAULT_TIMEOUT_S): `signal` for fetch, `done()` once the
 * answer is read, `hung(e)` turns the abort into the message an importer stops with.
 */
export function boundedAnswer(what: string, from: string, seconds: number) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), seconds * 1000);
  return {
    signal: ctl.signal,
    done: () => clearTimeout(timer),
    hung: (e: unknown): unknown => (ctl.signal.aborted ? new Error(`${what}: no answer from ${from} within ${Math.round(seconds)} s (--timeout); is it hung?`) : e),
  };
}

export class ImportHttpError extends Error {
  constructor(readonly status: number, readonly detail: unknown, what: string) {
    super(`${what}: HTTP ${status} ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  }
}

/**
 * The server refused what a run holds (a name, a param, a tag, features past their size: 400, 422,
 * or 413 for a body over the route's limit): the importers leave that run out with a warning and go on.
 */
export const refusedRun = (e: unknown): e is ImportHttpError => e instanceof ImportHttpError && (e.status === 400 || e.status === 413 || e.status === 422);

/**
 * The batch ids derive from the chunks, so this size is part of every import's identity: a re-import
 * must use the same size to find its batches (changing the default would make every import done
 * before write its points again). Measured at 10M points (bench:import, 2 pairs, load 6–12):
 * 500k-point batches × 3 cut the server's merge CPU (1.2 vs 5 CPU s per 4M tfevents points) and
 * gave tfevents +10%, but MLflow −24% end to end and slower re-runs — a 20 MB JSON body blocks the
 * server's event loop while ClickHouse inserts wait — so 100k stays.
 */
export const DEFAULT_BATCH_POINTS = 100_000;

/**
 * Batch requests in flight. More queued at the server makes its group-commit flushes bigger, and
 * every flush writes ~5 parts at ~10–20 ms of ClickHouse CPU each whatever their size. Measured at
 * 2M points (3 alternated rounds, load 3.5–6): server CPU 2.99 µs/point with 4, 2.55 with 8, 2.58
 * with 16.
 */
export const DEFAULT_IN_FLIGHT = 8;

const RETRYABLE = new Set([429, 502, 503, 504]);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Retry-After as seconds or as an HTTP date; undefined when absent or unreadable. */
export function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const s = /^\s*\d+\s*$/.test(header) ? Number(header) : (Date.parse(header) - Date.now()) / 1000;
  return Number.isFinite(s) ? Math.max(0, s) : undefined;
}

export class Sink {
  readonly counts: Counts = { projects: 0, experiments: 0, experimentsExisting: 0, params: 0, points: 0, pointsExisting: 0, artifacts: 0, artifactsExisting: 0, warnings: 0, deleted: 0 };
  readonly warnings: string[] = [];
  readonly batchPoints: number;
  private readonly base: string;
  private readonly projects = new Map<string, Promise<{ id: string; deleted: boolean }>>();
  private readonly slots: number;
  private inflight = 0;
  /** Binary batch bodies until the server refuses them (415: a server from before them), then JSON. */
  binary = true;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly o: SinkOptions) {
    this.base = o.url.replace(/\/+$/, '');
    this.batchPoints = Math.min(o.batchPoints ?? DEFAULT_BATCH_POINTS, LIMITS.batchPointsMax);
    this.slots = Math.max(1, o.concurrency ?? DEFAULT_IN_FLIGHT);
  }

  warn(msg: string): void {
    this.counts.warnings++;
    this.warnings.push(msg);
    this.o.onWarning?.(msg);
  }

  /**
   * A JSON request with retries on 429/5xx-unavailable and network errors (the server may be
   * restarting). `raw` is the body as bytes, or a file sent as a stream and opened anew for each
   * attempt (a stream that was sent, even in part, cannot be sent again).
   */
  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, raw?: Buffer | FileBody): Promise<{ status: number; body: T }> {
    const rawBytes = raw === undefined ? 0 : Buffer.isBuffer(raw) ? raw.length : raw.size;
    // an upload gets 1 s more per MB of body
    const seconds = (this.o.timeoutSeconds ?? DEFAULT_TIMEOUT_S) + rawBytes / 1e6;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      let text: string;
      const answer = boundedAnswer(`${method} ${this.base}${path}`, 'the server', seconds);
      const init = {
        signal: answer.signal,
        method,
        headers: { authorization: `Bearer ${this.o.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      };
      try {
        res = raw && !Buffer.isBuffer(raw)
          ? await sendFile(this.base + path, init, raw)
          : await fetch(this.base + path, {
            ...init,
            // a view, not a copy (a batch body is a few MB)
            body: raw ? new Uint8Array(raw.buffer as ArrayBuffer, raw.byteOffset, raw.byteLength) : body !== undefined ? JSON.stringify(body) : undefined,
          });
      } catch (e) {
        answer.done();
        const timedOut = answer.hung(e);
        if (timedOut !== e || e instanceof FileShrankError) throw timedOut;
        // undici says only "fetch failed"; why (ECONNREFUSED, ENOTFOUND, …) is in its cause
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        if (attempt >= 8) throw new Error(`${method} ${this.base}${path}: ${(e as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}; is the server running?`);
        await sleep(Math.min(200 * 2 ** attempt, 5000));
        continue;
      }
      try {
        text = await res.text();
      } catch (e) {
        throw answer.hung(e);
      } finally {
        answer.done();
      }
      if (RETRYABLE.has(res.status) && attempt < 8) {
        const after = retryAfterSeconds(res.headers.get('retry-after'));
        await sleep(after ? after * 1000 : Math.min(200 * 2 ** attempt, 5000));
        continue;
      }
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // an HTML page or plain text: --url names something that is not an Assay server's API
        const why = `${res.headers.get('content-type') ?? 'an answer'} that is not JSON: is ${this.base} an Assay server?`;
        if (!res.ok) throw new ImportHttpError(res.status, why, `${method} ${this.base}${path}`);
        throw new Error(`${method} ${this.base}${path}: HTTP ${res.status} ${why}`);
      }
      if (!res.ok) throw new ImportHttpError(res.status, (parsed as { detail?: unknown })?.detail ?? text, `${method} ${path}`);
      return { status: res.status, body: parsed as T };
    }
  }

  get dryRun(): boolean {
    return Boolean(this.o.dryRun);
  }

  /** Project id by name, created on first use. */
  async project(name: string): Promise<string> {
    const p = await this.projectState(name);
    if (p.deleted) throw new Error(`project ${name} is deleted on the Assay server`);
    return p.id;
  }

  /**
   * The project, and whether it is soft-deleted on the server (create answers 409 for a deleted
   * name). An importer leaves a deleted project alone: it was deleted by the end of an earlier
   * import of a deleted MLflow experiment (MLflow takes no writes into one, so nothing new can be
   * in it), or by a user — an import must not undo that.
   */
  projectState(name: string): Promise<{ id: string; deleted: boolean }> {
    if (this.dryRun) return Promise.resolve({ id: name, deleted: false });
    let p = this.projects.get(name);
    if (!p) {
      p = this.getOrCreateProject(name);
      this.projects.set(name, p);
    }
    return p;
  }

  private async getOrCreateProject(name: string): Promise<{ id: string; deleted: boolean }> {
    try {
      const r = await this.request<{ id: string }>('POST', '/api/v1/projects?if_exists=return', { name });
      if (r.status === 201) this.counts.projects++;
      return { id: r.body.id, deleted: false };
    } catch (e) {
      if (!(e instanceof ImportHttpError) || e.status !== 409) throw e;
      const q = new URLSearchParams({ name, include_deleted: 'true', limit: '100' });
      const found = (await this.request<{ items: { id: string; name: string; deleted_at: string | null }[] }>('GET', `/api/v1/projects?${q}`)).body.items.find((x) => x.name === name);
      if (!found?.deleted_at) throw e;
      return { id: found.id, deleted: true };
    }
  }

  /**
   * After every run of the project is in: MLflow experiment tags onto the project (set-experiment-tag
   * of Assay's MLflow API: overwrites, so a re-run is a no-op; mlflow.note.content becomes the
   * description there), then the source's deleted state (delete_experiment, a restorable soft delete).
   */
  async finishProject(name: string, o: { tags?: Record<string, string>; deleted?: boolean }): Promise<void> {
    if (this.dryRun) {
      if (o.deleted) this.counts.deleted++;
      return;
    }
    const p = await this.projectState(name);
    if (p.deleted) return;
    if (o.deleted) this.counts.deleted++;
    const experiment_id = mlflowId(p.id);
    const tags = Object.entries(o.tags ?? {});
    // only what differs is written: a re-run must not even touch the project's update time
    const have = tags.length ? await this.request<{ experiment: { tags?: { key: string; value: string }[]; description?: string } }>('GET', `/api/2.0/mlflow/experiments/get?experiment_id=${experiment_id}`) : undefined;
    const current = new Map((have?.body.experiment.tags ?? []).map((t) => [t.key, t.value]));
    for (const [key, value] of tags) {
      if (current.get(key) === value) continue;
      try {
        await this.request('POST', '/api/2.0/mlflow/experiments/set-experiment-tag', { experiment_id, key, value });
      } catch (e) {
        if (!(e instanceof ImportHttpError) || e.status >= 500) throw e;
        this.warn(`project ${name}: experiment tag ${JSON.stringify(key.slice(0, 60))} skipped: ${e.message}`);
      }
    }
    if (o.deleted) await this.request('POST', '/api/2.0/mlflow/experiments/delete', { experiment_id });
  }

  /** Get-or-create the experiment (features and tags merged into an existing one); points then go through the writer. */
  async run(spec: RunSpec): Promise<RunWriter> {
    const projectId = await this.project(spec.project);
    if (this.dryRun) {
      this.counts.experiments++;
      return new RunWriter(this, spec, projectId, spec.name, true);
    }
    const body: Record<string, unknown> = { name: spec.name, features: spec.features ?? {}, tags: spec.tags ?? [] };
    if (spec.description != null) body.description = spec.description;
    if (spec.startedAt != null) body.started_at = spec.startedAt;
    const r = await this.request<{ id: string }>('POST', `/api/v1/projects/${projectId}/experiments?if_exists=return`, body);
    if (r.status === 201) this.counts.experiments++;
    else this.counts.experimentsExisting++;
    return new RunWriter(this, spec, projectId, r.body.id, r.status === 201);
  }

  async acquire(): Promise<void> {
    if (this.inflight < this.slots) {
      this.inflight++;
      return;
    }
    await new Promise<void>((r) => this.waiters.push(r));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.inflight--;
  }
  pointsSent(n: number, duplicate: boolean): void {
    if (duplicate) this.counts.pointsExisting += n;
    else this.counts.points += n;
    this.o.onPoints?.(n);
  }
}

/** Steps and timestamps are integers below 2^53, exact as doubles; values keep NaN and ±Inf as doubles. */
interface Column {
  steps: Float64Column;
  values: Float64Column;
  timestamps: Float64Column | null;
}

/** Buffers one experiment's points and sends them as columnar batches with deterministic batch ids. */
export class RunWriter {
  private cols = new Map<string, Column>();
  /** Each metric's points in the last chunk sent: the next chunk's columns start that big instead of doubling up to it. */
  private lastChunk = new Map<string, number>();
  private buffered = 0;
  private chunk = 0;
  private readonly pending = new Set<Promise<void>>();
  private failure: unknown;
  private readonly badNames = new Set<string>();
  private skipped = 0;

  constructor(private readonly sink: Sink, readonly spec: RunSpec, readonly projectId: string, readonly experimentId: string, private readonly created: boolean) {}

  /** One point; `ts` in epoch ms (omitted: the server's time). Steps must be integers ≥ 0. */
  add(metric: string, step: number, value: Value, ts?: number): void {
    let c = this.cols.get(metric);
    if (!c) {
      if (this.badNames.has(metric)) return;
      const problem = nameProblem(metric, 'metric_name', LIMITS.metricNameMax);
      if (problem) {
        this.badNames.add(metric);
        this.sink.warn(`${this.spec.name}: metric ${JSON.stringify(metric.slice(0, 60))} skipped: ${problem}`);
        return;
      }
      const size = this.lastChunk.get(metric);
      c = { steps: new Float64Column(size), values: new Float64Column(size), timestamps: ts === undefined ? null : new Float64Column(size) };
      this.cols.set(metric, c);
    }
    if (!Number.isSafeInteger(step) || step < 0 || (ts !== undefined && !(ts >= 0 && ts <= LIMITS.timestampMaxMs))) {
      this.skipped++;
      return;
    }
    if ((ts === undefined) !== (c.timestamps === null)) {
      // a series either has timestamps or not; mixing would make the arrays disagree
      this.skipped++;
      return;
    }
    c.steps.push(step);
    c.values.push(toNumber(value));
    c.timestamps?.push(Math.round(ts!));
    if (++this.buffered >= this.sink.batchPoints) this.send();
  }

  /** Sends the buffered chunk without waiting for the answer (at most `concurrency` in flight). */
  private send(): void {
    if (!this.buffered) return;
    const series = [...this.cols].map(([metric_name, c]) => ({ metric_name, steps: c.steps.view, values: c.values.view, timestamps: c.timestamps?.view ?? null }));
    const n = this.buffered;
    for (const s of series) this.lastChunk.set(s.metric_name, s.steps.length);
    this.cols = new Map();
    this.buffered = 0;
    // the id covers the chunk's shape too: a source that changed between runs sends new ids
    const h = createHash('sha256').update(`${this.spec.sourceKey}\0${this.chunk++}\0${n}`);
    for (const s of series) h.update(`\0${s.metric_name}\0${s.steps.length}\0${s.steps[0]}\0${s.steps[s.steps.length - 1]}`);
    const batch_id = `import-${h.digest('hex').slice(0, 48)}`;
    // Sent by metric name as ClickHouse orders it (UTF-8 bytes), not as the source came (TensorBoard
    // tags by first sight): the request's rows are then in the table's order, and with the writer's
    // flush order the server's block needs no sort (stores/clickhouse/writer.ts flushOrder). The id
    // above keeps the source's order: the chunks an earlier import sent are still found.
    series.sort((a, b) => compareStrings(a.metric_name, b.metric_name));
    if (this.sink.dryRun) {
      this.sink.pointsSent(n, false);
      return;
    }
    const p = (async () => {
      await this.sink.acquire();
      try {
        const path = `/api/v1/metrics/batch/${this.projectId}/${this.experimentId}`;
        let r: { body: { duplicate: boolean } } | undefined;
        if (this.sink.binary) {
          // the batch id is the same either way: a re-run finds batches an earlier JSON import sent
          try {
            r = await this.sink.request('POST', path, undefined, { 'content-type': BINARY_CONTENT_TYPE }, encodeBinaryBatch(batch_id, series));
          } catch (e) {
            if (!(e instanceof ImportHttpError) || e.status !== 415) throw e;
            this.sink.binary = false;
          }
        }
        r ??= await this.sink.request<{ duplicate: boolean; count: number }>('POST', path, {
          batch_id,
          series: series.map((s) => ({ metric_name: s.metric_name, steps: Array.from(s.steps), values: Array.from(s.values, wireValue), timestamps: s.timestamps && Array.from(s.timestamps) })),
        });
        this.sink.pointsSent(n, r.body.duplicate);
      } finally {
        this.sink.release();
      }
    })().catch((e) => {
      this.failure ??= e;
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Backpressure for a fast source: waits while this run has more than `max` batches queued (each holds up to batchPoints points). */
  async drain(max = 4): Promise<void> {
    while (this.pending.size > max) await Promise.race(this.pending);
    if (this.failure) throw this.failure;
  }

  /**
   * Uploads the file unless the experiment already holds these bytes at this path. `digest` is the
   * file's sha256 and size when the caller took them while writing it; otherwise the file is read twice.
   */
  async artifact(path: string, file: string | Buffer, existing: Map<string, string>, digest?: FileDigest): Promise<void> {
    if (this.sink.dryRun) {
      this.sink.counts.artifacts++;
      return;
    }
    const { sha256, size } = digest ?? (await hashFile(file));
    if (existing.get(path) === sha256) {
      this.sink.counts.artifactsExisting++;
      return;
    }
    const q = new URLSearchParams({ path });
    const r = await this.sink.request('PUT', `/api/v1/projects/${this.projectId}/experiments/${this.experimentId}/artifacts?${q}`, undefined, {
      'content-type': 'application/octet-stream',
      'x-content-sha256': sha256,
    }, { file, size });
    if (r.status === 201) this.sink.counts.artifacts++;
    else this.sink.counts.artifactsExisting++;
  }

  /** Path → sha256 of the artifacts the experiment already has (skip re-uploads). */
  async existingArtifacts(): Promise<Map<string, string>> {
    if (this.sink.dryRun) return new Map();
    const r = await this.sink.request<{ items: { path: string; sha256: string }[] }>('GET', `/api/v1/projects/${this.projectId}/experiments/${this.experimentId}/artifacts`);
    return new Map(r.body.items.map((a) => [a.path, a.sha256]));
  }

  /** Sends what is buffered, waits for every batch, then restores the source's status and times. */
  async finish(late: Pick<RunSpec, 'features' | 'status' | 'startedAt' | 'finishedAt'> = {}): Promise<void> {
    Object.assign(this.spec, late);
    this.send();
    while (this.pending.size) await Promise.all([...this.pending]);
    if (this.failure) throw this.failure;
    if (this.skipped) this.sink.warn(`${this.spec.name}: ${this.skipped} points skipped (negative or fractional step, or timestamp outside 1970–2106)`);
    if (this.spec.deleted && this.created) this.sink.counts.deleted++;
    if (this.sink.dryRun) return;
    // get-or-create marked an existing run running again; the source's status and times come back here
    const patch: Record<string, unknown> = { status: this.spec.status ?? 'complete' };
    if (this.spec.startedAt != null) patch.started_at = this.spec.startedAt;
    if (this.spec.finishedAt !== undefined && patch.status !== 'running') patch.finished_at = this.spec.finishedAt;
    if (late.features && Object.keys(late.features).length) patch.features = late.features;
    const url = `/api/v1/projects/${this.projectId}/experiments/${this.experimentId}`;
    try {
      await this.sink.request('PATCH', url, patch);
    } catch (e) {
      // features the server refuses (a NUL in an hparam, past their size) must not cost the run its status and times, nor the import the runs after it
      if (!patch.features || !refusedRun(e)) throw e;
      this.sink.warn(`${this.spec.name}: features not stored: ${e.message}`);
      delete patch.features;
      await this.sink.request('PATCH', url, patch);
    }
    // MLflow delete_run keeps the first deletion time: a re-run leaves it as it was
    if (this.spec.deleted) await this.sink.request('POST', '/api/2.0/mlflow/runs/delete', { run_id: mlflowId(this.experimentId) });
  }
}

/** An Assay UUID as the id Assay's MLflow API uses for it (services/mlflow/model.ts). */
const mlflowId = (uuid: string) => uuid.replace(/-/g, '');

/** A value read from text: numbers, and the spellings of NaN/±Inf that Python and C libraries write. */
export function parseValue(s: string): Value | undefined {
  const n = Number(s);
  // only a 0 can come from blank text (Number('') and Number(' ') are 0): trim just then
  if (Number.isFinite(n) && (n !== 0 || s.trim() !== '')) return n;
  switch (s.trim().toLowerCase()) {
    case 'nan': case '-nan': return 'NaN';
    case 'inf': case 'infinity': case '+inf': case '+infinity': return 'Infinity';
    case '-inf': case '-infinity': return '-Infinity';
  }
  return undefined;
}

const toNumber = (v: Value): number => (typeof v === 'number' ? v : Number(v));

/** A float as the wire value (NaN/±Inf as their strings). */
export function wireValue(n: number): Value {
  if (Number.isFinite(n)) return n;
  return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
}

/**
 * A name cut to n UTF-16 units, as imports have always cut names (a re-import must find the same
 * experiment), but never through a character outside the BMP (an emoji): half of one is a lone
 * surrogate, which the server refuses.
 */
export function clip(s: string, n: number): string {
  const c = s.slice(0, n);
  return /[\uD800-\uDBFF]$/.test(c) ? c.slice(0, -1) : c;
}

/** Deterministic unique experiment names: a name several source runs share gets `-<first 8 of the source id>`. */
export function uniqueNames<T>(items: T[], name: (t: T) => string, id: (t: T) => string): Map<T, string> {
  const seen = new Map<string, number>();
  for (const t of items) seen.set(name(t), (seen.get(name(t)) ?? 0) + 1);
  return new Map(items.map((t) => [t, (seen.get(name(t)) ?? 0) > 1 ? `${clip(name(t), 240)}-${clip(id(t), 8)}` : name(t)]));
}

/** Runs `fn` over the items, `jobs` at a time: small runs are bound by request latency, not by the server's throughput. */
export async function eachConcurrently<T>(items: T[], jobs: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
}
