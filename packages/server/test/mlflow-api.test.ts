import { describe, expect, it } from 'vitest';
import { apiClient, useTestServer } from './helpers.ts';

/**
 * The MLflow REST routes through app.inject(): error shape and codes, auth forms, aliases, and that
 * what MLflow writes is ordinary Assay data (soft delete honoured by Assay's own list). The real
 * client's end-to-end run is python/tests/test_mlflow_compat.py.
 */
const t = useTestServer('mlflow');
const M = '/api/2.0/mlflow';

async function setup(name: string) {
  const api = t.team.api;
  const exp = await api.post(`${M}/experiments/create`, { name });
  expect(exp.status).toBe(200);
  const run = await api.post(`${M}/runs/create`, { experiment_id: exp.body.experiment_id, run_name: 'r1', start_time: 1_700_000_000_000, tags: [{ key: 'team', value: 'v' }] });
  expect(run.status).toBe(200);
  return { api, experimentId: exp.body.experiment_id as string, runId: run.body.run.info.run_id as string };
}

describe('MLflow error JSON', () => {
  it('uses MLflow codes and statuses on these routes only', async () => {
    const { api, runId } = await setup('errors');
    expect(await api.post(`${M}/experiments/create`, { name: 'errors' })).toMatchObject({ status: 400, body: { error_code: 'RESOURCE_ALREADY_EXISTS' } });
    expect(await api.get(`${M}/runs/get?run_id=${'0'.repeat(32)}`)).toMatchObject({ status: 404, body: { error_code: 'RESOURCE_DOES_NOT_EXIST' } });
    expect(await api.get(`${M}/experiments/get?experiment_id=nope`)).toMatchObject({ status: 404, body: { error_code: 'RESOURCE_DOES_NOT_EXIST' } });
    expect(await api.post(`${M}/runs/search`, { experiment_ids: [], filter: 'metrics.x ~ 1' })).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE' } });
    expect(await api.post(`${M}/runs/log-parameter`, { run_id: runId, key: 'mlflow', value: 'x' })).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE' } });
    expect(await api.post(`${M}/no-such-endpoint`, {})).toMatchObject({ status: 404, body: { error_code: 'ENDPOINT_NOT_FOUND' } });
    const malformed = await api.call('POST', `${M}/runs/log-metric`, '{"run_id":', { 'content-type': 'application/json' });
    expect(malformed).toMatchObject({ status: 400, body: { error_code: 'MALFORMED_REQUEST' } });
    // Assay's own API keeps {detail}
    expect((await api.get('/projects/does-not-exist')).body).toEqual({ detail: 'Project not found' });
  });

  it('401 UNAUTHENTICATED without a key; Basic auth takes the API key as the password', async () => {
    const anon = apiClient(t.srv.app, undefined);
    expect(await anon.post(`${M}/experiments/search`, {})).toMatchObject({ status: 401, body: { error_code: 'UNAUTHENTICATED' } });
    const basic = (user: string, pass: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });
    const ok = await anon.call('POST', `${M}/experiments/search`, {}, basic('whoever', t.team.apiKey));
    expect(ok.status).toBe(200);
    const bad = await anon.call('POST', `${M}/experiments/search`, {}, basic('whoever', 'assay_wrong'));
    expect(bad).toMatchObject({ status: 401, body: { error_code: 'UNAUTHENTICATED' } });
  });
});

