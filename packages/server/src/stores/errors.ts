/**
 * Failures a store reports when the caller should try again later. Stores know no HTTP: the
 * error plugin turns these into 429/503 with `Retry-After`.
 */
export abstract class RetryLaterError extends Error {
  constructor(
    message: string,
    /** How long the caller should wait before retrying, in whole seconds. */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The writer's buffer is full: the client sends faster than the metric store absorbs. */
export class WriterOverloadedError extends RetryLaterError {}

/** The metric store failed a write; nothing of it was acknowledged. */
export class StoreUnavailableError extends RetryLaterError {}

/** The process is stopping and takes no new writes. */
export class ShuttingDownError extends RetryLaterError {}

/**
 * A read hit the per-query limits (ASSAY_QUERY_MAX_SECONDS / ASSAY_QUERY_MAX_MEMORY_BYTES): the
 * server stopped it to stay up for everyone else. 503, not 500: nothing is broken, the question was
 * too big for now (a time limit may pass when the server is less busy; a narrower range always helps).
 */
export class QueryLimitError extends RetryLaterError {}

/**
 * A run's features would pass LIMITS.featuresJsonMax after a merge (each request is within it, but
 * many of them — a patch at a time, or MLflow params and tags a log_batch at a time — add up).
 * Nothing was stored. The API answers 422 at `features`, MLflow's routes INVALID_PARAMETER_VALUE.
 */
export class FeaturesTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FeaturesTooLargeError';
  }
}
