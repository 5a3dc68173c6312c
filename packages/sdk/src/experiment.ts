/**
 * `Experiment` — the training-side SDK (Node). Mirrors the Python `research_sdk.Experiment`:
 *
 *   const exp = await Experiment.create({ project: 'vision_transformer', name: 'vit_base_imagenet' });
 *   await exp.logFeatures({ model: { arch: 'vit_base' }, optimizer: { lr: 1e-4 } });
 *   await exp.logCodeSnapshot('git_diff');
 *   for (let step = 0; step < n; step++) exp.logMetric('loss', loss, { step });
 *   await exp.flushMetrics();
 *   await exp.logArtifacts('./checkpoints', '*.pt');
 *   await exp.finish('complete');
 */
import os from 'node:os';
import fs from 'node:fs';
import { AssayClient, type TimeseriesOptions } from './client.ts';
import { HttpClient, seg } from './http.ts';
import { AssayConfigError, AssayError, AssayNetworkError } from './errors.ts';
import { classifyError, type BackoffOptions } from './backoff.ts';
import { consoleLogger, type Logger } from './logger.ts';
import { checkTeam, ensureExperiment, type ReplayContext } from './ops.ts';
import { MetricSender, type SenderStats } from './sender.ts';
import { defaultSpoolDir } from './spool.ts';
import { collectGitSnapshot } from './git.ts';
import { findFiles, joinArtifactPath, sha256File, uploadArtifact, type UploadResult } from './artifacts.ts';
import { SystemMetrics } from './sysmetrics.ts';
import {
  encodeTimestamp,
  encodeValue,
  MAX_STEP,
  normalizeStep,
  validateMetricName,
  type MetricValueInput,
  type TimestampInput,
  type WirePoint,
} from './values.ts';
import type { Artifact, ExperimentRecord, ExperimentSummary, Features, FinishStatus, GitInfo, Timeseries } from './types.ts';

export interface ExperimentOptions {
  /** Project name (created if missing). */
  project: string;
  /** Experiment name, unique in the project (created if missing, otherwise resumed). */
  name: string;
  /** Optional check: the key's team UUID or name. A different team → AssayConfigError. */
  teamId?: string;
  /** Default: ASSAY_API_URL. */
  apiUrl?: string;
  /** Default: ASSAY_API_KEY. */
  apiKey?: string;
  /** Initial features (nested config) when the experiment is created. */
  features?: Features;
  tags?: string[];
  /** Parent experiment id (the "derived from" DAG). */
  parentId?: string;
  description?: string;
  /** Host recorded on the experiment. Default os.hostname(). */
  host?: string;
  /** Tag every point with `host` (multi-host / multi-rank runs, so ranks don't overwrite each other). */
  multiHost?: boolean;
  /** 'offline' (or ASSAY_MODE=offline): never contact the server; everything goes to the spool. */
  mode?: 'online' | 'offline';
  /** Spool directory. Default ASSAY_SPOOL_DIR or ~/.assay/spool; `false` disables spooling. */
  spoolDir?: string | false;
  /** Points per batch (default 10 000). */
  batchSize?: number;
  /** Batches in flight at once when they cannot touch the same (metric, step) (default 4; 1 = strictly serial). */
  maxInFlight?: number;
  /** A point waits at most this long before being sent (default 1000 ms). */
  flushIntervalMs?: number;
  /** Memory bound: above this many unsent points, spill to the spool (default 500 000). */
  maxBufferedPoints?: number;
  /** Retry in memory this long before spooling (default ASSAY_OFFLINE_GRACE seconds, or 5000 ms). */
  spoolAfterMs?: number;
  /** Heartbeat period (default ASSAY_HEARTBEAT_INTERVAL seconds, or 10 000 ms; 0 disables). */
  heartbeatIntervalMs?: number;
  /** When the experiment already exists, auto steps continue after its last logged step (default true). */
  resume?: boolean;
  /** Log `system/...` metrics (default true; a number sets the period in ms, default 10 000). */
  systemMetrics?: boolean | number;
  /** Gzip large metric batches (default true). */
  gzip?: boolean;
  requestTimeoutMs?: number;
  /** finish() never waits longer than this (default: no limit while the server makes progress). */
  finishTimeoutMs?: number;
  /**
   * finish() gives up when the server acknowledged nothing for this long and leaves the rest in the
   * spool for syncSpool() (default max(spoolAfterMs, 5000) ms).
   */
  finishPatienceMs?: number;
  /** finish('complete') when the event loop empties, spool + 'failed' on a crash exit (default true). */
  autoFinish?: boolean;
  backoff?: BackoffOptions;
  logger?: Logger;
  fetch?: typeof fetch;
}

