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
    expect(mlflowRoutes.length).toBe(37);
    for (const r of mlflowRoutes) {
      const url = r.url.replace(':model_id', 'm-nope').replace(':tag_key', 'k').replace('*', `${experimentId}/${runId}/artifacts/x`);
      for (const b of bodies) {
        const res = r.method === 'GET' || r.method === 'DELETE'
          ? await t.srv.app.inject({ method: r.method as 'GET', url: `${url}?${new URLSearchParams(Object.entries(typeof b === 'object' && b && !Array.isArray(b) ? b : {}).map(([k, v]) => [k, String(v)]))}`, headers: { authorization: `Bearer ${t.team.apiKey}` } })
          : await t.srv.app.inject({ method: r.method as 'POST', url, payload: typeof b === 'string' ? b : JSON.stringify(b), headers: { authorization: `Bearer ${t.team.apiKey}`, 'content-type': 'application/json' } });
        // 501 NOT_IMPLEMENTED is the deliberate answer of delete/restore_experiment
        expect(res.statusCode === 501 ? 400 : res.statusCode, `${r.method} ${url} ${JSON.stringify(b)} → ${res.body}`).toBeLessThan(500);
        if (res.statusCode >= 400) expect(Object.keys(res.json()).sort(), `${r.method} ${url}`).toEqual(['error_code', 'message']);
      }
    }
  });
});
