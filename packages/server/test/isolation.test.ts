import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, seedRun, startTestServer, type TestServer, type TestTeam } from './helpers.ts';

/**
 * Tenant isolation, route by route. Team B (an admin — the strongest key) aims every registered
 * route at team A's objects. Resource routes must answer 404 (never reveal existence); team-level
 * routes must answer only with B's own data. A route missing from EXPECT fails the suite, so a new
 * route cannot ship without an isolation case.
 */
// public: sign-in routes that take no credentials but the body's (B's request fails on its own: 400/401);
// session-only: routes a key cannot use at all (400 for B's key, whatever it aims at)
type Expectation = 'not-found' | 'own-data' | 'not-a-tenant-route' | 'public' | 'session-only';

const EXPECT: Record<string, Expectation> = {
  'GET /api/v1/projects': 'own-data',
  'POST /api/v1/projects': 'own-data',
  'GET /api/v1/projects/:project_id': 'not-found',
  'PATCH /api/v1/projects/:project_id': 'not-found',
  'DELETE /api/v1/projects/:project_id': 'not-found',
  'POST /api/v1/projects/:project_id/restore': 'not-found',
  'GET /api/v1/projects/:project_id/experiments': 'not-found',
  'POST /api/v1/projects/:project_id/experiments': 'not-found',
  'GET /api/v1/projects/:project_id/experiments/:experiment_id': 'not-found',
  'PATCH /api/v1/projects/:project_id/experiments/:experiment_id': 'not-found',
  'DELETE /api/v1/projects/:project_id/experiments/:experiment_id': 'not-found',
  'PUT /api/v1/projects/:project_id/experiments/:experiment_id/code': 'not-found',
  'POST /api/v1/projects/:project_id/experiments/:experiment_id/heartbeat': 'not-found',
  'GET /api/v1/projects/:project_id/experiments/:experiment_id/artifacts': 'not-found',
  'PUT /api/v1/projects/:project_id/experiments/:experiment_id/artifacts': 'not-found',
  'GET /api/v1/projects/:project_id/experiments/:experiment_id/artifacts/:artifact_id': 'not-found',
  'POST /api/v1/metrics/log/:project_id/:experiment_id': 'not-found',
  'POST /api/v1/metrics/batch/:project_id/:experiment_id': 'not-found',
  'GET /api/v1/metrics/timeseries/:project_id/:experiment_id/:metric_name': 'not-found',
  'GET /api/v1/metrics/secure/timeseries/:project_id/:experiment_id/:metric_name': 'not-found',
  'GET /api/v1/metrics/summary/:project_id/:experiment_id': 'not-found',
  'POST /api/v1/metrics/compare': 'not-found',
  'POST /api/v1/metrics/series': 'not-found',
  'GET /api/v1/projects/:project_id/runs-table': 'not-found',
  'GET /api/v1/metrics/names/:project_id/:experiment_id': 'not-found',
  'DELETE /api/v1/metrics/:project_id/:experiment_id': 'not-found',
  'GET /api/v1/me': 'own-data',
  'GET /api/v1/api-keys': 'own-data',
  'POST /api/v1/api-keys': 'not-found',
  'DELETE /api/v1/api-keys/:key_id': 'not-found',
  'GET /api/v1/members': 'own-data',
  'POST /api/v1/members': 'own-data',
  'DELETE /api/v1/members/:user_id': 'not-found',
  'POST /api/v1/admin/teams': 'not-a-tenant-route',
  'PUT /api/v1/admin/users/password': 'not-a-tenant-route',
  'GET /api/v1/admin/doctor': 'not-a-tenant-route',
  'POST /api/v1/admin/backup': 'not-a-tenant-route',
  'POST /api/v1/auth/login': 'public',
  'POST /api/v1/auth/redeem': 'public',
  'GET /api/v1/auth/session': 'own-data',
  'POST /api/v1/auth/logout': 'own-data',
  // aimed at A's team: B's user is no member of it
  'POST /api/v1/auth/switch-team': 'not-found',
  'PUT /api/v1/auth/password': 'session-only',
  // MLflow's REST API (routes/mlflow): run ids in bodies and query strings, MLflow's 404 RESOURCE_DOES_NOT_EXIST
  'POST /api/2.0/mlflow/experiments/create': 'own-data',
  'GET /api/2.0/mlflow/experiments/search': 'own-data',
  'POST /api/2.0/mlflow/experiments/search': 'own-data',
  'GET /api/2.0/mlflow/experiments/get': 'not-found',
  'GET /api/2.0/mlflow/experiments/get-by-name': 'own-data',
  'POST /api/2.0/mlflow/experiments/update': 'not-found',
  'POST /api/2.0/mlflow/experiments/set-experiment-tag': 'not-found',
  'POST /api/2.0/mlflow/experiments/delete-experiment-tag': 'not-found',
  'POST /api/2.0/mlflow/experiments/delete': 'not-found',
  'POST /api/2.0/mlflow/experiments/restore': 'not-found',
  'POST /api/2.0/mlflow/runs/create': 'not-found',
  'POST /api/2.0/mlflow/runs/update': 'not-found',
  'GET /api/2.0/mlflow/runs/get': 'not-found',
  'POST /api/2.0/mlflow/runs/delete': 'not-found',
  'POST /api/2.0/mlflow/runs/restore': 'not-found',
  'POST /api/2.0/mlflow/runs/log-metric': 'not-found',
  'POST /api/2.0/mlflow/runs/log-parameter': 'not-found',
  'POST /api/2.0/mlflow/runs/set-tag': 'not-found',
  'POST /api/2.0/mlflow/runs/delete-tag': 'not-found',
  'POST /api/2.0/mlflow/runs/log-batch': 'not-found',
  'POST /api/2.0/mlflow/runs/log-inputs': 'not-found',
  'POST /api/2.0/mlflow/runs/outputs': 'not-found',
  'GET /api/2.0/mlflow/runs/search': 'not-found',
  'POST /api/2.0/mlflow/runs/search': 'not-found',
  'GET /api/2.0/mlflow/metrics/get-history': 'not-found',
  'GET /api/2.0/mlflow/metrics/get-history-bulk-interval': 'not-found',
  'GET /api/2.0/mlflow/artifacts/list': 'not-found',
  'POST /api/2.0/mlflow/logged-models': 'not-found',
  'GET /api/2.0/mlflow/logged-models/:model_id': 'not-found',
  'PATCH /api/2.0/mlflow/logged-models/:model_id': 'not-found',
  'POST /api/2.0/mlflow/logged-models/:model_id/params': 'not-found',
  'PATCH /api/2.0/mlflow/logged-models/:model_id/tags': 'not-found',
  'DELETE /api/2.0/mlflow/logged-models/:model_id/tags/:tag_key': 'not-found',
  'POST /api/2.0/mlflow/logged-models/search': 'not-found',
  'PUT /api/2.0/mlflow-artifacts/artifacts/*': 'not-found',
  'GET /api/2.0/mlflow-artifacts/artifacts/*': 'not-found',
  'GET /api/2.0/mlflow-artifacts/artifacts': 'not-found',
  'GET /api/3.0/mlflow/server-info': 'own-data',
  'POST /api/v1/projects/:project_id/experiments/:experiment_id/references': 'not-found',
  'DELETE /api/v1/projects/:project_id/experiments/:experiment_id/references/:to_experiment': 'not-found',
  'GET /api/v1/projects/:project_id/experiments/:experiment_id/lineage': 'not-found',
  'GET /api/v1/projects/:project_id/feature-diff': 'not-found',
  'GET /api/v1/projects/:project_id/hypotheses': 'not-found',
  'POST /api/v1/projects/:project_id/hypotheses': 'not-found',
  'GET /api/v1/projects/:project_id/hypotheses/:hypothesis_id': 'not-found',
  'PATCH /api/v1/projects/:project_id/hypotheses/:hypothesis_id': 'not-found',
  'DELETE /api/v1/projects/:project_id/hypotheses/:hypothesis_id': 'not-found',
  'POST /api/v1/projects/:project_id/hypotheses/:hypothesis_id/evaluate': 'not-found',
  'GET /api/v1/projects/:project_id/hypotheses/:hypothesis_id/evaluations': 'not-found',
  'GET /api/v1/projects/:project_id/hypotheses/:hypothesis_id/evidence': 'not-found',
  'GET /api/v1/projects/:project_id/metrics': 'not-found',
  'PUT /api/v1/projects/:project_id/metrics/:metric_name': 'not-found',
  'DELETE /api/v1/projects/:project_id/metrics/:metric_name': 'not-found',
};

