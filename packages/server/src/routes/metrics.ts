import { z } from 'zod';
import {
  CompareQuery,
  CompareResponse,
  LogResponse,
  MetricBatchRequest,
  MetricLogRequest,
  MetricName,
  MetricNamesResponse,
  SummaryResponse,
  TimeseriesQuery,
  TimeseriesResponse,
} from '@assay/contracts';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { logBatch } from '../services/ingest.ts';
import { BINARY_CONTENT_TYPE } from '../stores/clickhouse/binary-batch.ts';
import * as svc from '../services/metrics.ts';
import { errors, ExperimentParams, type Api, type RouteDeps } from './types.ts';

/** The seed's metric endpoints, at the seed's paths. */
export function metricRoutes(app: Api, { ctx }: RouteDeps): void {
  const tags = ['metrics'];
  const busy = errors(403, 413, 429, 503);

  app.post('/metrics/log/:project_id/:experiment_id', {
    schema: {
      tags,
      summary: 'Log one metric point',
      description: 'Acknowledged only after the point is durably written.',
      params: ExperimentParams,
      body: MetricLogRequest,
      response: { 200: LogResponse, ...busy },
    },
  }, (req) => logBatch(ctx, req.tenant, req.params.project_id, req.params.experiment_id, { metrics: [req.body] }));

  // Scoped: only this route takes the binary body (binary-batch.ts); elsewhere octet-stream stays 415.
  app.register(async (scoped: Api) => {
    scoped.addContentTypeParser(BINARY_CONTENT_TYPE, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scoped.post('/metrics/batch/:project_id/:experiment_id', {
      schema: {
        tags,
        summary: 'Log a batch of metric points',
        description:
          'Row form (`metrics`) and/or columnar form (`series`: per metric parallel `steps`/`values`/`timestamps`). ' +
          'All or nothing: an invalid point rejects the whole batch (422). The response is sent only after the points are durably written. ' +
          'With `batch_id`, re-sending the same batch is a no-op (`duplicate: true`). Gzip bodies are accepted (`Content-Encoding: gzip`). ' +
          'Over 1,000,000 points in `metrics` or 100,000 entries in `series` (or a body over ASSAY_BODY_LIMIT bytes): 413 with a `detail` naming the limit, ' +
          'nothing written — split the batch. ' +
          'Under overload: 429 with `Retry-After`. ' +
          'Bulk loads can send the binary columnar form instead (`Content-Type: application/octet-stream`, little-endian, docs/api.md "Binary batches"): ' +
          'the same answers, batch_id and durability rules, at most 1,000,000 points per request; a malformed body (bad magic, truncated, trailing bytes, ' +
          'bad UTF-8, steps over 2^53-1, timestamps outside 1970–2106) is a 422 naming the byte offset or series, nothing written. NaN and ±Inf values are legal.',
        params: ExperimentParams,
        body: MetricBatchRequest,
        response: { 200: LogResponse, ...busy },
      },
      // The body schema documents the API; the service validates it in the same pass that encodes
      // it for ClickHouse (per-point zod validation costs more than the insert).
      validatorCompiler: ({ httpPart }) => (httpPart === 'body' ? (data: unknown) => ({ value: data }) : validatorCompiler({ schema: ExperimentParams, httpPart } as never)),
    }, (req) => {
      // The parsed body (10k+ objects) is garbage once encoded; the request must not keep it alive
      // until the acknowledgement, or it outlives young-generation GC and is promoted (measured: GC
      // share of the main thread under row-format ingest).
      const body = req.body;
      (req as { body: unknown }).body = undefined;
      return logBatch(ctx, req.tenant, req.params.project_id, req.params.experiment_id, body);
    });
  });

  // The design document defines this history twice: the plain route and a "secure" one with an
  // explicit access check. Every Assay route checks access (404 outside the key's team), so the
  // second path is registered with the same options and the same handler: no copy to drift.
  for (const [url, summary] of [
    ['/metrics/timeseries/:project_id/:experiment_id/:metric_name', 'History of one metric'],
    ['/metrics/secure/timeseries/:project_id/:experiment_id/:metric_name', 'History of one metric (the design document\'s "secure" path: same handler and answer as /metrics/timeseries)'],
  ] as const) {
    app.get(url, {
      schema: {
        tags,
        summary,
        description:
          'Points ordered by step, then host (`limit` ≤ 100000). When more points exist than `limit`, the answer says `truncated: true` and ' +
          '`next_step_min`: the same call with `step_min=next_step_min` continues with no gap and no duplicate. A page is cut only between ' +
          'steps, so with several hosts per step it may hold fewer than `limit` points; a single step with more than `limit` points (one per host) ' +
          'is returned whole. With `max_points`, longer series are downsampled in ClickHouse to min/max per step bucket, ' +
          'always keeping the first and last step and the global extremes (`downsampled: true`, never truncated). Zoom with `step_min`/`step_max`.',
        params: ExperimentParams.extend({ metric_name: MetricName }),
        querystring: TimeseriesQuery,
        response: { 200: TimeseriesResponse, ...errors() },
      },
    }, (req) => svc.timeseries(ctx, req.tenant, req.params.project_id, req.params.experiment_id, req.params.metric_name, req.query));
  }

  app.get('/metrics/summary/:project_id/:experiment_id', {
    schema: {
      tags,
      summary: 'Last/min/max/avg/count per metric',
      description: 'Served from the `metrics_summary` aggregate, not a point scan. min/max/avg ignore NaN points; `last` is the value at the highest step.',
      params: ExperimentParams,
      response: { 200: SummaryResponse, ...errors() },
    },
  }, (req) => svc.summary(ctx, req.tenant, req.params.project_id, req.params.experiment_id));

  app.post('/metrics/compare', {
    schema: {
      tags,
      summary: 'Compare experiments',
      description:
        'Query-string lists as in the seed: `?project_id=…&experiment_ids=a&experiment_ids=b&metric_names=loss`. Ids or names; the answer is keyed ' +
        'by each identifier exactly as sent. `include=features,best` adds the feature diff and each metric\'s best value by its direction.',
      querystring: CompareQuery,
      response: { 200: CompareResponse, ...errors() },
    },
  }, (req) => svc.compare(ctx, req.tenant, req.query.project_id, req.query.experiment_ids, req.query.metric_names, req.query.include));

  app.get('/metrics/names/:project_id/:experiment_id', {
    schema: { tags, summary: "An experiment's metrics (from metric_write_logs)", params: ExperimentParams, response: { 200: MetricNamesResponse, ...errors() } },
  }, (req) => svc.metricNames(ctx, req.tenant, req.params.project_id, req.params.experiment_id));

  app.delete('/metrics/:project_id/:experiment_id', {
    schema: { tags, summary: 'Delete every metric point of an experiment', params: ExperimentParams, response: { 204: z.null(), ...errors(403) } },
  }, async (req, reply) => {
    await svc.deleteMetrics(ctx, req.tenant, req.params.project_id, req.params.experiment_id);
    return reply.code(204).send(null);
  });
}