export interface LogMetricOptions {
  /** Default: one more than the last step of this metric (0 first). */
  step?: number | bigint;
  /** Default: now (client clock, at the call). */
  timestamp?: TimestampInput;
}

export interface LogArtifactsOptions {
  /** Prefix for the stored artifact paths (default none: paths are relative to `path`). */
  prefix?: string;
}

const liveExperiments = new Set<Experiment>();
let hooksInstalled = false;

function installProcessHooks(): void {
  if (hooksInstalled || typeof process === 'undefined' || typeof process.on !== 'function') return;
  hooksInstalled = true;
  process.on('beforeExit', () => {
    for (const e of liveExperiments) e._onBeforeExit();
  });
  process.on('exit', (code) => {
    for (const e of liveExperiments) e._onExit(code);
  });
}

function envStr(name: string): string | undefined {
  const v = process.env[name];
  return v && v.trim() ? v.trim() : undefined;
}

export class Experiment {
  /** Project name as given. */
  readonly project: string;
  /** Experiment name. */
  readonly name: string;
  /** Server record (null while offline / before the server was reached). */
  record: ExperimentRecord | null = null;
  readonly client: AssayClient | null;
  readonly http: HttpClient | null;
  private readonly ctx: ReplayContext;
  private readonly sender: MetricSender;
  private readonly logger: Logger;
  private readonly opts: ExperimentOptions;
  private readonly steps = new Map<string, number>();
  private readonly pointHost: string | undefined;
  private readonly spoolDir: string | null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private sys: SystemMetrics | null = null;
  private finishPromise: Promise<void> | null = null;
  private finished = false;
  private autoFinishing = false;

  private constructor(o: ExperimentOptions, http: HttpClient | null, ctx: ReplayContext, startSpooling: boolean, offline: boolean, logger: Logger) {
    this.opts = o;
    this.project = o.project;
    this.name = o.name;
    this.http = http;
    this.client = http ? new AssayClient(http) : null;
    this.ctx = ctx;
    this.logger = logger;
    this.pointHost = o.multiHost ? (o.host ?? os.hostname()) : undefined;
    this.spoolDir = o.spoolDir === false ? null : (o.spoolDir ?? defaultSpoolDir());
    this.sender = new MetricSender({
      http,
      ctx,
      spoolDir: this.spoolDir,
      startSpooling,
      offline,
      maxBatchSize: o.batchSize,
      maxInFlight: o.maxInFlight,
      flushIntervalMs: o.flushIntervalMs,
      maxBufferedPoints: o.maxBufferedPoints,
      spoolAfterMs: o.spoolAfterMs,
      gzip: o.gzip,
      backoff: o.backoff,
      requestTimeoutMs: o.requestTimeoutMs,
      logger,
      header: () => ({
        api_url: http?.apiUrl ?? o.apiUrl ?? envStr('ASSAY_API_URL') ?? null,
        project: o.project,
        experiment: o.name,
        project_id: ctx.projectId,
        experiment_id: ctx.experimentId,
        create: ctx.create,
        team_id: o.teamId ?? null,
      }),
      onResolved: () => this.onResolved(),
    });
    // strip undefined option values so the sender's defaults apply
    liveExperiments.add(this);
    installProcessHooks();
    const hb = o.heartbeatIntervalMs ?? 10_000;
    if (hb > 0 && !offline) {
      this.heartbeatTimer = setInterval(() => void this.heartbeat().catch(() => {}), hb);
      this.heartbeatTimer.unref?.();
    }
    const sm = o.systemMetrics ?? true;
    if (sm) {
      this.sys = new SystemMetrics((n, v) => this.logMetric(n, v), typeof sm === 'number' ? sm : 10_000);
      this.sys.start();
    }
  }

