/**
 * HypothesisEvaluator — client half of hypothesis evaluation (DESIGN §8). The server's hypothesis
 * endpoints are not part of the API contract yet (docs/api.md), so evaluate()/getResult() raise a
 * clear error instead of inventing a result.
 */
import { AssayError } from './errors.ts';

export interface HypothesisEvaluatorOptions {
  project: string;
  hypothesisId: string;
  baselineExperiment: string;
  targetMetrics: string[];
  apiUrl?: string;
  apiKey?: string;
}

export interface HypothesisResult {
  status: 'Supported' | 'Refuted' | 'Testing';
  evidence_score: number;
  confidence: number;
  [k: string]: unknown;
}

export class HypothesisEvaluator {
  constructor(readonly options: HypothesisEvaluatorOptions) {}

  async evaluate(): Promise<HypothesisResult> {
    throw new AssayError('the Assay server does not support hypotheses yet (no hypothesis endpoints in the API contract)');
  }

  async getResult(): Promise<HypothesisResult> {
    throw new AssayError('the Assay server does not support hypotheses yet (no hypothesis endpoints in the API contract)');
  }
}
