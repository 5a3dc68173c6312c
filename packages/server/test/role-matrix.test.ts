import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, seedRun, startTestServer, type ApiClient, type Res, type TestServer, type TestTeam } from './helpers.ts';

/**
 * OWASP API1/API5, cell by cell: every /api/v1 route × {own object, another team's object,
 * nonexistent id, malformed id} × {admin, researcher, viewer, revoked key, no key}.
 *
 * - no key / revoked key: 401, whatever the object.
 * - a role below the route's minimum (MIN_ROLE): 403 on its own objects; on the others 403 or 404.
 * - the minimum role or above: 2xx on its own objects; 404 on another team's object and on a
 *   nonexistent one; a malformed id is 404 (ids are UUIDs or names) or 422 (UUID-only fields).
 * - another team's object is always answered exactly as a nonexistent one (no existence oracle),
 *   and no body ever carries another team's names, ids or values.
 * A route missing from MIN_ROLE fails the suite. Objects a cell deletes are re-made for each cell.
 */
type Role = 'viewer' | 'researcher' | 'admin';
// public: sign-in with the body's credentials (any caller's bogus ones → 400/401); session-only: a
// browser session's routes, which no API key may use (400 for every key, 401 without one)
/** What the local admin token gets where the matrix's request is refused by the service on purpose. */
const ADMIN_TOKEN_STATUS: Record<string, number> = { 'POST /api/v1/admin/backup': 409 };

const MIN_ROLE: Record<string, Role | 'admin-token' | 'public' | 'session-only'> = {
  'GET /api/v1/projects': 'viewer',
  'POST /api/v1/projects': 'researcher',
  'GET /api/v1/projects/:project_id': 'viewer',
  'PATCH /api/v1/projects/:project_id': 'researcher',
  'DELETE /api/v1/projects/:project_id': 'admin',
  'POST /api/v1/projects/:project_id/restore': 'researcher',
  'GET /api/v1/projects/:project_id/experiments': 'viewer',
  'POST /api/v1/projects/:project_id/experiments': 'researcher',
  'GET /api/v1/projects/:project_id/experiments/:experiment_id': 'viewer',
  'PATCH /api/v1/projects/:project_id/experiments/:experiment_id': 'researcher',
  'DELETE /api/v1/projects/:project_id/experiments/:experiment_id': 'researcher',
  'PUT /api/v1/projects/:project_id/experiments/:experiment_id/code': 'researcher',
  'POST /api/v1/projects/:project_id/experiments/:experiment_id/heartbeat': 'researcher',
  'GET /api/v1/projects/:project_id/experiments/:experiment_id/artifacts': 'viewer',
  'PUT /api/v1/projects/:project_id/experiments/:experiment_id/artifacts': 'researcher',
  'GET /api/v1/projects/:project_id/experiments/:experiment_id/artifacts/:artifact_id': 'viewer',
  'POST /api/v1/projects/:project_id/experiments/:experiment_id/references': 'researcher',
  'DELETE /api/v1/projects/:project_id/experiments/:experiment_id/references/:to_experiment': 'researcher',
  'GET /api/v1/projects/:project_id/experiments/:experiment_id/lineage': 'viewer',
  'GET /api/v1/projects/:project_id/feature-diff': 'viewer',
  'GET /api/v1/projects/:project_id/hypotheses': 'viewer',
  'POST /api/v1/projects/:project_id/hypotheses': 'researcher',
  'GET /api/v1/projects/:project_id/hypotheses/:hypothesis_id': 'viewer',
  'PATCH /api/v1/projects/:project_id/hypotheses/:hypothesis_id': 'researcher',
  'DELETE /api/v1/projects/:project_id/hypotheses/:hypothesis_id': 'researcher',
  'POST /api/v1/projects/:project_id/hypotheses/:hypothesis_id/evaluate': 'researcher',
  'GET /api/v1/projects/:project_id/hypotheses/:hypothesis_id/evaluations': 'viewer',
  'GET /api/v1/projects/:project_id/hypotheses/:hypothesis_id/evidence': 'viewer',
  'GET /api/v1/projects/:project_id/metrics': 'viewer',
  'PUT /api/v1/projects/:project_id/metrics/:metric_name': 'researcher',
  'DELETE /api/v1/projects/:project_id/metrics/:metric_name': 'researcher',
  'POST /api/v1/metrics/log/:project_id/:experiment_id': 'researcher',
  'POST /api/v1/metrics/batch/:project_id/:experiment_id': 'researcher',
  'GET /api/v1/metrics/timeseries/:project_id/:experiment_id/:metric_name': 'viewer',
  'GET /api/v1/metrics/secure/timeseries/:project_id/:experiment_id/:metric_name': 'viewer',
  'GET /api/v1/metrics/summary/:project_id/:experiment_id': 'viewer',
  'POST /api/v1/metrics/compare': 'viewer',
  'POST /api/v1/metrics/series': 'viewer',
  'GET /api/v1/projects/:project_id/runs-table': 'viewer',
  'GET /api/v1/metrics/names/:project_id/:experiment_id': 'viewer',
  'DELETE /api/v1/metrics/:project_id/:experiment_id': 'researcher',
  'GET /api/v1/me': 'viewer',
  'GET /api/v1/api-keys': 'viewer',
  'POST /api/v1/api-keys': 'viewer',
  // the object is a key of another member (the admin's): revoking one's own key needs no role
  'DELETE /api/v1/api-keys/:key_id': 'admin',
  'GET /api/v1/members': 'viewer',
  'POST /api/v1/members': 'admin',
  'DELETE /api/v1/members/:user_id': 'admin',
  'POST /api/v1/admin/teams': 'admin-token',
  'PUT /api/v1/admin/users/password': 'admin-token',
  'POST /api/v1/admin/backup': 'admin-token',
  'GET /api/v1/admin/doctor': 'admin-token',
  'POST /api/v1/auth/login': 'public',
  'POST /api/v1/auth/redeem': 'public',
  'GET /api/v1/auth/session': 'viewer',
  'POST /api/v1/auth/logout': 'viewer',
  'POST /api/v1/auth/switch-team': 'session-only',
  'PUT /api/v1/auth/password': 'session-only',
};
const RANK: Record<Role, number> = { viewer: 0, researcher: 1, admin: 2 };
type Target = 'own' | 'other' | 'missing' | 'malformed';
// path parameters validated as UUIDs (422 when malformed); the others take a UUID or a name (404)
const UUID_ONLY = new Set(['key_id', 'user_id']);

