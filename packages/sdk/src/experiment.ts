/**
 * `Experiment` — the training-side SDK (Node). Mirrors the Python `research_sdk.Experiment`:
 *
 *   const exp = await Experiment.create({ project: 'vision_transformer', name: 'vit_base_imagenet' });
 *   await exp.logFeatures({ model: { arch: 'vit_base' }, optimizer: { lr: 1e-4 } });
 *   await exp.logCodeSnapshot('git_diff');
 *   for (let step = 0; step < n; step++) exp.log({ loss, acc }, { step });
 *   await exp.flushMetrics();
 *   await exp.logArtifacts('./checkpoints', '*.pt');
 *   await exp.finish('complete');
 *
 * Delivery follows docs/sdk-delivery.md: nothing blocks longer than the offline grace or the
 * timeout given; what cannot be delivered is in the spool, and finish() says so.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { AssayClient, type TimeseriesOptions } from './client.ts';
import { HttpClient, seg } from './http.ts';
import { AssayConfigError, AssayError } from './errors.ts';
import { classifyError } from './backoff.ts';
import type { Logger } from './logger.ts';
import { isAuthError, type ReplayContext } from './delivery.ts';
import { openRun, undeliveredReport, type Undelivered } from './open.ts';
import { MetricSender, type SenderStats } from './sender.ts';
import type { SpoolRecord } from './spool.ts';
import { collectGitSnapshot } from './git.ts';
import { findFiles, joinArtifactPath, sha256File, uploadArtifact, type UploadResult } from './artifacts.ts';
import { SystemMetrics } from './sysmetrics.ts';
import { deepMerge, resolveOptions, type ExperimentOptions, type LogArtifactsOptions, type LogMetricOptions, type ResolvedOptions } from './options.ts';
import { installExitHooks, liveExperiments } from './exit-hooks.ts';
import { encodeTimestamp, encodeValue, MAX_STEP, normalizeStep, validateMetricName, type MetricValueInput, type WirePoint } from './values.ts';
import type { Artifact, CodeSnapshot, DroppedMetric, ExperimentRecord, ExperimentSummary, Features, FinishStatus, SummaryResponse, Timeseries } from './types.ts';

export type { ExperimentOptions, LogArtifactsOptions, LogMetricOptions } from './options.ts';
export type { Undelivered } from './open.ts';

export class Experiment {
  /** Project name (or id) as given. */
  readonly project: string;
  /** Server record (null while offline / before the server was reached). */
  record: ExperimentRecord | null = null;
  readonly client: AssayClient | null;
  readonly http: HttpClient | null;
  /** Set by finish() when something was not delivered. */
  undelivered: Undelivered | null = null;
  private readonly ctx: ReplayContext;
  private readonly sender: MetricSender;
  private readonly logger: Logger;
  private readonly opts: ResolvedOptions;
  private readonly steps = new Map<string, number>();
  private readonly pointHost: string | undefined;
  /** Metadata written while offline, not yet confirmed by a server answer. */
  private local: { features: Features; tags?: string[]; description?: string | null } = { features: {} };
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private sys: SystemMetrics | null = null;
  private finishPromise: Promise<boolean> | null = null;
  private finished = false;
  private autoFinishing = false;

  private constructor(o: ResolvedOptions, ctx: ReplayContext, startSpooling: boolean) {
    this.opts = o;
    this.project = o.project;
    this.http = o.http;
    this.client = o.http ? new AssayClient(o.http) : null;
    this.ctx = ctx;
    this.logger = o.logger;
    this.pointHost = o.multiHost ? (o.create.host ?? undefined) : undefined;
    if (o.features) this.local.features = structuredClone(o.features);
    this.sender = new MetricSender({
      http: o.http,
      ctx,
      spoolDir: o.spoolDirResolved,
      startSpooling,
      offline: o.offline,
      maxBatchSize: o.batchSize,
      maxInFlight: o.maxInFlight,
      flushIntervalMs: o.flushIntervalMs,
      maxBufferedPoints: o.maxBufferedPoints,
      spoolAfterMs: o.offlineGraceMs,
      gzip: o.gzip,
      backoff: o.backoff,
      requestTimeoutMs: o.requestTimeoutMs,
      logger: o.logger,
      header: () => ({
        api_url: o.http?.apiUrl ?? null,
        project: o.project,
        experiment: o.id ?? o.name,
        resume_id: ctx.resumeId ?? null,
        project_id: ctx.projectId,
        experiment_id: ctx.experimentId,
        create: ctx.create,
        team_id: o.teamId ?? null,
      }),
      onResolved: () => this.onResolved(),
    });
    liveExperiments.add(this);
    installExitHooks();
    if (o.heartbeatIntervalMs > 0 && !o.offline) {
      this.heartbeatTimer = setInterval(() => void this.heartbeat().catch(() => {}), o.heartbeatIntervalMs);
      this.heartbeatTimer.unref?.();
    }
    const sm = o.systemMetrics ?? true;
    if (sm) {
      this.sys = new SystemMetrics((n, v) => this.logMetric(n, v), typeof sm === 'number' ? sm : 10_000);
      this.sys.start();
    }
  }

  /**
   * Get-or-create the project and experiment by name (an existing one is resumed: tags passed are
   * added, features deep-merged). Never waits longer than the offline grace: a server that is down
   * or does not answer starts the run offline — everything is spooled and replayed, creating the
   * experiment first, as soon as the server answers.
   */
  static async create(options: ExperimentOptions): Promise<Experiment> {
    const o = resolveOptions(options);
    const run = await openRun(o);
    const exp = new Experiment(o, run.ctx, run.offline);
    exp.record = run.ctx.record ?? null;
    if (run.resumed && o.resume !== false) await exp.resumeSteps(run.deadlineAt);
    return exp;
  }

  /** Resume an experiment by id: `Experiment.resume({ project, id })` (tags passed are added). */
  static resume(options: ExperimentOptions & { id: string }): Promise<Experiment> {
    return Experiment.create(options);
  }

  /** Run `fn` with a new experiment; finish('complete') after, finish('failed') if it throws. */
  static async run<T>(o: ExperimentOptions, fn: (exp: Experiment) => Promise<T> | T): Promise<T> {
    const exp = await Experiment.create(o);
    try {
      const r = await fn(exp);
      await exp.finish('complete');
      return r;
    } catch (err) {
      await exp.finish('failed').catch(() => {});
      throw err;
    }
  }

  /** Experiment name (for `Experiment.resume` started offline: the id until the server answers). */
  get name(): string {
    return this.record?.name ?? this.opts.name;
  }
  /** Experiment UUID (null until the server has been reached). */
  get id(): string | null {
    return this.ctx.experimentId;
  }
  get projectId(): string | null {
    return this.ctx.projectId;
  }
  /** True once the project/experiment ids are known. */
  get online(): boolean {
    return !!this.ctx.experimentId;
  }
  get isFinished(): boolean {
    return this.finished;
  }
  /** The stored features (deep-merged by the server), with what was logged while offline merged in. */
  get features(): Features {
    return deepMerge(structuredClone(this.record?.features ?? {}), structuredClone(this.local.features));
  }
  get tags(): string[] {
    return [...(this.local.tags ?? this.record?.tags ?? this.opts.tags ?? [])];
  }
  get description(): string | null {
    return this.local.description !== undefined ? this.local.description : (this.record?.description ?? this.opts.description ?? null);
  }
  /** Points the server refused and the SDK dropped, per metric (docs/sdk-delivery.md rule 2). */
  get droppedPoints(): Record<string, DroppedMetric> {
    return this.sender.snapshot().droppedPoints;
  }

  // ------------------------------------------------------------------ metrics (hot path)

  /**
   * Record one value. Returns immediately (appends to an in-memory buffer); the background sender
   * delivers it. `step` defaults to one more than this metric's previous step. Returns the step used.
   * Throws at the call for what the server would refuse (RangeError/TypeError).
   */
  logMetric(name: string, value: MetricValueInput, stepOrOpts?: number | bigint | LogMetricOptions): number {
    let next = this.steps.get(name);
    if (next === undefined) {
      validateMetricName(name);
      next = 0;
    }
    let step: number;
    let ts: number;
    if (stepOrOpts === undefined) {
      step = next;
      ts = Date.now();
    } else if (typeof stepOrOpts === 'number' || typeof stepOrOpts === 'bigint') {
      step = normalizeStep(stepOrOpts);
      ts = Date.now();
    } else {
      step = stepOrOpts.step == null ? next : normalizeStep(stepOrOpts.step);
      ts = stepOrOpts.timestamp == null ? Date.now() : encodeTimestamp(stepOrOpts.timestamp);
    }
    if (step > MAX_STEP) throw new RangeError(`step for ${name} would exceed 2^53-1`);
    const p: WirePoint = { metric_name: name, metric_value: encodeValue(value), step, timestamp: ts };
    if (this.pointHost !== undefined) p.host = this.pointHost;
    this.steps.set(name, step + 1);
    this.sender.add(p);
    return step;
  }

  /** Same as logMetric (both buffer); kept for the seed's API. */
  bufferMetric(name: string, value: MetricValueInput, stepOrOpts?: number | bigint | LogMetricOptions): number {
    return this.logMetric(name, value, stepOrOpts);
  }

  /** Several metrics at one step: `exp.log({ loss: 0.1, acc: 0.9 }, { step })` (W&B style). */
  log(values: Record<string, MetricValueInput>, opts?: number | bigint | LogMetricOptions): void {
    for (const [k, v] of Object.entries(values)) this.logMetric(k, v, opts);
  }

  /** Alias of `log`. */
  logMetrics(values: Record<string, MetricValueInput>, opts?: number | bigint | LogMetricOptions): void {
    this.log(values, opts);
  }

  /**
   * Wait until everything logged so far is acknowledged — at most `timeoutMs`, and never longer
   * than the offline grace without an answer (then the rest goes to the spool). True when every
   * point logged so far is acknowledged by the server.
   */
  flushMetrics(timeoutMs?: number): Promise<boolean> {
    return this.sender.flush(timeoutMs);
  }

  /** Sender counters (logged / acked / spooled / dropped points, retries, pending …). */
  stats(): SenderStats {
    return this.sender.snapshot();
  }

  // ------------------------------------------------------------------ metadata

  /** Merge nested features (config) into the experiment's features (server-side deep merge). */
  async logFeatures(features: Features): Promise<void> {
    if (!features || typeof features !== 'object' || Array.isArray(features)) throw new TypeError('features must be an object');
    const copy = JSON.parse(JSON.stringify(features)) as Features;
    deepMerge(this.local.features, copy);
    await this.control({ type: 'features', features: copy }, (http, base, deadlineAt) =>
      http.requestWithRetry<ExperimentRecord>('PATCH', base, { json: { features: copy } }, { deadlineAt, maxAttempts: 20 }),
    );
  }

  /** Replace the experiment's tags. */
  async setTags(tags: string[]): Promise<void> {
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) throw new TypeError('tags must be an array of strings');
    this.local.tags = [...tags];
    await this.patch({ tags: [...tags] });
  }

  /** Set (or with null clear) the experiment's description (notes). */
  async setDescription(description: string | null): Promise<void> {
    if (description !== null && typeof description !== 'string') throw new TypeError('description must be a string or null');
    this.local.description = description;
    await this.patch({ description });
  }

  private patch(patch: { tags?: string[]; description?: string | null }): Promise<void> {
    return this.control({ type: 'patch', patch }, (http, base, deadlineAt) =>
      http.requestWithRetry<ExperimentRecord>('PATCH', base, { json: patch }, { deadlineAt, maxAttempts: 20 }),
    );
  }

  /**
   * Record git state: commit, branch, remote URL (credentials stripped), dirty flag, `git diff HEAD`
   * and untracked file names. Outside a git repository: a warning and null, not an error.
   */
  async logCodeSnapshot(kind: 'git_diff' = 'git_diff', opts: { cwd?: string } = {}): Promise<CodeSnapshot | null> {
    if (kind !== 'git_diff') throw new AssayConfigError(`unsupported code snapshot kind ${JSON.stringify(kind)} (only "git_diff")`);
    const { info, reason } = await collectGitSnapshot(opts.cwd ?? process.cwd());
    if (!info) {
      this.logger.warn(`logCodeSnapshot: ${reason}; no code snapshot recorded`);
      return null;
    }
    await this.control({ type: 'code', code: info }, (http, base, deadlineAt) =>
      http.requestWithRetry<ExperimentRecord>('PUT', `${base}/code`, { json: info }, { deadlineAt, maxAttempts: 20 }),
    );
    return info;
  }

  /**
   * Upload files under `path` matching `pattern` (default `./checkpoints`, `*.pt`; `**` recurses).
   * Streamed with sha256; a file already stored with the same path and sha256 is skipped.
   */
  async logArtifacts(path = './checkpoints', pattern = '*.pt', opts: LogArtifactsOptions = {}): Promise<UploadResult[]> {
    if (!fs.existsSync(path)) {
      this.logger.warn(`logArtifacts: ${path} does not exist; nothing uploaded`);
      return [];
    }
    const files = await findFiles(path, pattern);
    if (files.length === 0) this.logger.warn(`logArtifacts: no files under ${path} match ${pattern}`);
    // the same artifact paths as the Python SDK: a directory's files under the directory's name
    const prefix = opts.prefix ?? (fs.statSync(path).isDirectory() ? nodePath.basename(nodePath.resolve(path)) : '');
    const existing = new Map<string, Artifact>();
    if (this.online && !this.sender.spooling && this.http) {
      try {
        const r = await this.http.requestWithRetry<{ items: Artifact[] }>('GET', `${this.base()}/artifacts`, {}, { deadlineMs: this.opts.offlineGraceMs });
        for (const a of r.items) existing.set(a.path, a);
      } catch (err) {
        if (classifyError(err) !== 'retry') throw err;
      }
    }
    const out: UploadResult[] = [];
    for (const f of files) {
      const digest = await sha256File(f.absPath);
      const ap = joinArtifactPath(prefix, f.relPath);
      const have = existing.get(ap);
      if (have && have.sha256 === digest.sha256) {
        out.push({ ...have, skipped: true, localPath: f.absPath });
        continue;
      }
      let uploaded: Artifact | null = null;
      await this.control({ type: 'artifact', local_path: f.absPath, path: ap, sha256: digest.sha256, size: digest.size }, async (http) => {
        uploaded = await uploadArtifact(http, this.ctx.projectId!, this.ctx.experimentId!, f.absPath, ap, digest);
        return null;
      });
      const a = uploaded as Artifact | null;
      out.push(a ? { ...a, skipped: false, localPath: f.absPath } : { path: ap, size: digest.size, sha256: digest.sha256, skipped: false, pending: true, localPath: f.absPath });
    }
    return out;
  }

  /** Tell the server this run is alive (done automatically every `heartbeatIntervalMs`). */
  async heartbeat(): Promise<void> {
    if (!this.http || !this.online || this.sender.spooling || this.finished || this.sender.authError) return;
    try {
      await this.http.request('POST', `${this.base()}/heartbeat`, { timeoutMs: Math.min(10_000, this.opts.offlineGraceMs) });
    } catch (err) {
      if (isAuthError(err)) this.sender.stopForAuth(err);
      throw err;
    }
  }

  /**
   * Flush, wait for the server's acks, then set the final status (and finished_at). Waits as long
   * as the server makes progress, at most `timeoutMs`; what is left stays in the spool for
   * `npx assay-sdk sync`. Resolves true when every point and the status reached the server; false
   * otherwise, with `undelivered` (and a logged message) saying what is where. Idempotent.
   */
  finish(status: FinishStatus = 'complete', opts: { timeoutMs?: number; patienceMs?: number } = {}): Promise<boolean> {
    if (this.finishPromise) return this.finishPromise;
    const patience = opts.patienceMs ?? this.opts.finishPatienceMs ?? Math.max(this.opts.offlineGraceMs, 5000);
    this.finishPromise = this.doFinish(status, opts.timeoutMs ?? this.opts.finishTimeoutMs ?? Infinity, patience);
    return this.finishPromise;
  }

  private async doFinish(status: FinishStatus, timeoutMs: number, patienceMs: number): Promise<boolean> {
    this.sys?.stop();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    const deadline = Date.now() + timeoutMs;
    let statusSet = false;
    try {
      const drained = await this.sender.drain(deadline, patienceMs);
      let settled = false;
      if (drained && this.http && this.online && !this.sender.authError) {
        try {
          const deadlineAt = Math.min(deadline, Date.now() + patienceMs);
          this.record = await this.http.requestWithRetry<ExperimentRecord>('PATCH', this.base(), { json: { status } }, { deadlineAt, maxAttempts: 50, baseMs: 250, maxMs: 2000 });
          statusSet = settled = true;
        } catch (err) {
          if (isAuthError(err)) this.sender.stopForAuth(err);
          else if (classifyError(err) !== 'retry') {
            this.logger.error(`finish: could not set status ${status}: ${(err as Error).message}`);
            settled = true;
          }
        }
      }
      if (!settled) {
        if (this.sender.spoolRecord({ type: 'status', status })) await this.sender.drain(deadline, drained && !this.sender.authError ? patienceMs : 0);
        else this.logger.error(`finish: status ${status} not recorded (server unreachable and spooling is disabled)`);
      }
      const ok = this.sender.delivered && statusSet;
      if (!ok) this.reportUndelivered();
      return ok;
    } finally {
      this.sender.close();
      this.finished = true;
      liveExperiments.delete(this);
    }
  }

  private reportUndelivered(): void {
    const u = undeliveredReport(this.sender.snapshot(), this.sender.spoolDir, this.online);
    this.undelivered = u;
    (this.sender.authError ? this.logger.error : this.logger.warn).call(this.logger, u.message);
  }

  // ------------------------------------------------------------------ reading back

  /**
   * This run's history of one metric: every point (paging with the server's `next_step_min`), or at
   * most `limit` with `truncated: true` when more exist; `maxPoints` downsamples.
   */
  getMetric(name: string, opts: TimeseriesOptions = {}): Promise<Timeseries> {
    return this.requireClient().getMetric(this.ctx.projectId!, this.ctx.experimentId!, name, opts);
  }

  /** Per-metric aggregates of this run. */
  summary(): Promise<ExperimentSummary> {
    return this.requireClient().summary(this.ctx.projectId!, this.ctx.experimentId!);
  }

  /** The experiment as the server has it now (features, tags, description, status …). */
  async info(): Promise<ExperimentRecord> {
    this.record = await this.requireClient().getExperiment(this.ctx.projectId!, this.ctx.experimentId!);
    if (!this.sender.spooling) this.local = { features: {} };
    return this.record;
  }

  // ------------------------------------------------------------------ internals

  /** Continue auto steps after the server's last step per metric (resuming an existing run). */
  private async resumeSteps(deadlineAt: number): Promise<void> {
    try {
      const path = `/metrics/summary/${seg(this.ctx.projectId!)}/${seg(this.ctx.experimentId!)}`;
      const s = await this.http!.requestWithRetry<SummaryResponse>('GET', path, {}, { deadlineAt, maxAttempts: 5 });
      for (const [name, m] of Object.entries(s.metrics)) {
        if (Number.isSafeInteger(m.last_step) && !this.steps.has(name)) this.steps.set(name, m.last_step + 1);
      }
    } catch (err) {
      this.logger.warn(`could not read the summary to continue auto steps of a resumed run: ${(err as Error).message}`);
    }
  }

  private requireClient(): AssayClient {
    if (!this.client || !this.online) throw new AssayError('the experiment has not reached the server yet (offline)');
    return this.client;
  }

  private base(): string {
    return `/projects/${seg(this.ctx.projectId!)}/experiments/${seg(this.ctx.experimentId!)}`;
  }

  /**
   * A metadata write: directly when online and not spooling (within the offline grace); through
   * the spool (ordered after the metrics) when offline, spooling, the key was refused, or the
   * direct call found no answer in time.
   */
  private async control(rec: SpoolRecord, direct: (http: HttpClient, base: string, deadlineAt: number) => Promise<ExperimentRecord | null>): Promise<void> {
    if (this.finished) throw new AssayError('the experiment is finished');
    if (this.http && this.online && !this.sender.spooling && !this.sender.authError) {
      try {
        const r = await direct(this.http, this.base(), Date.now() + this.opts.offlineGraceMs);
        if (r) this.record = r;
        return;
      } catch (err) {
        if (isAuthError(err)) this.sender.stopForAuth(err);
        else if (classifyError(err) !== 'retry') throw err;
      }
    }
    if (!this.sender.spoolRecord(rec)) throw new AssayError('the server is not reachable and spooling is disabled');
  }

  private onResolved(): void {
    if (this.ctx.record) this.record = this.ctx.record;
    this.logger.info(`experiment ${this.name} reached the server (${this.ctx.experimentId})`);
  }

  /** @internal process 'beforeExit': the loop is empty and finish() was never called. */
  _onBeforeExit(): void {
    if (this.opts.autoFinish === false || this.finishPromise || this.autoFinishing) return;
    this.autoFinishing = true;
    this.finish('complete').catch((err) => this.logger.error(`auto finish failed: ${(err as Error).message}`));
  }

  /** @internal process 'exit' (sync only): spill everything unsent, with a final status, to the spool. */
  _onExit(code: number): void {
    if (this.finished) return;
    try {
      // no replay is started: the process is exiting, it could not run
      const n = this.sender.spillSync(this.opts.autoFinish !== false ? { type: 'status', status: code === 0 ? 'complete' : 'failed' } : undefined);
      const file = this.sender.spoolFile;
      this.sender.close();
      if (file && (n > 0 || code !== 0)) {
        process.stderr.write(`[assay] process exiting before finish(): ${n} unsent points written to ${file}; send them with: ASSAY_API_KEY=<key> npx assay-sdk sync ${this.sender.spoolDir}\n`);
      }
    } catch (err) {
      process.stderr.write(`[assay] could not spool unsent metrics at exit: ${(err as Error).message}\n`);
    }
    this.finished = true;
  }
}
