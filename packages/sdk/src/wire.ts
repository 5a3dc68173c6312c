/**
 * The API's request and response shapes, inferred from the contract schemas the server validates
 * with (`packages/contracts/src/index.ts`). Types only: nothing here exists at runtime, and the
 * build (scripts/build.mjs) replaces this module's declarations by the expanded object types, so
 * the published .d.ts needs neither zod nor @assay/contracts.
 */
import type { z } from 'zod';
import type * as C from '@assay/contracts';
import type * as H from '@assay/contracts/hypotheses';

export type ExperimentStatus = z.infer<typeof C.ExperimentStatus>;
export type Role = z.infer<typeof C.Role>;
export type Me = z.infer<typeof C.Me>;
export type Project = z.infer<typeof C.Project>;
export type ProjectCreate = z.input<typeof C.ProjectCreate>;
export type ProjectPatch = z.input<typeof C.ProjectPatch>;
/** An experiment as the server returns it (`GET /projects/{p}/experiments/{e}`). */
export type ExperimentRecord = z.infer<typeof C.Experiment>;
export type ExperimentCreate = z.input<typeof C.ExperimentCreate>;
export type ExperimentPatch = z.input<typeof C.ExperimentPatch>;
/** `PUT …/code` body: what `logCodeSnapshot` records. */
export type CodeSnapshot = z.input<typeof C.CodeSnapshot>;
export type Artifact = z.infer<typeof C.Artifact>;
export type ApiKey = z.infer<typeof C.ApiKey>;
export type ApiKeyCreated = z.infer<typeof C.ApiKeyCreated>;
export type HeartbeatResponse = z.infer<typeof C.HeartbeatResponse>;
/** A metric value on the wire: a JSON number, or "NaN", "Infinity", "-Infinity". */
export type WireValue = z.infer<typeof C.MetricValue>;
/** One point of `POST /metrics/batch` (row form). */
export type MetricLogRequest = z.input<typeof C.MetricLogRequest>;
export type MetricBatchRequest = z.input<typeof C.MetricBatchRequest>;
export type LogResponse = z.infer<typeof C.LogResponse>;
export type MetricPoint = z.infer<typeof C.MetricPoint>;
export type TimeseriesResponse = z.infer<typeof C.TimeseriesResponse>;
export type MetricStats = z.infer<typeof C.MetricStats>;
export type SummaryResponse = z.infer<typeof C.SummaryResponse>;
export type CompareResponse = z.infer<typeof C.CompareResponse>;
export type MetricNamesResponse = z.infer<typeof C.MetricNamesResponse>;
/** `{detail}` of every error answer; for 422 a list of `{loc, msg, type}`. */
export type ErrorResponse = z.infer<typeof C.ErrorResponse>;

// ---- hypotheses (packages/contracts/src/hypotheses.ts) ----
export type HypothesisStatus = z.infer<typeof H.HypothesisStatus>;
export type Hypothesis = z.infer<typeof H.Hypothesis>;
/** `GET …/hypotheses/{h}`: the hypothesis with its newest evaluation (null before the first). */
export type HypothesisDetail = z.infer<typeof H.HypothesisDetail>;
export type HypothesisCreate = z.input<typeof H.HypothesisCreate>;
/** One evaluation: status, evidence score, confidence, message, arms and per metric × arm evidence. */
export type HypothesisEvaluation = z.infer<typeof H.Evaluation>;
export type ArmEvidence = z.infer<typeof H.ArmEvidence>;
export type MetricEvidence = z.infer<typeof H.MetricEvidence>;