let srv: TestServer;
let a: TestTeam;
let b: TestTeam;
let keys: Record<Role | 'revoked' | 'none', ApiClient>;
let own: Record<string, string>;
let other: Record<string, string>;
let secrets: string[];

/** A full set of objects of a team: project, runs with points, hypothesis, artifact, reference, metric config, a spare key, a member. */
async function seed(api: ApiClient, tag: string): Promise<Record<string, string>> {
  const project = `${tag}-project-${randomUUID().slice(0, 6)}`;
  const run = await seedRun(api, project, `${tag}-run`);
  await seedRun(api, project, `${tag}-other-run`);
  const e = `${run.projectId}/${run.experimentId}`;
  const ok = (r: Res, what: string) => {
    if (r.status >= 300) throw new Error(`seed ${what}: ${r.status} ${JSON.stringify(r.body)}`);
    return r;
  };
  ok(await api.post(`/metrics/batch/${e}`, { metrics: [0, 1, 2].map((i) => ({ metric_name: 'loss', metric_value: i, step: i })) }), 'points');
  const hyp = ok(await api.post(`/projects/${run.projectId}/hypotheses`, { key: `${tag}-hyp`, baseline_experiment: `${tag}-run`, target_metrics: ['loss'] }), 'hypothesis');
  ok(await api.post(`/projects/${run.projectId}/hypotheses/${hyp.body.id}/evaluate`), 'evaluate');
  ok(await api.put(`/projects/${run.projectId}/metrics/loss`, { direction: 'minimize', description: `${tag}-config` }), 'metric config');
  ok(await api.post(`/projects/${run.projectId}/experiments/${run.experimentId}/references`, { to_experiment: `${tag}-other-run`, kind: 'compares_to' }), 'reference');
  const art = ok(await api.call('PUT', `/projects/${e.replace('/', '/experiments/')}/artifacts?path=${tag}.bin`, Buffer.from(tag), { 'content-type': 'application/octet-stream' }), 'artifact');
  const key = ok(await api.post('/api-keys', { name: `${tag}-spare-key` }), 'key');
  const member = ok(await api.post('/members', { email: `${tag}-${randomUUID().slice(0, 6)}@example.com`, role: 'viewer', name: `${tag}-member` }), 'member');
  return {
    project_id: run.projectId, experiment_id: run.experimentId, metric_name: 'loss', hypothesis_id: hyp.body.id, artifact_id: art.body.id,
    to_experiment: `${tag}-other-run`, key_id: key.body.id, user_id: member.body.user_id, project_name: project,
  };
}

