import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { HttpError } from '../errors.ts';
import { FeaturesTooLargeError, RetryLaterError, WriterOverloadedError } from '../stores/errors.ts';
import type { NotFoundFallback } from './web-ui.ts';

const CONTEXT_LOC: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

const BAD_ENCODING = 'not valid percent-encoded UTF-8 (an unpaired surrogate has no UTF-8 form)';
const badEncoding = (loc: string[]) => ({ detail: [{ loc, msg: BAD_ENCODING, type: 'url_decoding' }] });

/** MLflow's routes (routes/mlflow) answer in MLflow's error shape, also for what is refused before a route runs. */
const MLFLOW_PREFIXES = ['/api/2.0/mlflow', '/ajax-api/2.0/mlflow', '/api/3.0/mlflow', '/get-artifact'];
const isMlflowUrl = (url: string) => MLFLOW_PREFIXES.some((p) => url.startsWith(p));

function refuseEncoding(url: string, reply: FastifyReply, loc: string[]): FastifyReply {
  if (isMlflowUrl(url)) return reply.status(400).send({ error_code: 'INVALID_PARAMETER_VALUE', message: `Invalid value for parameter '${loc[loc.length - 1]}': ${BAD_ENCODING}` });
  return reply.status(422).send(badEncoding(loc));
}

/**
 * Errors raised by Fastify's router before a route runs (the `frameworkErrors` option): a path
 * segment that is not percent-encoded UTF-8 is bad input like any other, so 422 with `{detail}`.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_BAD_URL') void refuseEncoding(request.url, reply, ['path']);
  else void reply.status(error.statusCode ?? 400).send({ detail: error.message });
}

/**
 * The query-string parser keeps an undecodable value as its raw text ("%ED%A0%80" — the bytes of a
 * lone surrogate — would silently become a filter for that literal); refuse it instead.
 */
function queryEncodingProblem(url: string): string | undefined {
  const q = url.indexOf('?');
  if (q < 0 || !url.includes('%', q)) return undefined;
  for (const part of url.slice(q + 1).split('&')) {
    if (!part.includes('%')) continue;
    try {
      decodeURIComponent(part.replace(/\+/g, ' '));
    } catch {
      const key = part.split('=')[0];
      try {
        return decodeURIComponent(key);
      } catch {
        return key;
      }
    }
  }
  return undefined;
}

/** FastAPI-style `{detail}` for every error; bad input is always a 4xx, never a 500. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    const key = queryEncodingProblem(request.url);
    if (key !== undefined) return refuseEncoding(request.url, reply, ['query', key]);
  });
  app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
    if (error instanceof HttpError) {
      return reply.status(error.statusCode).headers(error.headers).send({ detail: error.detail });
    }
    if (error instanceof FeaturesTooLargeError) {
      return reply.status(422).send({ detail: [{ loc: ['body', 'features'], msg: error.message, type: 'value_error' }] });
    }
    if (error instanceof RetryLaterError) {
      // overload is the client's to pace (429); anything else is the server's trouble (503)
      const status = error instanceof WriterOverloadedError ? 429 : 503;
      return reply.status(status).header('Retry-After', String(error.retryAfterSeconds)).send({ detail: error.message });
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const loc = CONTEXT_LOC[error.validationContext ?? 'body'] ?? 'body';
      const detail = error.validation.map((v) => ({
        loc: [loc, ...v.instancePath.split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p))],
        msg: v.message,
        type: v.keyword,
      }));
      return reply.status(422).send({ detail });
    }
    const code = (error as FastifyError).code;
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.status(413).send({ detail: 'Request body too large' });
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.status(415).send({ detail: 'Unsupported Content-Type' });
    if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (error instanceof SyntaxError && (error as FastifyError).statusCode === 400)) {
      return reply.status(422).send({ detail: [{ loc: ['body'], msg: `JSON decode error: ${error.message}`, type: 'json_invalid' }] });
    }
    const status = (error as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) return reply.status(status).send({ detail: error.message });
    request.log.error({ err: error }, 'unhandled error');
    return reply.status(500).send({ detail: 'Internal Server Error' });
  });
}

/** Unknown paths: the web UI's pages when it claims them, otherwise FastAPI's JSON 404. */
export function registerNotFound(app: FastifyInstance, webUi?: NotFoundFallback): void {
  app.setNotFoundHandler((request, reply) => webUi?.(request, reply) ?? reply.status(404).send({ detail: 'Not Found' }));
}
