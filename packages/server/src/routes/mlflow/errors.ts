import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { HttpError } from '../../errors.ts';
import { MlflowError, type MlflowErrorCode, STATUS } from '../../services/mlflow/errors.ts';
import { FeaturesTooLargeError, RetryLaterError, WriterOverloadedError } from '../../stores/errors.ts';

const detailText = (d: unknown): string =>
  typeof d === 'string' ? d : Array.isArray(d) ? d.map((x) => (x && typeof x === 'object' && 'msg' in x ? `${(x as { loc?: unknown[] }).loc?.join('.') ?? ''}: ${(x as { msg: string }).msg}` : JSON.stringify(x))).join('; ') : JSON.stringify(d);

/** The Assay service errors the MLflow routes call into, in MLflow's terms. */
function translate(error: unknown): { status: number; code: MlflowErrorCode; message: string; headers?: Record<string, string> } | undefined {
  if (error instanceof MlflowError) return { status: error.statusCode, code: error.code, message: error.message };
  if (error instanceof HttpError) {
    const message = detailText(error.detail);
    const s = error.statusCode;
    const code: MlflowErrorCode =
      s === 404 ? 'RESOURCE_DOES_NOT_EXIST' : s === 409 ? 'RESOURCE_ALREADY_EXISTS' : s === 401 ? 'UNAUTHENTICATED' : s === 403 ? 'PERMISSION_DENIED' : s === 429 ? 'REQUEST_LIMIT_EXCEEDED' : s >= 500 ? 'TEMPORARILY_UNAVAILABLE' : 'INVALID_PARAMETER_VALUE';
    // 413 stays 413 (MLflow's clients treat any 4xx as final); everything else takes MLflow's status for the code
    return { status: s === 413 ? 413 : STATUS[code], code, message, headers: error.headers };
  }
  // params and tags live in the run's features (docs/mlflow.md), so their total is the features' bound
  if (error instanceof FeaturesTooLargeError) return { status: 400, code: 'INVALID_PARAMETER_VALUE', message: `${error.message}: a run's params and tags count towards it` };
  if (error instanceof RetryLaterError) {
    const overload = error instanceof WriterOverloadedError;
    return { status: overload ? 429 : 503, code: overload ? 'REQUEST_LIMIT_EXCEEDED' : 'TEMPORARILY_UNAVAILABLE', message: error.message, headers: { 'Retry-After': String(error.retryAfterSeconds) } };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    return { status: 400, code: 'INVALID_PARAMETER_VALUE', message: error.validation.map((v) => `${v.instancePath || error.validationContext}: ${v.message}`).join('; ') };
  }
  const fe = error as FastifyError;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, code: 'INVALID_PARAMETER_VALUE', message: 'Request body too large' };
  if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (error instanceof SyntaxError && fe.statusCode === 400)) {
    return { status: 400, code: 'MALFORMED_REQUEST', message: `Malformed request body: ${fe.message}` };
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return { status: fe.statusCode, code: 'BAD_REQUEST', message: fe.message };
  return undefined;
}

/** Inside the MLflow plugin only: errors as `{error_code, message}`; the rest of the API keeps `{detail}`. */
export function registerMlflowErrors(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const t = translate(error);
    if (!t) {
      request.log.error({ err: error }, 'unhandled error');
      return reply.status(500).send({ error_code: 'INTERNAL_ERROR', message: 'Internal Server Error' });
    }
    return reply.status(t.status).headers(t.headers ?? {}).send({ error_code: t.code, message: t.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error_code: 'ENDPOINT_NOT_FOUND', message: `No MLflow endpoint ${request.method} ${request.url.split('?')[0]} on this server (Assay implements the tracking API; see docs/mlflow.md)` }),
  );
}