const MISSING: Record<string, string> = { project_id: randomUUID(), experiment_id: randomUUID(), metric_name: 'no-such-metric', hypothesis_id: randomUUID(), artifact_id: randomUUID(), to_experiment: randomUUID(), key_id: randomUUID(), user_id: randomUUID() };
const MALFORMED = 'not a uuid %00 ../';

function idsFor(target: Target, base: Record<string, string>): Record<string, string> {
  if (target === 'own') return base;
  if (target === 'other') return other;
  if (target === 'missing') return MISSING;
  return Object.fromEntries(Object.keys(MISSING).map((k) => [k, MALFORMED]));
}

/** A request that succeeds for the object's owner with enough role; only the path's object varies. */
function request(method: string, url: string, ids: Record<string, string>): { url: string; body?: unknown; headers?: Record<string, string> } {
  const u = url.replace(/:(\w+)/g, (_, n: string) => encodeURIComponent(ids[n])).replace(/^\/api\/v1/, '');
  const n = randomUUID().slice(0, 8);
  if (url.endsWith('/metrics/compare')) return { url: `${u}?project_id=${encodeURIComponent(ids.project_id)}&experiment_ids=${encodeURIComponent(ids.experiment_id)}` };
  if (url.endsWith('/metrics/series')) return { url: u, body: { project_id: ids.project_id, series: [{ experiment_id: ids.experiment_id, metric_name: 'loss' }] } };
  if (url.endsWith('/feature-diff')) return { url: `${u}?experiment_ids=${encodeURIComponent(ids.experiment_id)}` };
  if (url.endsWith('/artifacts') && method === 'PUT') return { url: `${u}?path=m-${n}.bin`, body: Buffer.from('x'), headers: { 'content-type': 'application/octet-stream' } };
  if (url.endsWith('/hypotheses') && method === 'POST') return { url: u, body: { key: `h-${n}`, baseline_experiment: ids.experiment_id, target_metrics: ['loss'] } };
  if (url.endsWith('/:hypothesis_id') && method === 'PATCH') return { url: u, body: { statement: `s-${n}` } };
  if (url.endsWith('/metrics/:metric_name') && method === 'PUT') return { url: u, body: { direction: 'minimize' } };
  if (url.endsWith('/references') && method === 'POST') return { url: u, body: { to_experiment: ids.to_experiment, kind: 'derived_from' } };
  if (url.includes('/metrics/log/')) return { url: u, body: { metric_name: 'loss', metric_value: 1, step: 10 } };
  if (url.includes('/metrics/batch/')) return { url: u, body: { metrics: [{ metric_name: 'loss', metric_value: 1, step: 11 }] } };
  if (url.endsWith('/experiments') && method === 'POST') return { url: u, body: { name: `e-${n}` } };
  if (url.endsWith('/code')) return { url: u, body: { commit: 'abc' } };
  if (url.endsWith('/api-keys') && method === 'POST') return { url: u, body: { name: `k-${n}` } };
  if (url.endsWith('/members') && method === 'POST') return { url: u, body: { email: `m-${n}@example.com`, role: 'viewer' } };
  if (url.endsWith('/projects') && method === 'POST') return { url: u, body: { name: `p-${n}` } };
  if (url.endsWith('/admin/teams')) return { url: u, body: { name: `t-${n}` } };
  // a directory that is not empty: the token's holder gets the service's 409 in both store modes
  // (server stores are refused first), and no backup is written by the matrix
  if (url.endsWith('/admin/backup')) return { url: u, body: { dir: import.meta.dirname } };
  // the admin of team a (createTeam's default email)
  if (url.endsWith('/admin/users/password')) return { url: u, body: { email: `admin@${a.name}.local`, password: `pw-${n}-long-enough` } };
  if (url.endsWith('/auth/login')) return { url: u, body: { email: `nobody-${n}@example.com`, password: 'a guess' } };
  if (url.endsWith('/auth/redeem')) return { url: u, body: { token: `bogus-${n}` } };
  if (url.endsWith('/auth/switch-team')) return { url: u, body: { team: a.teamId } };
  if (url.endsWith('/auth/password')) return { url: u, body: { new_password: `pw-${n}-long-enough` } };
  if (url.endsWith('/:experiment_id') && method === 'PATCH') return { url: u, body: { description: `d-${n}` } };
  if (method === 'PATCH') return { url: u, body: { description: `d-${n}` } };
  return { url: u };
}

