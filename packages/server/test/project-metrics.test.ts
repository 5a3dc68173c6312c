import { describe, expect, it } from 'vitest';
import { metricConfigs } from '../src/services/metric-config.ts';
import type { Tenant } from '../src/stores/postgres/tenant.ts';
import { seedRun, useTestServer } from './helpers.ts';

const t = useTestServer('pmetrics');
const tenant = (): Tenant => ({ teamId: t.team.teamId, userId: t.team.userId, role: 'admin', keyId: '00000000-0000-0000-0000-000000000000', sessionId: null });
const defaults = { aggregation: 'last', source_type: 'scalar', expression: null, description: null, configured: false };

describe('project metrics', () => {
  it('lists every logged metric with defaults, then configured ones; PUT upserts and merges; DELETE → 204 then 404', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'pm', 'r1');
    const names = ['val/loss', 'train_error', 'acc', 'Perplexity', 'WER'];
    await t.team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics: names.map((n, i) => ({ metric_name: n, metric_value: i, step: 0 })) });
    const list = await t.team.api.get(`/projects/pm/metrics`);
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([
      { name: 'Perplexity', direction: 'minimize', ...defaults, logged: true },
      { name: 'WER', direction: 'minimize', ...defaults, logged: true },
      { name: 'acc', direction: 'maximize', ...defaults, logged: true },
      { name: 'train_error', direction: 'minimize', ...defaults, logged: true },
      { name: 'val/loss', direction: 'minimize', ...defaults, logged: true },
    ]);

    const put = await t.team.api.put(`/projects/pm/metrics/acc`, { aggregation: 'best', description: 'top-1' });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ name: 'acc', direction: 'maximize', aggregation: 'best', source_type: 'scalar', expression: null, description: 'top-1', configured: true });
    // fields left out keep their value
    const again = await t.team.api.put(`/projects/${projectId}/metrics/acc`, { direction: 'minimize' });
    expect(again.body).toMatchObject({ direction: 'minimize', aggregation: 'best', description: 'top-1' });
    // a name with a slash, URL-encoded; a metric configured before it is logged
    const slash = await t.team.api.put(`/projects/pm/metrics/${encodeURIComponent('val/loss')}`, { aggregation: 'average' });
    expect(slash.body).toMatchObject({ name: 'val/loss', direction: 'minimize', aggregation: 'average' });
    expect((await t.team.api.put(`/projects/pm/metrics/future`, { direction: 'minimize' })).status).toBe(200);
    const after = await t.team.api.get(`/projects/pm/metrics`);
    expect(after.body.items.map((m: any) => [m.name, m.direction, m.aggregation, m.configured, m.logged])).toEqual([
      ['Perplexity', 'minimize', 'last', false, true],
      ['WER', 'minimize', 'last', false, true],
      ['acc', 'minimize', 'best', true, true],
      ['future', 'minimize', 'last', true, false],
      ['train_error', 'minimize', 'last', false, true],
      ['val/loss', 'minimize', 'average', true, true],
    ]);

    const cfg = await metricConfigs(t.srv.ctx, tenant(), projectId, ['acc', 'nope_loss', 'reward', 'acc']);
    expect([...cfg.keys()]).toEqual(['acc', 'nope_loss', 'reward']);
    expect(cfg.get('acc')).toMatchObject({ direction: 'minimize', aggregation: 'best', configured: true });
    expect(cfg.get('nope_loss')).toEqual({ name: 'nope_loss', direction: 'minimize', ...defaults });
    expect(cfg.get('reward')).toEqual({ name: 'reward', direction: 'maximize', ...defaults });

    expect((await t.team.api.delete(`/projects/pm/metrics/acc`)).status).toBe(204);
    expect((await t.team.api.delete(`/projects/pm/metrics/acc`)).status).toBe(404);
    expect((await t.team.api.delete(`/projects/pm/metrics/future`)).status).toBe(204);
    const gone = await t.team.api.get(`/projects/pm/metrics`);
    expect(gone.body.items.find((m: any) => m.name === 'acc')).toEqual({ name: 'acc', direction: 'maximize', ...defaults, logged: true });
    expect(gone.body.items.map((m: any) => m.name)).not.toContain('future');
  });

  it('validates the body: enums, unknown fields, expression rules; a viewer cannot write; unknown project → 404', async () => {
    await seedRun(t.team.api, 'pm-val', 'r1');
    const put = (name: string, body: unknown) => t.team.api.put(`/projects/pm-val/metrics/${encodeURIComponent(name)}`, body);
    expect((await put('m', { direction: 'up' })).status).toBe(422);
    expect((await put('m', { aggregation: 'median' })).status).toBe(422);
    expect((await put('m', { colour: 'red' })).status).toBe(422);
    const scalarWithExpr = await put('m', { expression: 'a - b' });
    expect(scalarWithExpr.status).toBe(422);
    expect(JSON.stringify(scalarWithExpr.body.detail)).toContain('an expression needs source_type \\"derived\\"');
    const noExpr = await put('m', { source_type: 'derived' });
    expect(noExpr.status).toBe(422);
    expect(JSON.stringify(noExpr.body.detail)).toContain('needs an expression');
    expect((await put('m', { source_type: 'derived', expression: '2 * 3' })).status).toBe(422);
    expect((await put('gap', { source_type: 'derived', expression: '`val/loss` - `train/loss`' })).status).toBe(200);
    // itself, another derived metric, and making a referenced metric derived
    const self = await put('self', { source_type: 'derived', expression: 'self + 1' });
    expect(self.status).toBe(422);
    expect(JSON.stringify(self.body.detail)).toContain('cannot read \\"self\\" itself');
    const chain = await put('chain', { source_type: 'derived', expression: 'gap * 2' });
    expect(chain.status).toBe(422);
    expect(JSON.stringify(chain.body.detail)).toContain('\\"gap\\" is a derived metric');
    const flip = await put('val/loss', { source_type: 'derived', expression: 'x + 1' });
    expect(flip.status).toBe(409);
    expect(flip.body.detail).toBe('"val/loss" is used by derived metric "gap"; a derived metric cannot read another derived metric');
    // turning a derived metric back to scalar clears its expression
    expect((await put('gap', { source_type: 'scalar' })).body).toMatchObject({ source_type: 'scalar', expression: null });
    // two derived metrics naming each other, sent at once: the per-project lock lets exactly one in
    const [x, y] = await Promise.all([put('cx', { source_type: 'derived', expression: 'cy + 1' }), put('cy', { source_type: 'derived', expression: 'cx + 1' })]);
    expect([x.status, y.status].sort()).toEqual([200, 422]);
    expect((await put('cy', { source_type: 'derived', expression: 'cx + 1' })).status).toBe(x.status === 200 ? 422 : 200);
    expect((await t.team.api.put('/projects/nope/metrics/m', { direction: 'minimize' })).status).toBe(404);
    expect((await t.team.api.get('/projects/nope/metrics')).status).toBe(404);

    const viewer = await t.team.api.post('/api-keys', { name: 'ro', role: 'viewer' });
    expect(viewer.status).toBe(201);
    const { apiClient } = await import('./helpers.ts');
    const ro = apiClient(t.srv.app, viewer.body.api_key);
    expect((await ro.put('/projects/pm-val/metrics/m', { direction: 'minimize' })).status).toBe(403);
    expect((await ro.delete('/projects/pm-val/metrics/gap')).status).toBe(403);
    expect((await ro.get('/projects/pm-val/metrics')).status).toBe(200);
  });
});