  /**
   * Get-or-create the project and experiment by name and mark it running. When the server cannot
   * be reached (network errors for `spoolAfterMs`), the run starts offline: everything is spooled
   * and replayed — creating the experiment first — as soon as the server answers.
   */
  static async create(o: ExperimentOptions): Promise<Experiment> {
    if (!o || typeof o.project !== 'string' || !o.project) throw new AssayConfigError('Experiment.create: `project` is required');
    if (typeof o.name !== 'string' || !o.name) throw new AssayConfigError('Experiment.create: `name` is required');
    const clean = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as unknown as ExperimentOptions;
    const envSeconds = (n: string) => {
      const v = envStr(n);
      const x = v === undefined ? NaN : parseFloat(v);
      return Number.isFinite(x) && x >= 0 ? Math.round(x * 1000) : undefined;
    };
    clean.spoolAfterMs ??= envSeconds('ASSAY_OFFLINE_GRACE') ?? 5000;
    clean.heartbeatIntervalMs ??= envSeconds('ASSAY_HEARTBEAT_INTERVAL') ?? 10_000;
    clean.batchSize ??= 10_000;
    const logger = clean.logger ?? consoleLogger();
    const offline = (clean.mode ?? envStr('ASSAY_MODE')) === 'offline';
    const apiUrl = clean.apiUrl ?? envStr('ASSAY_API_URL');
    const apiKey = clean.apiKey ?? envStr('ASSAY_API_KEY');
    if (!offline) {
      if (!apiUrl) throw new AssayConfigError('Assay API URL is not set (pass apiUrl or set ASSAY_API_URL)');
      if (!apiKey) throw new AssayConfigError('Assay API key is not set (pass apiKey or set ASSAY_API_KEY)');
    }
    const http = apiUrl ? new HttpClient({ apiUrl, apiKey, fetch: clean.fetch, timeoutMs: clean.requestTimeoutMs }) : null;
    const create = {
      features: clean.features,
      tags: clean.tags,
      parent_id: clean.parentId,
      description: clean.description,
      host: clean.host ?? os.hostname(),
    };
    for (const k of Object.keys(create) as Array<keyof typeof create>) if (create[k] === undefined) delete create[k];
    const ctx: ReplayContext = {
      project: clean.project,
      experiment: clean.name,
      projectId: null,
      experimentId: null,
      create,
      teamId: clean.teamId ?? null,
      gzip: clean.gzip,
      logger,
    };
    let record: ExperimentRecord | null = null;
    let startSpooling = offline;
    if (!offline && http) {
      try {
        const retry = { deadlineMs: clean.spoolAfterMs, maxAttempts: 20 };
        if (clean.teamId) await retryNetwork(() => checkTeam(http, clean.teamId!), retry.deadlineMs);
        const r = await ensureExperiment(http, clean.project, clean.name, create, retry);
        ctx.projectId = r.project.id;
        ctx.experimentId = r.experiment.id;
        record = r.experiment;
        if (record.status !== 'running') record = await markRunning(http, ctx);
        if (clean.features && Object.keys(clean.features).length) {
          // get-or-create may have returned an existing experiment: merge the features explicitly
          record = await http.requestWithRetry<ExperimentRecord>(
            'PATCH',
            `/projects/${seg(ctx.projectId)}/experiments/${seg(ctx.experimentId)}`,
            { json: { features: clean.features } },
            retry,
          );
        }
      } catch (err) {
        if (classifyError(err) !== 'retry' || clean.spoolDir === false) throw err;
        logger.warn(`cannot reach the Assay server at ${http.apiUrl} (${(err as Error).message}); running offline — metrics are spooled and sent when it is back`);
        startSpooling = true;
      }
    }
    const exp = new Experiment(clean, http, ctx, startSpooling, offline, logger);
    exp.record = record;
    if (record && clean.resume !== false) await exp.resumeSteps();
    return exp;
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

  // ------------------------------------------------------------------ metrics (hot path)

  /**
   * Record one value. Returns immediately (appends to an in-memory buffer); the background sender
   * delivers it. `step` defaults to one more than this metric's previous step. Returns the step used.
   */
  logMetric(name: string, value: MetricValueInput, stepOrOpts?: number | bigint | LogMetricOptions): number {
    let next = this.steps.get(name);
    if (next === undefined) {
      validateMetricName(name);
      next = 0;
    }
    let step: number;
    let ts: number | string;
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

  /** Log several metrics at once, e.g. `logMetrics({loss, acc}, {step})`. */
  logMetrics(values: Record<string, MetricValueInput>, opts?: number | bigint | LogMetricOptions): void {
    for (const [k, v] of Object.entries(values)) this.logMetric(k, v, opts);
  }

  /** Resolves when everything logged so far is acknowledged by the server or written to the spool. */
  flushMetrics(): Promise<void> {
    return this.sender.flush();
  }

  /** Sender counters (logged / acked / spooled / rejected points, retries, pending …). */
  stats(): SenderStats {
    return this.sender.snapshot();
  }

  // ------------------------------------------------------------------ metadata

  /** Merge nested features (config) into the experiment's features (server-side deep merge). */
  async logFeatures(features: Features): Promise<void> {
    if (!features || typeof features !== 'object' || Array.isArray(features)) throw new TypeError('features must be an object');
    const copy = JSON.parse(JSON.stringify(features)) as Features;
    await this.control({ type: 'features', features: copy }, async (http, base) => {
      this.record = await http.requestWithRetry<ExperimentRecord>('PATCH', base, { json: { features: copy } }, this.controlRetry());
    });
  }

  /**
   * Record git state: commit, branch, remote URL (credentials stripped), dirty flag, `git diff HEAD`
   * and untracked file names. Outside a git repository: a warning and null, not an error.
   */
  async logCodeSnapshot(kind: 'git_diff' = 'git_diff', opts: { cwd?: string } = {}): Promise<GitInfo | null> {
    if (kind !== 'git_diff') throw new AssayConfigError(`unsupported code snapshot kind ${JSON.stringify(kind)} (only "git_diff")`);
    const { info, reason } = await collectGitSnapshot(opts.cwd ?? process.cwd());
    if (!info) {
      this.logger.warn(`logCodeSnapshot: ${reason}; no code snapshot recorded`);
      return null;
    }
    await this.control({ type: 'code', code: info }, async (http, base) => {
      this.record = await http.requestWithRetry<ExperimentRecord>('PUT', `${base}/code`, { json: info }, this.controlRetry());
    });
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
    const existing = new Map<string, Artifact>();
    if (this.online && !this.sender.spooling && this.client) {
      try {
        for (const a of await this.client.listArtifacts(this.ctx.projectId!, this.ctx.experimentId!)) existing.set(a.path, a);
      } catch (err) {
        if (classifyError(err) !== 'retry') throw err;
      }
    }
    const out: UploadResult[] = [];
    for (const f of files) {
      const digest = await sha256File(f.absPath);
      const ap = joinArtifactPath(opts.prefix, f.relPath);
      const have = existing.get(ap);
      if (have && have.sha256 === digest.sha256) {
        out.push({ ...have, skipped: true, localPath: f.absPath });
        continue;
      }
      let uploaded: Artifact | null = null;
      await this.control({ type: 'artifact', local_path: f.absPath, path: ap, sha256: digest.sha256, size: digest.size }, async (http) => {
        uploaded = await uploadArtifact(http, this.ctx.projectId!, this.ctx.experimentId!, f.absPath, ap, digest);
      });
      const a = uploaded as Artifact | null;
      out.push(
        a
          ? { ...a, skipped: false, localPath: f.absPath }
          : { id: '', path: ap, size: digest.size, sha256: digest.sha256, created_at: new Date().toISOString(), skipped: false, localPath: f.absPath },
      );
    }
    return out;
  }

  /** Tell the server this run is alive (done automatically every `heartbeatIntervalMs`). */
  async heartbeat(): Promise<void> {
    if (!this.http || !this.online || this.sender.spooling || this.finished) return;
    await this.http.request('POST', `${this.base()}/heartbeat`, { timeoutMs: 10_000 });
  }

  /**
   * Flush, wait for the server's acks, then set the final status (and finished_at). If the server is
   * unreachable until `finishTimeoutMs`, the remaining points and the status stay in the spool for
   * `syncSpool()`. Idempotent.
   */
  finish(status: FinishStatus = 'complete', opts: { timeoutMs?: number; patienceMs?: number } = {}): Promise<void> {
    if (this.finishPromise) return this.finishPromise;
    const patience = opts.patienceMs ?? this.opts.finishPatienceMs ?? Math.max(this.opts.spoolAfterMs ?? 5000, 5000);
    this.finishPromise = this.doFinish(status, opts.timeoutMs ?? this.opts.finishTimeoutMs ?? Infinity, patience);
    return this.finishPromise;
  }

  private async doFinish(status: FinishStatus, timeoutMs: number, patienceMs: number): Promise<void> {
    this.sys?.stop();
    const deadline = Date.now() + timeoutMs;
    try {
      const drained = await this.sender.drain(deadline, patienceMs);
      let done = false;
      if (drained && this.http && this.online) {
        try {
          this.record = await this.http.requestWithRetry<ExperimentRecord>(
            'PATCH',
            this.base(),
            { json: { status } },
            { deadlineMs: Math.max(0, Math.min(patienceMs, deadline - Date.now())), maxAttempts: 50, baseMs: 250, maxMs: 2000 },
          );
          done = true;
        } catch (err) {
          if (classifyError(err) !== 'retry') {
            this.logger.error(`finish: could not set status ${status}: ${(err as Error).message}`);
            done = true;
          }
        }
      }
      if (!done) {
        if (this.sender.spoolRecord({ type: 'status', status })) {
          const ok = await this.sender.drain(deadline, drained ? patienceMs : 0);
          if (!ok) {
            const s = this.sender.snapshot();
            this.logger.warn(
              `finish: the server was not reachable; unsent points and the final status are in ${s.spoolFile} — ` +
                `they are uploaded by syncSpool() (or the next run's sync)`,
            );
          }
        } else {
          this.logger.error(`finish: server unreachable and spooling is disabled; status ${status} not recorded`);
        }
      }
    } finally {
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = null;
      this.sender.close();
      this.finished = true;
      liveExperiments.delete(this);
    }
  }

  // ------------------------------------------------------------------ reading back

  /** This run's history of one metric (see AssayClient.timeseries). */
  getMetric(name: string, opts: TimeseriesOptions = {}): Promise<Timeseries> {
    return this.requireClient().timeseries(this.ctx.projectId!, this.ctx.experimentId!, name, opts);
  }

  /** Per-metric aggregates of this run. */
  summary(): Promise<ExperimentSummary> {
    return this.requireClient().summary(this.ctx.projectId!, this.ctx.experimentId!);
  }

  /** The experiment as the server has it now. */
  async info(): Promise<ExperimentRecord> {
    this.record = await this.requireClient().getExperiment(this.ctx.projectId!, this.ctx.experimentId!);
    return this.record;
  }

  // ------------------------------------------------------------------ internals

  /** Continue auto steps after the server's last step per metric (resuming an existing run). */
  private async resumeSteps(): Promise<void> {
    try {
      const s = await this.requireClient().summary(this.ctx.projectId!, this.ctx.experimentId!);
      for (const [name, m] of Object.entries(s.metrics)) {
        if (Number.isSafeInteger(m.last_step) && !this.steps.has(name)) this.steps.set(name, m.last_step + 1);
      }
    } catch (err) {
      this.logger.debug(`could not read the summary to resume steps: ${(err as Error).message}`);
    }
  }

  private requireClient(): AssayClient {
    if (!this.client || !this.online) throw new AssayError('the experiment has not reached the server yet (offline)');
    return this.client;
  }

  private base(): string {
    return `/projects/${seg(this.ctx.projectId!)}/experiments/${seg(this.ctx.experimentId!)}`;
  }

  private controlRetry() {
    return { deadlineMs: this.opts.spoolAfterMs, maxAttempts: 20 };
  }

  /**
   * A metadata write: directly when online and not spooling; through the spool (ordered after the
   * metrics) when offline, spooling, or when the direct call keeps failing with retryable errors.
   */
  private async control(rec: Parameters<MetricSender['spoolRecord']>[0], direct: (http: HttpClient, base: string) => Promise<void>): Promise<void> {
    if (this.finished) throw new AssayError('the experiment is finished');
    if (this.http && this.online && !this.sender.spooling) {
      try {
        await direct(this.http, this.base());
        return;
      } catch (err) {
        if (classifyError(err) !== 'retry') throw err;
        if (!this.sender.spoolRecord(rec)) throw err;
        return;
      }
    }
    if (!this.sender.spoolRecord(rec)) throw new AssayError('offline and spooling is disabled');
  }

  private async onResolved(): Promise<void> {
    this.logger.info(`experiment ${this.name} created on the server (${this.ctx.experimentId})`);
    if (this.http && !this.finishPromise) {
      try {
        this.record = await markRunning(this.http, this.ctx);
      } catch {
        /* the status record or heartbeat will fix it */
      }
    }
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
      const n = this.sender.spillSync();
      if (this.opts.autoFinish !== false) this.sender.spoolRecord({ type: 'status', status: code === 0 ? 'complete' : 'failed' });
      const file = this.sender.spoolFile;
      this.sender.close();
      if (file && (n > 0 || code !== 0)) {
        process.stderr.write(`[assay] process exiting before finish(): ${n} unsent points written to ${file}; run syncSpool() to upload\n`);
      }
    } catch (err) {
      process.stderr.write(`[assay] could not spool unsent metrics at exit: ${(err as Error).message}\n`);
    }
    this.finished = true;
  }
}

async function markRunning(http: HttpClient, ctx: ReplayContext): Promise<ExperimentRecord> {
  return http.requestWithRetry<ExperimentRecord>(
    'PATCH',
    `/projects/${seg(ctx.projectId!)}/experiments/${seg(ctx.experimentId!)}`,
    { json: { status: 'running' } },
    { maxAttempts: 3 },
  );
}

async function retryNetwork<T>(fn: () => Promise<T>, deadlineMs: number): Promise<T> {
  const start = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof AssayNetworkError) || Date.now() - start > deadlineMs) throw err;
      await new Promise((r) => setTimeout(r, Math.min(2000, 200 * 2 ** attempt)));
    }
  }
}