beforeAll(async () => {
  srv = await startTestServer({ ASSAY_RATE_LIMIT_PER_MINUTE: '0' });
  a = await srv.newTeam('matrix-a');
  b = await srv.newTeam('matrix-b');
  const roleKey = async (role: Role) => {
    if (role === 'admin') return a.api;
    const m = await a.api.post('/members', { email: `${role}-${randomUUID().slice(0, 6)}@example.com`, role });
    const k = await a.api.post('/api-keys', { name: `${role}-key`, user_id: m.body.user_id, role });
    expect([m.status, k.status, k.body.role]).toEqual([201, 201, role]);
    return apiClient(srv.app, k.body.api_key);
  };
  const revoked = await a.api.post('/api-keys', { name: 'revoked' });
  expect((await a.api.call('DELETE', `/api-keys/${revoked.body.id}`)).status).toBe(200);
  keys = { admin: a.api, researcher: await roleKey('researcher'), viewer: await roleKey('viewer'), revoked: apiClient(srv.app, revoked.body.api_key), none: apiClient(srv.app, undefined) };
  own = await seed(a.api, 'alpha');
  other = await seed(b.api, 'bravo');
  secrets = [...Object.entries(other).filter(([k]) => k !== 'metric_name').map(([, v]) => v), b.teamId, b.userId, b.name, 'bravo-hyp', 'bravo-config', 'bravo-run', 'bravo-spare-key', 'bravo-member'];
}, 300_000);
afterAll(() => srv?.close());

describe('tenant × role matrix', () => {
  it('every /api/v1 route has a minimum role', () => {
    const missing = srv.routes.filter((r) => r.url.startsWith('/api/v1/') && !(`${r.method} ${r.url}` in MIN_ROLE));
    expect(missing.map((r) => `${r.method} ${r.url}`)).toEqual([]);
  });

  it('each cell answers as declared, another team is indistinguishable from nothing, and nothing of it leaks', async () => {
    const wrong: string[] = [];
    let cells = 0;
    for (const route of srv.routes.filter((r) => r.url.startsWith('/api/v1/'))) {
      const key = `${route.method} ${route.url}`;
      const min = MIN_ROLE[key];
      const params = [...route.url.matchAll(/:(\w+)/g)].map((m) => m[1]);
      const targets: Target[] = params.length ? ['own', 'other', 'missing', 'malformed'] : ['own'];
      for (const who of ['none', 'revoked', 'viewer', 'researcher', 'admin'] as const) {
        const seen: Partial<Record<Target, number>> = {};
        for (const target of targets) {
          // a cell that may delete gets fresh objects of its own
          const deletes = route.method === 'DELETE' && target === 'own' && who !== 'none' && who !== 'revoked';
          const base = deletes ? await seed(a.api, `alpha-${randomUUID().slice(0, 4)}`) : own;
          const req = request(route.method, route.url, idsFor(target, base));
          const client = min === 'admin-token' && who === 'admin' ? apiClient(srv.app, srv.adminToken) : keys[who];
          const r = await client.call(route.method, req.url, req.body, req.headers);
          cells++;
          seen[target] = r.status;
          const text = JSON.stringify(r.body) ?? '';
          for (const s of secrets) if (text.includes(s)) wrong.push(`${key} ${who} ${target}: body leaks ${s}`);
          let ok: boolean;
          if (min === 'public') ok = [400, 401].includes(r.status);
          else if (who === 'none' || who === 'revoked') ok = r.status === 401;
          else if (min === 'session-only') ok = r.status === 400;
          else if (min === 'admin-token') ok = r.status === (who === 'admin' ? (ADMIN_TOKEN_STATUS[key] ?? (route.method === 'POST' ? 201 : 200)) : 401);
          else if (RANK[who] < RANK[min]) ok = target === 'own' ? r.status === 403 : [403, 404].includes(r.status) || (target === 'malformed' && r.status === 422);
          else if (target === 'own') ok = r.status >= 200 && r.status < 300;
          else if (target === 'malformed') ok = r.status === (params.some((p) => UUID_ONLY.has(p)) ? 422 : 404);
          else ok = r.status === 404;
          if (!ok) wrong.push(`${key} ${who} ${target}: ${r.status} ${text.slice(0, 160)}`);
        }
        if (seen.other !== seen.missing) wrong.push(`${key} ${who}: another team's object ${seen.other} ≠ nonexistent ${seen.missing}`);
      }
    }
    console.log(`role matrix: ${cells} cells`);
    expect(wrong).toEqual([]);
  }, 600_000);
});