let srv: TestServer;
let a: TestTeam;
let b: TestTeam;
let ids: Record<string, string>;
let revokedKey: string;

beforeAll(async () => {
  srv = await startTestServer();
  a = await srv.newTeam('alpha');
  b = await srv.newTeam('bravo');
  const run = await seedRun(a.api, 'secret-project', 'secret-run');
  const logged = await a.api.post(`/metrics/batch/${run.projectId}/${run.experimentId}`, {
    metrics: Array.from({ length: 20 }, (_, i) => ({ metric_name: 'loss', metric_value: i, step: i })),
  });
  expect(logged.status).toBe(200);
  const hyp = await a.api.post(`/projects/${run.projectId}/hypotheses`, { key: 'secret-hypothesis', baseline_experiment: 'secret-run', target_metrics: ['loss'] });
  expect(hyp.status).toBe(201);
  expect((await a.api.post(`/projects/${run.projectId}/hypotheses/${hyp.body.id}/evaluate`)).status).toBe(200);
  const configured = await a.api.put(`/projects/${run.projectId}/metrics/loss`, { direction: 'maximize', description: 'secret-config' });
  expect(configured.status).toBe(200);
  const key = await a.api.post('/api-keys', { name: 'a-second-key' });
  expect(key.status).toBe(201);
  const art = await a.api.call('PUT', `/projects/${run.projectId}/experiments/${run.experimentId}/artifacts?path=model.pt`, Buffer.from('weights'), {
    'content-type': 'application/octet-stream',
  });
  // every seeded object must exist, or a 404 below would prove nothing
  expect(art.status).toBeLessThan(300);
  expect(art.body.id).toMatch(/^[0-9a-f-]{36}$/);
  // a logged model of A's run, through the MLflow API (its id embeds the run id)
  const model = await a.api.post('/api/2.0/mlflow/logged-models', {
    experiment_id: run.projectId.replace(/-/g, ''),
    source_run_id: run.experimentId.replace(/-/g, ''),
    name: 'secret-model',
    tags: [{ key: 'stage', value: 'prod' }],
  });
  expect(model.status).toBe(200);
  const revoked = await a.api.post('/api-keys', { name: 'revoked-key' });
  expect((await a.api.call('DELETE', `/api-keys/${revoked.body.id}`)).status).toBeLessThan(300);
  revokedKey = revoked.body.api_key;
  ids = {
    project_id: run.projectId,
    experiment_id: run.experimentId,
    metric_name: 'loss',
    key_id: key.body.id,
    user_id: a.userId,
    artifact_id: art.body.id,
    model_id: model.body.model.info.model_id,
    tag_key: 'stage',
    hypothesis_id: hyp.body.id,
    to_experiment: run.experimentId,
  };
});
afterAll(() => srv?.close());