describe('MLflow runs are Assay experiments', () => {
  it('params cannot change; a failing log-batch writes nothing', async () => {
    const { api, runId } = await setup('params');
    expect((await api.post(`${M}/runs/log-parameter`, { run_id: runId, key: 'lr', value: '0.1' })).status).toBe(200);
    expect((await api.post(`${M}/runs/log-parameter`, { run_id: runId, key: 'lr', value: '0.1' })).status).toBe(200);
    const changed = await api.post(`${M}/runs/log-parameter`, { run_id: runId, key: 'lr', value: '0.2' });
    expect(changed).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE' } });
    expect(changed.body.message).toContain("key='lr' was already logged with value='0.1'");
    const bad = await api.post(`${M}/runs/log-batch`, { run_id: runId, params: [{ key: 'bs', value: '8' }], metrics: [{ key: 'loss', value: 1, timestamp: 0, step: -1 }] });
    expect(bad).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE' } });
    const run = await api.get(`${M}/runs/get?run_id=${runId}`);
    expect(run.body.run.data.params).toEqual([{ key: 'lr', value: '0.1' }]);
    expect(run.body.run.data.metrics).toEqual([]);
  });

  it('log-batch metrics are Assay metric points; NaN travels as "NaN"', async () => {
    const { api, runId } = await setup('metrics');
    const metrics = [0, 1, 2].map((s) => ({ key: 'loss', value: 1 / (s + 1), timestamp: 1_700_000_000_000 + s, step: s }));
    expect((await api.post(`${M}/runs/log-batch`, { run_id: runId, metrics: [...metrics, { key: 'odd', value: 'NaN', timestamp: 1_700_000_000_000, step: 0 }] })).status).toBe(200);
    const id = runId.replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5');
    const summary = await api.get(`/metrics/summary/metrics/${id}`);
    expect(summary.body.metrics.loss).toMatchObject({ count: 3, last: 1 / 3, min: 1 / 3, max: 1 });
    const got = await api.get(`${M}/runs/get?run_id=${runId}`);
    expect(got.body.run.data.metrics).toEqual([
      { key: 'loss', value: 1 / 3, timestamp: 1_700_000_000_002, step: 2 },
      { key: 'odd', value: 'NaN', timestamp: 1_700_000_000_000, step: 0 },
    ]);
  });

  it('delete_run is a soft delete that Assay\'s list honours (include_deleted=true shows it)', async () => {
    const { api, runId } = await setup('lifecycle');
    const names = async (q = '') => (await api.get(`/projects/lifecycle/experiments${q}`)).body.items.map((e: { name: string; deleted_at: string | null }) => [e.name, e.deleted_at !== null]);
    expect(await names()).toEqual([['r1', false]]);
    expect((await api.post(`${M}/runs/delete`, { run_id: runId })).status).toBe(200);
    expect(await names()).toEqual([]);
    expect(await names('?include_deleted=true')).toEqual([['r1', true]]);
    const logged = await api.post(`${M}/runs/log-metric`, { run_id: runId, key: 'x', value: 1, timestamp: 0, step: 0 });
    expect(logged).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE' } });
    expect((await api.post(`${M}/runs/restore`, { run_id: runId })).status).toBe(200);
    expect(await names()).toEqual([['r1', false]]);
  });

  it('a taken run name gets a suffix in Assay; MLflow still sees its name', async () => {
    const { api, experimentId } = await setup('names');
    const again = await api.post(`${M}/runs/create`, { experiment_id: experimentId, run_name: 'r1' });
    expect(again.body.run.info.run_name).toBe('r1');
    const assayNames = (await api.get('/projects/names/experiments')).body.items.map((e: { name: string }) => e.name).sort();
    expect(assayNames[0]).toBe('r1');
    expect(assayNames[1]).toMatch(/^r1-[0-9a-f]{6}$/);
  });

  it('answers under /ajax-api too, and the server-info probe', async () => {
    const { api, runId } = await setup('ajax');
    // apiClient would prefix /api/v1: inject directly
    const r = await t.srv.app.inject({ method: 'GET', url: `/ajax-api/2.0/mlflow/runs/get?run_id=${runId}`, headers: { authorization: `Bearer ${t.team.apiKey}` } });
    expect(r.json().run.info).toMatchObject({ run_id: runId, run_name: 'r1', status: 'RUNNING', lifecycle_stage: 'active', start_time: 1_700_000_000_000 });
    expect((await api.get('/api/3.0/mlflow/server-info')).body).toMatchObject({ multipart_uploads_enabled: false, workspaces_enabled: false });
  });
});

