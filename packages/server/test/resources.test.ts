import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, seedRun, startTestServer, type TestServer, type TestTeam } from './helpers.ts';

let srv: TestServer;
let team: TestTeam;

beforeAll(async () => {
  srv = await startTestServer();
  team = await srv.newTeam('res');
});
afterAll(() => srv?.close());

describe('projects', () => {
  it('create, duplicate 409, get-or-create, get by id and name, patch, delete', async () => {
    const c = await team.api.post('/projects', { name: 'vit', description: 'vision' });
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ name: 'vit', description: 'vision', team_id: team.teamId, retention_days: 730 });
    expect((await team.api.post('/projects', { name: 'vit' })).status).toBe(409);
    const again = await team.api.post('/projects?if_exists=return', { name: 'vit' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(c.body.id);
    expect((await team.api.get(`/projects/${c.body.id}`)).body.name).toBe('vit');
    expect((await team.api.get('/projects/vit')).body.id).toBe(c.body.id);
    const p = await team.api.patch('/projects/vit', { description: 'changed' });
    expect(p.body.description).toBe('changed');
    await team.api.post('/projects', { name: 'other' });
    expect((await team.api.patch('/projects/vit', { name: 'other' })).status).toBe(409);
    expect((await team.api.delete('/projects/vit')).status).toBe(204);
    expect((await team.api.get('/projects/vit')).status).toBe(404);
  });

  it('paginates with a cursor and filters by name', async () => {
    for (let i = 0; i < 7; i++) await team.api.post('/projects', { name: `page-${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r: any = await team.api.get(`/projects?limit=3&name=page-${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...r.body.items.map((p: any) => p.name));
      cursor = r.body.next_cursor;
    } while (cursor);
    expect(seen.sort()).toEqual(Array.from({ length: 7 }, (_, i) => `page-${i}`));
    expect((await team.api.get('/projects?name=%25')).body.items).toEqual([]); // LIKE wildcards match literally
  });

  it('validates bodies with field paths (422)', async () => {
    const r = await team.api.post('/projects', { name: '' });
    expect(r.status).toBe(422);
    expect(r.body.detail[0].loc).toEqual(['body', 'name']);
    expect((await team.api.get('/projects?limit=0')).status).toBe(422);
  });
});

describe('experiments', () => {
  it('create, 409, get-or-create revives, features deep-merge, status, tags, filters', async () => {
    const { projectId } = await seedRun(team.api, 'exp-proj', 'base');
    const base = `/projects/${projectId}/experiments`;
    const c = await team.api.post(base, { name: 'r1', features: { model: { depth: 12, heads: 8 }, lr: 0.1 }, tags: ['vit', 'baseline'] });
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ status: 'running', tags: ['vit', 'baseline'], finished_at: null });
    expect((await team.api.post(base, { name: 'r1' })).status).toBe(409);

    const m = await team.api.patch(`${base}/r1`, { features: { model: { heads: 16, mlp: 4 }, optimizer: 'adam' } });
    expect(m.body.features).toEqual({ model: { depth: 12, heads: 16, mlp: 4 }, lr: 0.1, optimizer: 'adam' });

    const done = await team.api.patch(`${base}/r1`, { status: 'complete' });
    expect(done.body.status).toBe('complete');
    expect(done.body.finished_at).not.toBeNull();
    const revived = await team.api.post(`${base}?if_exists=return`, { name: 'r1' });
    expect(revived.status).toBe(200);
    expect(revived.body).toMatchObject({ id: c.body.id, status: 'running', finished_at: null });

    await team.api.post(base, { name: 'r2', tags: ['sweep'], parent_id: c.body.id });
    await team.api.patch(`${base}/r2`, { status: 'failed' });
    expect((await team.api.get(`${base}?status=failed`)).body.items.map((e: any) => e.name)).toEqual(['r2']);
    expect((await team.api.get(`${base}?tag=vit`)).body.items.map((e: any) => e.name)).toEqual(['r1']);
    expect((await team.api.get(`${base}?name=r`)).body.items.map((e: any) => e.name).sort()).toEqual(['r1', 'r2']);
    expect((await team.api.get(`${base}/r2`)).body.parent_id).toBe(c.body.id);
    expect((await team.api.patch(`${base}/r2`, { status: 'exploded' })).status).toBe(422);
    expect((await team.api.post(base, { name: 'r3', parent_id: '00000000-0000-4000-8000-000000000000' })).status).toBe(404);

    const code = await team.api.put(`${base}/r1/code`, { commit: 'abc123', branch: 'main', dirty: true, diff: '--- a\n+++ b', untracked: ['x.py'] });
    expect(code.body.git).toMatchObject({ commit: 'abc123', branch: 'main', dirty: true, untracked: ['x.py'] });

    expect((await team.api.delete(`${base}/r2`)).status).toBe(204);
    expect((await team.api.get(`${base}/r2`)).status).toBe(404);
  });

  it('start/end times: an ISO time no date can hold (leap second, before 1970) is a 422, not a 500 (found by schemathesis)', async () => {
    await team.api.post('/projects', { name: 'times' });
    expect((await team.api.post('/projects/times/experiments', { name: 't', started_at: '2026-01-02T03:04:05Z' })).body.started_at).toBe('2026-01-02T03:04:05.000Z');
    for (const bad of ['2026-01-01T23:59:60Z', '1969-12-31T23:59:59Z', '2106-02-07T06:28:16Z', -1]) {
      const p = await team.api.patch('/projects/times/experiments/t', { started_at: bad, finished_at: bad });
      expect(p.status, String(bad)).toBe(422);
      expect(JSON.stringify(p.body.detail), String(bad)).toContain('started_at');
      expect((await team.api.post('/projects/times/experiments', { name: `t${String(bad)}`, started_at: bad })).status, String(bad)).toBe(422);
    }
    const ok = await team.api.patch('/projects/times/experiments/t', { finished_at: 1_800_000_000_000 });
    expect([ok.status, ok.body.finished_at, ok.body.started_at]).toEqual([200, '2027-01-15T08:00:00.000Z', '2026-01-02T03:04:05.000Z']);
  });

  it('description (notes): set on create, changed and cleared by PATCH, limited to 10,000 code points', async () => {
    const { projectId } = await seedRun(team.api, 'desc-proj', 'base');
    const base = `/projects/${projectId}/experiments`;
    expect((await team.api.get(`${base}/base`)).body.description).toBeNull();
    const notes = 'Baseline.\nlr sweep — 🔥 see #12';
    const c = await team.api.post(base, { name: 'd1', description: notes });
    expect(c.status).toBe(201);
    expect(c.body.description).toBe(notes);
    expect((await team.api.get(`${base}/d1`)).body.description).toBe(notes);
    expect((await team.api.patch(`${base}/d1`, { description: 'v2' })).body.description).toBe('v2');
    expect((await team.api.patch(`${base}/d1`, { status: 'complete' })).body.description).toBe('v2');
    expect((await team.api.patch(`${base}/d1`, { description: null })).body.description).toBeNull();
    // 10,000 four-byte characters fit; one more does not
    const max = '🔥'.repeat(10_000);
    expect((await team.api.patch(`${base}/d1`, { description: max })).body.description).toBe(max);
    const over = await team.api.patch(`${base}/d1`, { description: max + 'x' });
    expect(over.status).toBe(422);
    expect(over.body.detail[0].loc).toEqual(['body', 'description']);
  });

  it('get-or-create of an existing run merges tags, features and description (resume)', async () => {
    const { projectId } = await seedRun(team.api, 'resume-proj', 'base');
    const base = `/projects/${projectId}/experiments`;
    const c = await team.api.post(base, { name: 'r', tags: ['a', 'b'], features: { model: { depth: 12, heads: 8 }, lr: 0.1 }, description: 'first' });
    expect(c.status).toBe(201);
    const same = await team.api.post(`${base}?if_exists=return`, { name: 'r' });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ tags: ['a', 'b'], features: { model: { depth: 12, heads: 8 }, lr: 0.1 }, description: 'first' });
    expect(same.body.updated_at).toBe(c.body.updated_at); // nothing passed, nothing written

    await team.api.patch(`${base}/r`, { status: 'complete' });
    const r = await team.api.post(`${base}?if_exists=return`, { name: 'r', tags: ['c', 'a', 'c', 'd'], features: { model: { heads: 16 }, opt: 'adam' }, description: 'resumed' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: c.body.id,
      status: 'running',
      finished_at: null,
      tags: ['a', 'b', 'c', 'd'],
      features: { model: { depth: 12, heads: 16 }, lr: 0.1, opt: 'adam' },
      description: 'resumed',
    });
    expect((await team.api.get(`${base}/r`)).body).toMatchObject({ tags: ['a', 'b', 'c', 'd'], description: 'resumed' });
    // a running run resumed with more tags gets them too; description kept when not passed
    const again = await team.api.post(`${base}?if_exists=return`, { name: 'r', tags: ['e'] });
    expect(again.body).toMatchObject({ tags: ['a', 'b', 'c', 'd', 'e'], description: 'resumed', status: 'running' });
    // concurrent resumes with different tags lose none
    await Promise.all(['x', 'y', 'z'].map((t) => team.api.post(`${base}?if_exists=return`, { name: 'r', tags: [t] })));
    expect([...(await team.api.get(`${base}/r`)).body.tags].sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'x', 'y', 'z']);
    // the merged set may not pass the tag limit
    const many = Array.from({ length: 995 }, (_, i) => `t${i}`);
    const tooMany = await team.api.post(`${base}?if_exists=return`, { name: 'r', tags: many });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.detail[0].loc).toEqual(['body', 'tags']);
    // creating is unchanged: without if_exists a duplicate is a 409 and changes nothing
    expect((await team.api.post(base, { name: 'r', tags: ['q'] })).status).toBe(409);
    expect((await team.api.get(`${base}/r`)).body.tags).not.toContain('q');
  });
});