function fill(url: string): string {
  return url.replace(/:(\w+)/g, (_, name: string) => {
    if (!(name in ids)) throw new Error(`isolation suite has no value for path parameter :${name} — add one`);
    return encodeURIComponent(ids[name]);
  });
}

/** MLflow routes name A's objects by MLflow ids (UUIDs without dashes) in the body or the query string. */
function mlflowRequest(method: string, url: string, u: string): { url: string; body?: unknown; headers?: Record<string, string> } | undefined {
  if (!url.includes('/mlflow')) return undefined;
  const exp = ids.project_id.replace(/-/g, '');
  const run = ids.experiment_id.replace(/-/g, '');
  if (url.includes('/mlflow-artifacts/')) {
    const file = u.replace('*', `${exp}/${run}/artifacts/model.pt`);
    if (method === 'PUT') return { url: file, body: Buffer.from('x'), headers: { 'content-type': 'application/octet-stream' } };
    return { url: url.endsWith('/artifacts') ? `${u}?path=${exp}/${run}/artifacts` : file };
  }
  if (method === 'GET' || method === 'DELETE') {
    const q = new URLSearchParams({ experiment_id: exp, experiment_ids: exp, run_id: run, run_ids: run, metric_key: 'loss', experiment_name: 'secret-project' });
    return { url: `${u}?${q}` };
  }
  const status = url.includes('/logged-models/') ? 'LOGGED_MODEL_READY' : 'FINISHED';
  return {
    url: u,
    body: {
      experiment_id: exp, experiment_ids: [exp], run_id: run, source_run_id: run, name: 'intruder', new_name: 'renamed-by-b', key: 'stage', value: 'v', status,
      metrics: [{ key: 'loss', value: 1, timestamp: 0, step: 0 }], params: [{ key: 'p', value: '1' }], tags: url.endsWith('/experiments/create') ? [] : [{ key: 'stage', value: 'b' }],
      models: [{ model_id: ids.model_id, step: 0 }], datasets: [],
    },
  };
}