describe("request validation as MLflow's own test_rest_tracking.py asserts it (python/tests/test_mlflow_upstream.py)", () => {
  const message = (r: { status: number; body: { error_code?: string; message?: string } }) => [r.status, r.body.error_code, r.body.message];

  it('set-tag and log-parameter refuse a non-string value instead of coercing it', async () => {
    const { api, runId } = await setup('typed-values');
    expect(message(await api.post(`${M}/runs/set-tag`, { run_id: runId, key: 'k', value: 41 }))).toEqual([400, 'INVALID_PARAMETER_VALUE', "Invalid value 41 for parameter 'value' supplied"]);
    expect(message(await api.post(`${M}/runs/log-parameter`, { run_id: runId, key: 'k', value: 41 }))).toEqual([400, 'INVALID_PARAMETER_VALUE', "Invalid value 41 for parameter 'value' supplied"]);
    // MLflow's order of checks: run_id, key, value
    for (const route of ['set-tag', 'log-parameter']) {
      expect(message(await api.post(`${M}/runs/${route}`, { run_id: runId, key: 31, value: 41 }))).toEqual([400, 'INVALID_PARAMETER_VALUE', "Invalid value 31 for parameter 'key' supplied"]);
      expect(message(await api.post(`${M}/runs/${route}`, { run_id: 31, key: 31, value: 41 }))).toEqual([400, 'INVALID_PARAMETER_VALUE', "Invalid value 31 for parameter 'run_id' supplied"]);
    }
    expect((await api.post(`${M}/runs/set-tag`, { run_uuid: runId, key: 'k', value: 'v' })).status).toBe(200);
    const run = (await api.get(`${M}/runs/get?run_id=${runId}`)).body.run.data;
    expect([run.params, run.tags.find((t: { key: string }) => t.key === 'k')]).toEqual([[], { key: 'k', value: 'v' }]);
  });

  it('log-batch: a string is not a list, and every metric needs its timestamp; nothing is written', async () => {
    const { api, runId } = await setup('batch-shape');
    for (const field of ['metrics', 'params', 'tags']) {
      expect(message(await api.post(`${M}/runs/log-batch`, { run_id: runId, [field]: 'foo' }))).toEqual([400, 'INVALID_PARAMETER_VALUE', `Invalid value "foo" for parameter '${field}' supplied`]);
    }
    const noTs = await api.post(`${M}/runs/log-batch`, { run_id: runId, params: [{ key: 'p', value: '1' }], metrics: [{ key: 'mae', value: 2.5, timestamp: 5 }, { key: 'mae', value: 2.5 }] });
    expect(message(noTs)).toEqual([400, 'INVALID_PARAMETER_VALUE',
      `Invalid value [{"key":"mae","value":2.5,"timestamp":5},{"key":"mae","value":2.5}] for parameter 'metrics' supplied: Missing value for required parameter 'metrics[1].timestamp'.`]);
    expect((await api.get(`${M}/runs/get?run_id=${runId}`)).body.run.data.params).toEqual([]);
    expect((await api.post(`${M}/runs/log-batch`, { run_id: runId, metrics: [{ key: 'mae', value: 2.5, timestamp: 123456789 }] })).status).toBe(200);
    expect((await api.get(`${M}/metrics/get-history?run_id=${runId}&metric_key=mae`)).body.metrics).toEqual([{ key: 'mae', value: 2.5, timestamp: 123456789, step: 0 }]);
  });

  it("get-history-bulk-interval: MLflow's messages and its max_results bounds (1…2500)", async () => {
    const { api, runId } = await setup('bulk-interval');
    const q = (p: Record<string, string | string[]>) => `${M}/metrics/get-history-bulk-interval?${new URLSearchParams(Object.entries(p).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => [k, x])))}`;
    expect(message(await api.get(q({ metric_key: 'x' })))).toEqual([400, 'INVALID_PARAMETER_VALUE', "Missing value for required parameter 'run_ids'."]);
    expect(message(await api.get(q({ run_ids: '123', metric_key: '' })))).toEqual([400, 'INVALID_PARAMETER_VALUE', "Missing value for required parameter 'metric_key'."]);
    for (const m of ['0', '2501']) expect(message(await api.get(q({ run_ids: '123', metric_key: 'x', max_results: m })))).toEqual([400, 'INVALID_PARAMETER_VALUE', 'max_results must be between 1 and 2500.']);
    expect(message(await api.get(q({ run_ids: '123', metric_key: 'x', start_step: '1', end_step: '0' })))).toEqual([400, 'INVALID_PARAMETER_VALUE', 'end_step must be greater than start_step. Found start_step=1 and end_step=0.']);
    const metrics = Array.from({ length: 3000 }, (_, s) => ({ key: 'x', value: s, timestamp: 1_700_000_000_000, step: s }));
    expect((await api.post(`${M}/runs/log-batch`, { run_id: runId, metrics })).status).toBe(200);
    // default max_results is MLflow's 2500 per run (was 320): a 3000-step history comes back sampled to at most 2500 points, first and last kept
    const all = (await api.get(q({ run_ids: runId, metric_key: 'x' }))).body.metrics as { step: number }[];
    expect([all.length <= 2500, all.length > 320, all[0].step, all[all.length - 1].step]).toEqual([true, true, 0, 2999]);
  });

  it("artifacts/list refuses paths outside the run's root with MLflow's exact answer", async () => {
    const { api, runId } = await setup('path-safety');
    for (const path of ['../path', 'a/../../b', '/etc', '%2e%2e/x', 'a\\b', 'C:x']) {
      const r = await api.get(`${M}/artifacts/list?${new URLSearchParams({ run_id: runId, path })}`);
      expect([path, r.status, r.body]).toEqual([path, 400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'Invalid path' }]);
    }
    expect((await api.get(`${M}/artifacts/list?${new URLSearchParams({ run_id: runId, path: 'dir/sub' })}`)).body).toEqual({ root_uri: '', files: [] });
  });
});

