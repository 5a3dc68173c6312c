import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { apiClient, useTestServer } from './helpers.ts';

/**
 * POST /api/v1/projects/{id}/restore: Assay's own way back from MLflow's delete_experiment (the web
 * UI's Restore button). The MLflow side of the soft delete is mlflow-experiments.test.ts.
 */
const t = useTestServer('restore');
const M = '/api/2.0/mlflow';

async function viewerKey() {
  const api = t.team.api;
  const m = await api.post('/members', { email: `viewer-${randomUUID().slice(0, 6)}@example.com`, role: 'viewer' });
  const k = await api.post('/api-keys', { name: 'viewer-key', user_id: m.body.user_id, role: 'viewer' });
  expect([m.status, k.status]).toEqual([201, 201]);
  return apiClient(t.srv.app, k.body.api_key);
}

describe('restoring a deleted project', () => {
  it('brings back exactly the runs that were active, for a researcher; a viewer gets 403, another team 404', async () => {
    const api = t.team.api;
    const p = (await api.post('/projects', { name: 'binned' })).body as { id: string };
    for (const name of ['kept', 'gone']) expect((await api.post(`/projects/${p.id}/experiments`, { name })).status).toBe(201);
    expect((await api.post(`/metrics/batch/${p.id}/kept`, { metrics: [{ metric_name: 'loss', metric_value: 0.5, step: 3 }] })).status).toBe(200);
    const runId = async (name: string) => ((await api.get(`/projects/${p.id}/experiments/${name}`)).body.id as string).replace(/-/g, '');
    expect((await api.post(`${M}/runs/delete`, { run_id: await runId('gone') })).status).toBe(200);
    expect((await api.post(`${M}/experiments/delete`, { experiment_id: p.id.replace(/-/g, '') })).status).toBe(200);

    const listed = async (q = '') => (await api.get(`/projects${q}`)).body.items.filter((x: { id: string }) => x.id === p.id).map((x: { deleted_at: string | null }) => x.deleted_at !== null);
    expect([await listed(), await listed('?include_deleted=true')]).toEqual([[], [true]]);
    expect((await api.get(`/projects/${p.id}/experiments`)).status).toBe(404);

    // a viewer may look but not restore; another team cannot tell it exists
    const viewer = await viewerKey();
    expect((await viewer.get('/projects?include_deleted=true')).body.items.some((x: { id: string }) => x.id === p.id)).toBe(true);
    expect((await viewer.post(`/projects/${p.id}/restore`)).status).toBe(403);
    const b = await t.srv.newTeam('restore-b');
    const other = await b.api.post(`/projects/${p.id}/restore`);
    const none = await b.api.post(`/projects/${randomUUID()}/restore`);
    expect([other.status, other.body]).toEqual([none.status, none.body]);
    expect(other.status).toBe(404);
    expect(await listed()).toEqual([]);

    const r = await api.post('/projects/binned/restore');
    expect([r.status, r.body.id, r.body.deleted_at]).toEqual([200, p.id, null]);
    expect(await listed()).toEqual([false]);
    const names = async (q = '') => (await api.get(`/projects/${p.id}/experiments${q}`)).body.items.map((e: { name: string }) => e.name).sort();
    expect([await names(), await names('?include_deleted=true')]).toEqual([['kept'], ['gone', 'kept']]);
    expect((await api.get(`/metrics/summary/${p.id}/kept`)).body.metrics.loss).toMatchObject({ last: 0.5, last_step: 3, count: 1 });
    expect((await api.get(`${M}/experiments/get?experiment_id=${p.id.replace(/-/g, '')}`)).body.experiment.lifecycle_stage).toBe('active');
    expect((await api.post(`/metrics/batch/${p.id}/kept`, { metrics: [{ metric_name: 'loss', metric_value: 0.25, step: 4 }] })).status).toBe(200);
    // again: a no-op that answers like the first
    const again = await api.post(`/projects/${p.id}/restore`);
    expect([again.status, again.body.deleted_at]).toEqual([200, null]);
  });
});