/** Bodies/queries that would succeed for team A, so a 404 can only come from the tenant check. */
function requestFor(method: string, url: string): { url: string; body?: unknown; headers?: Record<string, string> } {
  const u = fill(url);
  const mlflow = mlflowRequest(method, url, u);
  if (mlflow) return mlflow;
  if (url.endsWith('/hypotheses') && method === 'POST') return { url: u, body: { key: 'secret-hypothesis', baseline_experiment: 'secret-run', target_metrics: ['loss'] } };
  if (url.endsWith('/:hypothesis_id') && method === 'PATCH') return { url: u, body: { statement: 'by-b' } };
  if (url.endsWith('/feature-diff')) return { url: `${u}?experiment_ids=${ids.experiment_id}` };
  if (url.endsWith('/metrics/:metric_name') && method === 'PUT') return { url: u, body: { direction: 'minimize', description: 'by-b' } };
  if (url.endsWith('/references') && method === 'POST') return { url: u, body: { to_experiment: ids.experiment_id, kind: 'compares_to' } };
  if (url.endsWith('/metrics/compare')) return { url: `${u}?project_id=${ids.project_id}&experiment_ids=${ids.experiment_id}` };
  if (url.endsWith('/metrics/series')) return { url: u, body: { project_id: ids.project_id, series: [{ experiment_id: ids.experiment_id, metric_name: 'loss' }] } };
  if (url.endsWith('/artifacts') && method === 'PUT') return { url: `${u}?path=evil.pt`, body: Buffer.from('x'), headers: { 'content-type': 'application/octet-stream' } };
  if (url.includes('/metrics/log/')) return { url: u, body: { metric_name: 'loss', metric_value: 99, step: 0 } };
  if (url.includes('/metrics/batch/')) return { url: u, body: { metrics: [{ metric_name: 'loss', metric_value: 99, step: 0 }] } };
  if (url.endsWith('/experiments') && method === 'POST') return { url: u, body: { name: 'intruder' } };
  if (url.endsWith('/code')) return { url: u, body: { commit: 'deadbeef' } };
  if (url.endsWith('/api-keys') && method === 'POST') return { url: u, body: { name: 'k', user_id: ids.user_id } };
  if (url.endsWith('/members') && method === 'POST') return { url: u, body: { email: 'spy@example.com', role: 'viewer' } };
  if (url.endsWith('/projects') && method === 'POST') return { url: u, body: { name: 'secret-project' } };
  if (url.endsWith('/admin/teams')) return { url: u, body: { name: 'x' } };
  if (url.endsWith('/admin/backup')) return { url: u, body: { dir: '/tmp/assay-isolation-backup' } };
  if (url.endsWith('/admin/users/password')) return { url: u, body: { email: 'spy@example.com', password: 'taken-over' } };
  if (url.endsWith('/auth/login')) return { url: u, body: { email: 'spy@example.com', password: 'a guess' } };
  if (url.endsWith('/auth/redeem')) return { url: u, body: { token: 'x'.repeat(43) } };
  if (url.endsWith('/auth/switch-team')) return { url: u, body: { team: a.teamId } };
  if (url.endsWith('/auth/password')) return { url: u, body: { new_password: 'set-by-b-password' } };
  if (method === 'PATCH') return { url: u, body: { name: 'renamed-by-b' } };
  return { url: u };
}

