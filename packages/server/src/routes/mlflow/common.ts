import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { invalid } from '../../services/mlflow/errors.ts';

/** MLflow sends GET parameters in the query string and everything else as a JSON body. */
export function input(req: FastifyRequest): Record<string, unknown> {
  const src = req.method === 'GET' || req.method === 'DELETE' ? req.query : req.body;
  return src && typeof src === 'object' && !Array.isArray(src) ? (src as Record<string, unknown>) : {};
}

const MlflowErrorBody = z.object({ error_code: z.string(), message: z.string() });
/**
 * What an MLflow route can answer, for /openapi.json (schemathesis checks every status against it):
 * any 200 body (MLflow's shapes are not modelled here), and MLflow's error shape for the statuses its
 * codes map to, plus 413/415 (body too big / not JSON), 429 (rate limit), 501 (not implemented), 503.
 */
export const mlflowResponses = {
  200: z.unknown(),
  ...Object.fromEntries([400, 401, 403, 404, 413, 415, 429, 501, 503].map((c) => [c, MlflowErrorBody])),
};
export const schema = (summary: string, description?: string) => ({ schema: { tags: ['mlflow'], summary, ...(description ? { description } : {}), response: mlflowResponses } });

export function optString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(`Invalid value ${JSON.stringify(v)} for parameter '${field}': expected a string`);
  return v;
}

/** A repeated field: an array in JSON, one or many `k=v` in a query string. */
export function list(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') return [v];
  throw invalid(`Invalid value for parameter '${field}': expected a list`);
}

/** A repeated field of a JSON body: MLflow refuses anything but an array ("foo" is not a list of one). */
export function array(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(`Invalid value ${clip(JSON.stringify(v))} for parameter '${field}' supplied`);
  return v;
}

/** A repeated string field (order_by): a null or an object there is refused, not read as the text "null". */
export function stringList(v: unknown, field: string): string[] {
  return list(v, field).map((x) => {
    if (typeof x !== 'string') throw invalid(`Invalid value ${clip(JSON.stringify(x) ?? String(x))} for parameter '${field}' supplied: expected a list of strings`);
    return x;
  });
}

/** A string field MLflow types as string: a number there is refused, not coerced (as its server does). */
export function stringValue(v: unknown, field: string): unknown {
  if (v !== undefined && v !== null && typeof v !== 'string') throw invalid(`Invalid value ${clip(JSON.stringify(v))} for parameter '${field}' supplied`);
  return v;
}

/** Echoed input is cut: a 1,000,000-metric batch must not come back in the error message. */
export const clip = (s: string, max = 500): string => (s.length > max ? `${s.slice(0, max)}…` : s);

export function maxResults(v: unknown, dflt: number, max: number, field = 'max_results'): number {
  if (v === undefined || v === null || v === '') return dflt;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw invalid(`Invalid value ${JSON.stringify(v)} for parameter '${field}': expected a positive integer`);
  if (n > max) throw invalid(`Invalid value ${n} for parameter '${field}' supplied. It must be at most ${max}`);
  return n;
}

/** ViewType: ACTIVE_ONLY (1) | DELETED_ONLY (2) | ALL (3). */
export function viewType(v: unknown): 'active' | 'deleted' | 'all' {
  if (v === undefined || v === null || v === '' || v === 1 || v === 'ACTIVE_ONLY' || v === '1') return 'active';
  if (v === 2 || v === 'DELETED_ONLY' || v === '2') return 'deleted';
  if (v === 3 || v === 'ALL' || v === '3') return 'all';
  throw invalid(`Invalid view type ${JSON.stringify(v)}: expected ACTIVE_ONLY, DELETED_ONLY or ALL`);
}

export function pairs(v: unknown, field: string): [unknown, unknown][] {
  return list(v, field).map((x) => {
    const o = (x ?? {}) as { key?: unknown; value?: unknown };
    return [o.key, o.value];
  });
}
