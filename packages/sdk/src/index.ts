/** @assay/sdk — Node entry point. Browsers: import `@assay/sdk/client` (read client only). */
export { Experiment, type ExperimentOptions, type LogMetricOptions, type LogArtifactsOptions, type Undelivered } from './experiment.ts';
export { AssayClient, type AssayClientOptions, type TimeseriesOptions, type ListOptions, type ListExperimentsOptions } from './client.ts';
export { syncSpool, type SyncSpoolOptions, type SyncSpoolResult } from './sync.ts';
export { defaultSpoolDir, defaultSpoolRoot, findForeignSpools, type ForeignSpool } from './spool-dirs.ts';
export { HttpClient, type HttpClientOptions } from './http.ts';
export { AssayError, AssayApiError, AssayNetworkError, AssayConfigError } from './errors.ts';
export { HypothesisEvaluator, type HypothesisEvaluatorOptions, type HypothesisResult } from './hypothesis.ts';
export { encodeValue, decodeValue, type MetricValueInput, type TimestampInput, type WirePoint } from './values.ts';
export { backoffDelay, parseRetryAfter, isRetryableStatus } from './backoff.ts';
export { consoleLogger, silentLogger, type Logger } from './logger.ts';
export { LIMITS, codePointLength, nameProblem, type Limits } from './limits.ts';
export type { SenderStats } from './sender.ts';
export type { UploadResult } from './artifacts.ts';
export type * from './types.ts';