describe('tenant isolation', () => {
  it('covers every registered API route', () => {
    const registered = srv.routes.map((r) => `${r.method} ${r.url}`).sort();
    expect(registered.filter((r) => !(r in EXPECT)), 'routes without an isolation case').toEqual([]);
  });

  it("team B's admin key gets 404 (or only its own data) on every route aimed at team A", async () => {
    for (const route of srv.routes) {
      const key = `${route.method} ${route.url}`;
      const exp = EXPECT[key];
      const req = requestFor(route.method, route.url);
      const r = await b.api.call(route.method, req.url, req.body, req.headers);
      const text = JSON.stringify(r.body);
      if (exp === 'not-found') {
        expect(r.status, key).toBe(404);
      } else if (exp === 'own-data') {
        expect(r.status, key).toBeLessThan(300);
      } else if (exp === 'public') {
        expect([400, 401], key).toContain(r.status);
      } else if (exp === 'session-only') {
        expect(r.status, key).toBe(400);
      } else {
        expect(r.status, key).toBe(401);
      }
      // nothing of A's leaks into any answer
      const hexIds = [ids.project_id, ids.experiment_id].map((id) => id.replace(/-/g, ''));
      for (const secret of [ids.project_id, ids.experiment_id, ...hexIds, a.teamId, a.userId, ids.key_id, 'secret-run']) {
        expect(text.includes(secret), `${key} leaked ${secret}`).toBe(false);
      }
    }
  });

  it("team A's data is unchanged after B tried every route", async () => {
    const p = await a.api.get(`/projects/${ids.project_id}`);
    expect(p.status).toBe(200);
    expect(p.body.name).toBe('secret-project');
    const e = await a.api.get(`/projects/${ids.project_id}/experiments/${ids.experiment_id}`);
    expect(e.status).toBe(200);
    expect(e.body.name).toBe('secret-run');
    expect(e.body.git).toBeNull();
    const ts = await a.api.get(`/metrics/timeseries/${ids.project_id}/${ids.experiment_id}/loss`);
    expect(ts.body.count).toBe(20);
    expect(ts.body.points[0].value).toBe(0);
    // the design document's "secure" path is the same handler: the same answer, byte for byte
    const secure = await a.api.get(`/metrics/secure/timeseries/${ids.project_id}/${ids.experiment_id}/loss`);
    expect([secure.status, secure.body]).toEqual([200, ts.body]);
    const keys = await a.api.get('/api-keys');
    expect(keys.body.items.find((k: any) => k.id === ids.key_id).revoked_at).toBeNull();
    const members = await a.api.get('/members');
    expect(members.body.items.map((m: any) => m.user_id)).toEqual([a.userId]);
    const exps = await a.api.get(`/projects/${ids.project_id}/experiments`);
    expect(exps.body.items.map((x: any) => x.name)).toEqual(['secret-run']);
    const pm = await a.api.get(`/projects/${ids.project_id}/metrics`);
    expect(pm.body.items).toEqual([expect.objectContaining({ name: 'loss', direction: 'maximize', description: 'secret-config', configured: true })]);
    const hyp = await a.api.get(`/projects/${ids.project_id}/hypotheses/${ids.hypothesis_id}`);
    expect([hyp.body.key, hyp.body.statement, hyp.body.status]).toEqual(['secret-hypothesis', null, 'Testing']);
    expect((await a.api.get(`/projects/${ids.project_id}/hypotheses/${ids.hypothesis_id}/evaluations`)).body.items).toHaveLength(1);
    const arts = await a.api.get(`/projects/${ids.project_id}/experiments/${ids.experiment_id}/artifacts`);
    expect(arts.body.items.map((x: any) => [x.id, x.path, x.size])).toEqual([[ids.artifact_id, 'model.pt', 7]]);
  });

  it("B's own project with A's project name is B's, not A's", async () => {
    const mine = await b.api.get('/projects/secret-project');
    expect(mine.status).toBe(200);
    expect(mine.body.team_id).toBe(b.teamId);
  });

  it('requests without a key, or with a revoked key, get 401 on every tenant route', async () => {
    const none = apiClient(srv.app, undefined);
    const bad = apiClient(srv.app, 'assay_not-a-real-key');
    const revoked = apiClient(srv.app, revokedKey);
    for (const route of srv.routes) {
      if (['not-a-tenant-route', 'public'].includes(EXPECT[`${route.method} ${route.url}`])) continue;
      const req = requestFor(route.method, route.url);
      expect((await none.call(route.method, req.url, req.body, req.headers)).status, route.url).toBe(401);
      expect((await bad.call(route.method, req.url, req.body, req.headers)).status, route.url).toBe(401);
      expect((await revoked.call(route.method, req.url, req.body, req.headers)).status, route.url).toBe(401);
    }
  });
});