describe('roles, keys and members', () => {
  it('viewer reads but cannot write; researcher cannot manage members; keys cannot exceed the role', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'role-proj', 'r');
    await team.api.post('/members', { email: 'viewer@example.com', role: 'viewer' });
    const researcher = await team.api.post('/members', { email: 'res@example.com', role: 'researcher' });
    expect(researcher.status).toBe(201);
    const vKey = await team.api.post('/api-keys', { name: 'v', role: 'viewer' });
    const viewer = apiClient(srv.app, vKey.body.api_key);
    expect((await viewer.get(`/projects/${projectId}`)).status).toBe(200);
    expect((await viewer.post('/projects', { name: 'nope' })).status).toBe(403);
    expect((await viewer.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics: [{ metric_name: 'a', metric_value: 1, step: 0 }] })).status).toBe(403);
    expect((await viewer.post('/api-keys', { name: 'escalate', role: 'admin' })).status).toBe(403);

    const rKey = await team.api.post('/api-keys', { name: 'r', user_id: researcher.body.user_id });
    expect(rKey.body.role).toBe('researcher');
    const res = apiClient(srv.app, rKey.body.api_key);
    expect((await res.post('/projects', { name: 'by-researcher' })).status).toBe(201);
    expect((await res.post('/members', { email: 'x@example.com', role: 'admin' })).status).toBe(403);
    expect((await res.delete(`/projects/by-researcher`)).status).toBe(403);
    expect((await res.get('/me')).body).toMatchObject({ role: 'researcher', user_id: researcher.body.user_id, team_name: team.name });

    // demoting the member caps the key immediately
    await team.api.post('/members', { email: 'res@example.com', role: 'viewer' });
    expect((await res.post('/projects', { name: 'after-demotion' })).status).toBe(403);
    // removing the member revokes their keys for this team
    expect((await team.api.delete(`/members/${researcher.body.user_id}`)).status).toBe(204);
    expect((await res.get('/me')).status).toBe(401);
    // the last admin cannot be removed
    expect((await team.api.delete(`/members/${team.userId}`)).status).toBe(409);
  });

  it('keys are shown once, stored hashed, listed without secret, and revocable', async () => {
    const k = await team.api.post('/api-keys', { name: 'ci' });
    expect(k.status).toBe(201);
    expect(k.body.api_key).toMatch(/^assay_/);
    const list = await team.api.get('/api-keys');
    expect(JSON.stringify(list.body)).not.toContain(k.body.api_key);
    expect(list.body.items.find((x: any) => x.id === k.body.id).prefix).toBe(k.body.api_key.slice(0, 12));
    const stored = await srv.ctx.pg.db.query.apiKeys.findFirst({ where: (t, { eq }) => eq(t.id, k.body.id) });
    expect(stored!.keyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored!.keyHash).not.toContain(k.body.api_key);
    const client = apiClient(srv.app, k.body.api_key);
    expect((await client.get('/me')).status).toBe(200);
    expect((await team.api.delete(`/api-keys/${k.body.id}`)).body.revoked_at).not.toBeNull();
    expect((await client.get('/me')).status).toBe(401);
  });
});

describe('service routes', () => {
  it('healthz, readyz, openapi.json describes every API route, docs, 404s', async () => {
    expect((await srv.app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    expect((await srv.app.inject('/readyz')).json()).toMatchObject({ status: 'ready', postgres: 'ok', clickhouse: 'ok' });
    const spec = (await srv.app.inject('/openapi.json')).json();
    for (const r of srv.routes) {
      // a trailing wildcard (the MLflow artifact proxy) is documented as {*}
      const p = r.url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{*}');
      const op = spec.paths[p]?.[r.method.toLowerCase()];
      expect(op, `${r.method} ${p} in OpenAPI`).toBeDefined();
      expect(op.summary, `${r.method} ${p} summary`).toBeTruthy();
    }
    expect((await srv.app.inject('/docs')).statusCode).toBeLessThan(400);
    const nf = await srv.app.inject('/api/v1/does-not-exist');
    expect(nf.statusCode).toBe(404);
    expect(nf.json()).toEqual({ detail: 'Not Found' });
  });
});
