/**
 * HypothesisEvaluator — the client of the server's hypotheses routes (DESIGN §8; the statistics are
 * in the README, "Hypotheses and evidence"). Browser-safe: fetch only.
 *
 *   const h = new HypothesisEvaluator({ project: 'vision_transformer', hypothesisId: 'h-lr-comparison',
 *     baselineExperiment: 'vit_base_lr_1e-05', targetMetrics: ['loss', 'accuracy'] });
 *   const result = await h.evaluate();   // { status, evidence_score, confidence, message, arms, metrics, … }
 */
import { AssayApiError, AssayError } from './errors.ts';
import { HttpClient, seg, type HttpClientOptions } from './http.ts';
import type { Hypothesis, HypothesisCreate, HypothesisDetail, HypothesisEvaluation } from './wire.ts';

export interface HypothesisEvaluatorOptions extends Partial<HttpClientOptions> {
  /** Project UUID or name. */
  project: string;
  /** The hypothesis key (unique per project), e.g. `h-lr-comparison`. */
  hypothesisId: string;
  /** The baseline run (UUID or name); it need not exist until `evaluate()`. */
  baselineExperiment: string;
  targetMetrics: string[];
  /** Explicit candidates (UUIDs or names). Else `candidateFilter`, else every other run of the project. */
  candidateExperiments?: string[];
  /** Flattened dotted feature key → accepted values, e.g. `{ 'optimizer.name': ['adamw'] }`. */
  candidateFilter?: Record<string, unknown[]>;
  statement?: string;
  /** Default 0.95. */
  confidenceThreshold?: number;
  /** Smallest |relative delta| that counts as an improvement (0.02 = 2%). Default 0. */
  minEffect?: number;
  /** Use this HTTP client instead of building one from apiUrl/apiKey. */
  http?: HttpClient;
}

/** Kept for callers of the earlier placeholder: the evaluation document. */
export type HypothesisResult = HypothesisEvaluation;

function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = p?.env?.[name];
  return v === '' ? undefined : v;
}

export class HypothesisEvaluator {
  readonly http: HttpClient;
  private latest: HypothesisEvaluation | null = null;

  constructor(readonly options: HypothesisEvaluatorOptions) {
    if (options.http) {
      this.http = options.http;
    } else {
      const apiUrl = options.apiUrl ?? env('ASSAY_API_URL') ?? 'http://localhost:8000';
      this.http = new HttpClient({ ...options, apiUrl, apiKey: options.apiKey ?? env('ASSAY_API_KEY') });
    }
  }

  private get base(): string {
    return `/projects/${seg(this.options.project)}/hypotheses`;
  }

  private get one(): string {
    return `${this.base}/${seg(this.options.hypothesisId)}`;
  }

  private async call<T>(method: string, path: string, opts: Parameters<HttpClient['request']>[2] = {}): Promise<T> {
    try {
      return await this.http.request<T>(method, path, opts);
    } catch (e) {
      // The router's own 404 ("Not Found") means a server without these routes; "Project not
      // found" / "Hypothesis not found" are real answers and stay AssayApiErrors.
      if (e instanceof AssayApiError && (e.status === 405 || e.status === 501 || (e.status === 404 && e.detail === 'Not Found'))) {
        throw new AssayError(`the Assay server at ${this.http.apiUrl} does not support hypotheses (HTTP ${e.status} for ${method} ${path})`, { cause: e });
      }
      throw e;
    }
  }

  private body(): HypothesisCreate {
    const o = this.options;
    return {
      key: o.hypothesisId,
      statement: o.statement,
      baseline_experiment: o.baselineExperiment,
      target_metrics: o.targetMetrics,
      candidate_experiments: o.candidateExperiments ?? null,
      candidate_filter: o.candidateFilter ?? null,
      confidence_threshold: o.confidenceThreshold,
      min_effect: o.minEffect,
    };
  }

  /** Create the hypothesis, or give the existing one (same key) this definition. */
  save(): Promise<Hypothesis> {
    return this.call('POST', this.base, { json: this.body(), query: { if_exists: 'return' } });
  }

  /**
   * Declare the hypothesis and evaluate it now. A baseline or listed candidate that matches no
   * experiment is an AssayApiError 422 whose detail names it.
   */
  async evaluate(): Promise<HypothesisEvaluation> {
    await this.save();
    this.latest = await this.call<HypothesisEvaluation>('POST', `${this.one}/evaluate`);
    return this.latest;
  }

  /** The latest evaluation stored on the server (null before the first). */
  async getResult(): Promise<HypothesisEvaluation | null> {
    this.latest = (await this.info()).latest_evaluation;
    return this.latest;
  }

  /** The stored hypothesis: definition, status, evidence score, confidence and latest evaluation. */
  info(): Promise<HypothesisDetail> {
    return this.call('GET', this.one);
  }

  /** Past evaluations, newest first. */
  async evaluations(opts: { limit?: number } = {}): Promise<HypothesisEvaluation[]> {
    return (await this.call<{ items: HypothesisEvaluation[] }>('GET', `${this.one}/evaluations`, { query: { limit: opts.limit } })).items;
  }
}
