import { describe, expect, it } from 'vitest';
import { ClickHouseStore } from '../src/stores/clickhouse/query.ts';
import { QueryLimitError } from '../src/stores/errors.ts';
import { seedRun, useTestServer } from './helpers.ts';

/**
 * OWASP API4: a read too big for the per-query limits is stopped by ClickHouse (max_execution_time /
 * max_memory_usage, set by the one query wrapper) and answered 503 + Retry-After — it was a 500 —
 * while the server goes on serving. Over HTTP the time limit is a microsecond, so every metric read
 * exceeds it deterministically (chDB's memory accounting varies by hundreds of kB from run to run,
 * and ignores the first 4 MB of a query); the memory limit is checked on the store with a query that
 * needs ~80 MB against a 1 MB limit.
 */
const t = useTestServer('qlim', { ASSAY_QUERY_MAX_SECONDS: '0.000001' });
const message = (which: string) => `Query stopped by the server's per-query ${which}: narrow it (a step range, max_points, fewer runs or metrics) or retry later`;

describe('per-query resource limits', () => {
  it('a read over its time limit is a 503 with Retry-After, and the server keeps serving', async () => {
    const { api } = t.team;
    const run = await seedRun(api);
    const n = 300_000;
    const steps = Array.from({ length: n }, (_, i) => i);
    const logged = await api.post(`/metrics/batch/${run.projectId}/${run.experimentId}`, { series: [{ metric_name: 'loss', steps, values: steps }] });
    expect(logged.status).toBe(200);

    const e = `${run.projectId}/${run.experimentId}`;
    for (const url of [`/metrics/timeseries/${e}/loss?limit=100000`, `/metrics/summary/${e}`, `/metrics/names/${e}`, `/metrics/timeseries/${e}/loss?limit=100000`]) {
      const r = await api.get(url);
      expect([r.status, r.headers['retry-after'], r.body.detail], url).toEqual([503, '5', message('time limit (0.000001 s)')]);
    }
    // the same server still answers: probes, metadata, writes
    const ready = await t.srv.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode, ready.body).toBe(200);
    expect((await api.get(`/projects/${run.projectId}`)).status).toBe(200);
    expect((await api.get(`/projects/${run.projectId}/experiments`)).status).toBe(200);
    const more = await api.post(`/metrics/log/${e}`, { metric_name: 'acc', metric_value: 1, step: 0 });
    expect(more.status).toBe(200);
    // and every acknowledged point is stored (read without the limit)
    const tenant = { teamId: t.team.teamId };
    const unlimited = new ClickHouseStore({ client: t.srv.ctx.ch.client, kind: t.srv.ctx.ch.kind }, { maxExecutionSeconds: 60, maxMemoryBytes: 1e9 });
    const counted = await unlimited.rows(tenant, 'test', 'SELECT count() FROM metrics WHERE team_id = {team_id:UUID} AND experiment_id = {e:UUID}', { e: run.experimentId });
    expect(counted).toEqual([[n + 1]]);
  });

  it('a read over its memory limit is a QueryLimitError naming the limit; the connection stays usable', async () => {
    const tenant = { teamId: t.team.teamId };
    const small = new ClickHouseStore({ client: t.srv.ctx.ch.client, kind: t.srv.ctx.ch.kind }, { maxExecutionSeconds: 60, maxMemoryBytes: 1_000_000 });
    for (let i = 0; i < 2; i++) {
      const err = await small.rows(tenant, 'test', 'SELECT length(groupArray(number)) FROM numbers(10000000)').catch((x: unknown) => x);
      expect(err).toBeInstanceOf(QueryLimitError);
      expect((err as QueryLimitError).message).toBe(message('memory limit (1000000 bytes)'));
      expect(await small.rows(tenant, 'test', 'SELECT 1')).toEqual([[1]]);
    }
  });
});
