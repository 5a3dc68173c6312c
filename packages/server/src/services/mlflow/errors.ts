import { jsonTextProblem } from '@assay/contracts';

/** MLflow's error codes with the HTTP status its server gives each (mlflow/protos/databricks.proto). */
export const STATUS = {
  INVALID_PARAMETER_VALUE: 400,
  BAD_REQUEST: 400,
  RESOURCE_ALREADY_EXISTS: 400,
  RESOURCE_DOES_NOT_EXIST: 404,
  ENDPOINT_NOT_FOUND: 404,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  REQUEST_LIMIT_EXCEEDED: 429,
  TEMPORARILY_UNAVAILABLE: 503,
  NOT_IMPLEMENTED: 501,
  INTERNAL_ERROR: 500,
  MALFORMED_REQUEST: 400,
  /** 500 on MLflow's server (its client retries 500s); a state conflict is the caller's, so 400 here. */
  INVALID_STATE: 400,
} as const;
export type MlflowErrorCode = keyof typeof STATUS;

/** An error in MLflow's wire shape: `{error_code, message}` with MLflow's status for the code. */
export class MlflowError extends Error {
  constructor(
    readonly code: MlflowErrorCode,
    message: string,
  ) {
    super(message);
  }
  get statusCode(): number {
    return STATUS[this.code];
  }
}

export const invalid = (message: string) => new MlflowError('INVALID_PARAMETER_VALUE', message);
export const missing = (message: string) => new MlflowError('RESOURCE_DOES_NOT_EXIST', message);

/**
 * Text neither PostgreSQL nor ClickHouse can take (NUL, an unpaired surrogate; JSON nested too deep)
 * is the caller's mistake: refused here, before a store turns it into a 500 or a lossy write.
 */
export function requireStorable(field: string, value: unknown): void {
  const p = jsonTextProblem(value);
  if (p) throw invalid(`Invalid value for parameter '${[field, ...p.path].join('.')}': ${p.message}`);
}
