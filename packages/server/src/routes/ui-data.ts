import { RunsTableQuery, RunsTableResponse, SeriesRequest, SeriesResponse } from '@assay/contracts/ui-data';
import { encodeSeriesBinary, SERIES_BINARY_TYPE } from '@assay/contracts/ui-data-binary';
import { runsTable } from '../services/runs-table.ts';
import { seriesBatch } from '../services/series.ts';
import { errors, ProjectParams, type Api, type RouteDeps } from './types.ts';

/** The bulk reads the web UI is built on: a project's runs table, and many chart series at once. */
export function uiDataRoutes(app: Api, { ctx }: RouteDeps): void {
  app.get('/projects/:project_id/runs-table', {
    schema: {
      tags: ['experiments'],
      summary: "A project's runs with their metric summaries, in one request (the UI's runs table)",
      description:
        'Up to 10,000 runs, newest first (`truncated: true` when there are more), each with its row, lineage parents (`parent_ids`, every reference kind), ' +
        'nested features and per metric `last`/`min`/`max`/`count`/`last_step` (exactly as GET /metrics/summary) and `best` by the metric\'s project direction ' +
        '(exactly as compare\'s include=best). `metrics` lists every metric with its direction and aggregation. ' +
        '`since` (ISO time) narrows to runs changed, heartbeating or written to after it — for live polling; deletions are seen by a full reload.',
      params: ProjectParams,
      querystring: RunsTableQuery,
      response: { 200: RunsTableResponse, ...errors() },
    },
  }, (req) => runsTable(ctx, req.tenant, req.params.project_id, req.query));

  app.post('/metrics/series', {
    schema: {
      tags: ['metrics'],
      summary: 'Many metric series at full fidelity in one request (charts)',
      description:
        'Up to 500 (experiment, metric) series of one project, answered in request order from one ClickHouse query. Per series, the deduplicated points ' +
        '(a re-logged step keeps its later value) in [`step_min`, `step_max`] (and of `host`, if given): when at most `buckets` of them, `mode: "raw"` with every ' +
        'point (`steps`/`values`/`timestamps`; without `host`, a step logged by several hosts appears once per host); otherwise `mode: "buckets"`: equal-width ' +
        'step buckets over the series\' steps in the window, ceil((last_step − first_step + 1) / buckets) steps wide, each with `min`/`max` ignoring NaN ' +
        '(null when all NaN), `last` (the value at its highest step), `last_step`, `last_timestamp` and `count`; empty buckets are left out. ' +
        'A spike anywhere is the `max` of its bucket. Whole-history reads (no window, no host) come from pre-aggregated rollups: at ≥ 256 steps per bucket ' +
        'an overview in whole 256-step buckets (`count` null); at 16–255 the width is rounded up to whole 8-step buckets (at most 1.5× as asked, else the points ' +
        'are scanned), answered exactly as a scan on that grid would. For live updates poll with `step_min` = the last step seen + 1. ' +
        'Any run not in the project (or of another team): 404 for the whole request; a metric the run never logged: `total_points: 0`, empty data. ' +
        'Derived metrics are not computed here (use the timeseries read). ' +
        'Instead of `series`, `experiment_ids` asks for every metric those runs logged (ordered by metric name, then run as sent; at most 500 series, ' +
        '`truncated: true` beyond): a compare page starts its charts\' request without first asking for the metric names. ' +
        '`fields` keeps only the listed arrays in each `data` (e.g. `["last", "last_step", "min", "max", "steps", "values"]` for a chart on a step axis). ' +
        `With \`Accept: ${SERIES_BINARY_TYPE}\` the same answer comes in a binary form: a JSON header (the entries without \`data\`, plus each one's array \`length\` and \`fields\`) ` +
        'and then every array as little-endian float64 (NaN/±Infinity as themselves, null as NaN), to be read into typed arrays without parsing JSON; layout in docs/api.md. Errors stay JSON.',
      body: SeriesRequest,
      response: { 200: SeriesResponse, ...errors() },
    },
  }, async (req, reply) => {
    const answer = await seriesBatch(ctx, req.tenant, req.body);
    void reply.header('Vary', 'Accept');
    if (!req.headers.accept?.includes(SERIES_BINARY_TYPE)) return answer;
    void reply.type(SERIES_BINARY_TYPE);
    const bytes = encodeSeriesBinary(answer);
    // a Buffer is sent as it is (no serializer); the 200 schema documents the JSON form
    return reply.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as never);
  });
}