describe('bad input on every MLflow route', () => {
  it('is a 4xx in MLflow\'s shape, never a 500', async () => {
    const { runId, experimentId } = await setup('garbage');
    const bodies: unknown[] = [
      {}, [], 'null', { run_id: 5 }, { run_id: [runId] }, { run_id: runId, key: { a: 1 }, value: [1] }, { experiment_id: 7 }, { experiment_ids: 'x' },
      { experiment_ids: [experimentId], filter: 42, order_by: [{ x: 1 }], max_results: -1, page_token: '%%%' }, { run_id: runId, metrics: 'x' },
      { run_id: runId, metrics: [null, 1, 'a'] }, { run_id: runId, tags: [1, null], params: 'p' }, { run_id: runId, status: 'EXPLODED', end_time: 'soon' },
      { run_id: runId, models: [{}], datasets: 3 }, { run_ids: [runId], metric_key: 'x', start_step: 5, end_step: 1 }, { experiment_id: experimentId, source_run_id: 'zz' },
    ];
    const mlflowRoutes = t.srv.routes.filter((r) => r.url.includes('/mlflow'));
    expect(mlflowRoutes.length).toBe(38);
    for (const r of mlflowRoutes) {
      const url = r.url.replace(':model_id', 'm-nope').replace(':tag_key', 'k').replace('*', `${experimentId}/${runId}/artifacts/x`);
      for (const b of bodies) {
        const res = r.method === 'GET' || r.method === 'DELETE'
          ? await t.srv.app.inject({ method: r.method as 'GET', url: `${url}?${new URLSearchParams(Object.entries(typeof b === 'object' && b && !Array.isArray(b) ? b : {}).map(([k, v]) => [k, String(v)]))}`, headers: { authorization: `Bearer ${t.team.apiKey}` } })
          : await t.srv.app.inject({ method: r.method as 'POST', url, payload: typeof b === 'string' ? b : JSON.stringify(b), headers: { authorization: `Bearer ${t.team.apiKey}`, 'content-type': 'application/json' } });
        expect(res.statusCode, `${r.method} ${url} ${JSON.stringify(b)} → ${res.body}`).toBeLessThan(500);
        if (res.statusCode >= 400) expect(Object.keys(res.json()).sort(), `${r.method} ${url}`).toEqual(['error_code', 'message']);
      }
    }
  });
});
