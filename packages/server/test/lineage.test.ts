import { describe, expect, it } from 'vitest';
import { diffFeatures, flattenFeatures } from '../src/services/feature-diff.ts';
import { apiClient, useTestServer } from './helpers.ts';

describe('feature flattening and diff (pure)', () => {
  it('flattens objects to dotted keys; arrays, null and {} are leaves', () => {
    const f = flattenFeatures({ model: { depth: 12, heads: [8, 8], extra: {} }, lr: 1e-4, note: null });
    expect([...f.entries()]).toEqual([
      ['model.depth', 12],
      ['model.heads', [8, 8]],
      ['model.extra', {}],
      ['lr', 1e-4],
      ['note', null],
    ]);
  });

  it('classifies keys relative to the first run', () => {
    const d = diffFeatures(
      [
        { ref: 'a', features: { lr: 1, opt: { name: 'adam', beta: [0.9, 0.99] }, seed: 1, gone: true } },
        { ref: 'b', features: { lr: 2, opt: { beta: [0.99, 0.9], name: 'adam' }, seed: 1, fresh: 'x' } },
      ],
      false,
    );
    expect(d).toEqual([
      { key: 'fresh', change: 'added', values: { b: 'x' } },
      { key: 'gone', change: 'removed', values: { a: true } },
      { key: 'lr', change: 'changed', values: { a: 1, b: 2 } },
      { key: 'opt.beta', change: 'changed', values: { a: [0.9, 0.99], b: [0.99, 0.9] } },
    ]);
    const all = diffFeatures([{ ref: 'a', features: { x: { y: 1 } } }, { ref: 'b', features: { x: { y: 1 } } }], true);
    expect(all).toEqual([{ key: 'x.y', change: 'same', values: { a: 1, b: 1 } }]);
  });
});

describe('feature diff, references and lineage through the API', () => {
  const t = useTestServer('lineage');

  async function run(project: string, name: string, features: Record<string, unknown> = {}, parent_id?: string) {
    await t.team.api.post('/projects', { name: project });
    const r = await t.team.api.post(`/projects/${project}/experiments`, { name, features, ...(parent_id ? { parent_id } : {}) });
    expect(r.status).toBe(201);
    return r.body.id as string;
  }

  it('feature-diff by names and ids, only differing keys unless all=true; unknown run → 404 naming it', async () => {
    const a = await run('fd', 'a', { model: { depth: 12, width: 768 }, lr: 1e-4 });
    await run('fd', 'b', { model: { depth: 24, width: 768 }, lr: 1e-4, warmup: 100 });
    const r = await t.team.api.get(`/projects/fd/feature-diff?experiment_ids=${a}&experiment_ids=b`);
    expect(r.status).toBe(200);
    expect(r.body.experiments.map((e: { ref: string; name: string }) => [e.ref, e.name])).toEqual([[a, 'a'], ['b', 'b']]);
    expect(r.body.keys).toEqual([
      { key: 'model.depth', change: 'changed', values: { [a]: 12, b: 24 } },
      { key: 'warmup', change: 'added', values: { b: 100 } },
    ]);
    const all = await t.team.api.get('/projects/fd/feature-diff?experiment_ids=a&experiment_ids=b&all=true');
    expect(all.body.keys.map((k: { key: string; change: string }) => `${k.key}:${k.change}`)).toEqual([
      'lr:same',
      'model.depth:changed',
      'model.width:same',
      'warmup:added',
    ]);
    const missing = await t.team.api.get('/projects/fd/feature-diff?experiment_ids=a&experiment_ids=nope');
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toContain('"nope"');
  });

  it('compare include=features,best: feature diff and best by direction from deduplicated points', async () => {
    await run('cmpx', 'base', { lr: 1e-5 });
    await run('cmpx', 'cand', { lr: 1e-4 });
    const pts = (vals: number[], metric: string) => vals.map((metric_value, step) => ({ metric_name: metric, metric_value, step }));
    await t.team.api.post('/metrics/batch/cmpx/base', { metrics: [...pts([3, 1, 2], 'loss'), ...pts([0.1, 0.5, 0.3], 'accuracy')] });
    await t.team.api.post('/metrics/batch/cmpx/cand', { metrics: [...pts([2, 0.5, 0.7], 'loss'), ...pts([0.2, 0.6, 0.9], 'accuracy')] });
    // a re-logged step replaces its value: the old minimum 0.5 at step 1 must not count as best
    await t.team.api.post('/metrics/batch/cmpx/cand', { metrics: [{ metric_name: 'loss', metric_value: 0.8, step: 1 }] });
    const r = await t.team.api.post('/metrics/compare?project_id=cmpx&experiment_ids=base&experiment_ids=cand&include=features,best');
    expect(r.status).toBe(200);
    expect(r.body.experiments.base.loss).toMatchObject({ best: 1, direction: 'minimize', last: 2 });
    expect(r.body.experiments.base.accuracy).toMatchObject({ best: 0.5, direction: 'maximize' });
    expect(r.body.experiments.cand.loss).toMatchObject({ best: 0.7, direction: 'minimize', last: 0.7 });
    expect(r.body.experiments.cand.accuracy).toMatchObject({ best: 0.9, direction: 'maximize' });
    expect(r.body.features).toEqual([{ key: 'lr', change: 'changed', values: { base: 1e-5, cand: 1e-4 } }]);
    const plain = await t.team.api.post('/metrics/compare?project_id=cmpx&experiment_ids=base');
    expect(plain.body.features).toBeUndefined();
    expect(plain.body.experiments.base.loss.best).toBeUndefined();
    expect((await t.team.api.post('/metrics/compare?project_id=cmpx&experiment_ids=base&include=everything')).status).toBe(422);
  });

  it('parent_id by name, typed references, lineage up/down/both with depth, cycles → 409', async () => {
    const root = await run('dag', 'root');
    const child = await run('dag', 'child', {}, 'root'); // the parent named, not by UUID
    expect((await t.team.api.get(`/projects/dag/experiments/child`)).body.parent_id).toBe(root);
    const grand = await run('dag', 'grand', {}, child);
    const side = await run('dag', 'side');

    const add = await t.team.api.post('/projects/dag/experiments/grand/references', { to_experiment: 'side', kind: 'uses_checkpoint_of' });
    expect(add.status).toBe(201);
    expect(add.body).toEqual({ from: grand, to: side, kind: 'uses_checkpoint_of' });
    expect((await t.team.api.post('/projects/dag/experiments/grand/references', { to_experiment: side, kind: 'uses_checkpoint_of' })).status).toBe(200);

    const up = await t.team.api.get('/projects/dag/experiments/grand/lineage?direction=up');
    expect(up.status).toBe(200);
    expect(up.body.root).toBe(grand);
    expect(up.body.nodes.map((n: { name: string; depth: number }) => `${n.name}@${n.depth}`)).toEqual(['grand@0', 'child@1', 'side@1', 'root@2']);
    expect(up.body.edges).toEqual(
      expect.arrayContaining([
        { from: grand, to: child, kind: 'derived_from' },
        { from: grand, to: side, kind: 'uses_checkpoint_of' },
        { from: child, to: root, kind: 'derived_from' },
      ]),
    );
    expect(up.body.edges).toHaveLength(3);
    expect(up.body.truncated).toBe(false);

    const shallow = await t.team.api.get('/projects/dag/experiments/grand/lineage?direction=up&depth=1');
    expect(shallow.body.nodes.map((n: { name: string }) => n.name)).toEqual(['grand', 'child', 'side']);
    expect(shallow.body.truncated).toBe(true);
    const onlyDerived = await t.team.api.get('/projects/dag/experiments/grand/lineage?direction=up&kind=derived_from');
    expect(onlyDerived.body.nodes.map((n: { name: string }) => n.name)).toEqual(['grand', 'child', 'root']);

    const down = await t.team.api.get('/projects/dag/experiments/root/lineage?direction=down');
    expect(down.body.nodes.map((n: { name: string }) => n.name)).toEqual(['root', 'child', 'grand']);
    const both = await t.team.api.get('/projects/dag/experiments/child/lineage?direction=both');
    expect(both.body.nodes.map((n: { name: string }) => n.name)).toEqual(['child', 'grand', 'root']);

    // cycles, over every kind: root → grand would close root ← child ← grand; self-reference too
    const cyc = await t.team.api.post('/projects/dag/experiments/root/references', { to_experiment: 'grand', kind: 'compares_to' });
    expect(cyc.status).toBe(409);
    expect(cyc.body.detail).toContain('cycle');
    expect((await t.team.api.post('/projects/dag/experiments/side/references', { to_experiment: 'grand' })).status).toBe(409);
    expect((await t.team.api.post('/projects/dag/experiments/root/references', { to_experiment: 'root' })).status).toBe(409);
    expect((await t.team.api.get('/projects/dag/experiments/root/lineage?direction=up')).body.edges).toEqual([]);

    // removing the derived_from edge parent_id mirrors clears it; a second removal is 404
    expect((await t.team.api.delete('/projects/dag/experiments/child/references/root?kind=derived_from')).status).toBe(204);
    expect((await t.team.api.get('/projects/dag/experiments/child')).body.parent_id).toBeNull();
    expect((await t.team.api.delete('/projects/dag/experiments/child/references/root')).status).toBe(404);
    // now root → grand is no cycle any more
    expect((await t.team.api.post('/projects/dag/experiments/root/references', { to_experiment: 'grand', kind: 'compares_to' })).status).toBe(201);
    // …and side → root now would be one (side ← grand ← root)
    expect((await t.team.api.post('/projects/dag/experiments/side/references', { to_experiment: 'root' })).status).toBe(409);
    // adding derived_from to a run without a parent sets parent_id
    await run('dag', 'lone');
    expect((await t.team.api.post('/projects/dag/experiments/lone/references', { to_experiment: 'root' })).status).toBe(201);
    expect((await t.team.api.get('/projects/dag/experiments/lone')).body.parent_id).toBe(root);
  });

  it('references across projects and teams are 404; bad kinds are 422; a viewer cannot add references', async () => {
    await run('dag-a', 'x');
    const other = await run('dag-b', 'y');
    const cross = await t.team.api.post('/projects/dag-a/experiments/x/references', { to_experiment: other });
    expect(cross.status).toBe(404);
    expect((await t.team.api.post('/projects/dag-a/experiments/x/references', { to_experiment: 'y' })).status).toBe(404);
    const team2 = await t.srv.newTeam('lineage-other');
    await team2.api.post('/projects', { name: 'dag-a' });
    await team2.api.post('/projects/dag-a/experiments', { name: 'z' });
    const z = (await team2.api.get('/projects/dag-a/experiments/z')).body.id;
    expect((await t.team.api.post('/projects/dag-a/experiments/x/references', { to_experiment: z })).status).toBe(404);
    expect((await t.team.api.post('/projects/dag-a/experiments/x/references', { to_experiment: 'y', kind: 'inspired_by' })).status).toBe(422);
    expect((await t.team.api.get('/projects/dag-a/experiments/x/lineage?depth=0')).status).toBe(422);
    const viewerKey = (await t.team.api.post('/api-keys', { name: 'v', role: 'viewer' })).body.api_key as string;
    const viewer = apiClient(t.srv.app, viewerKey);
    expect((await viewer.post('/projects/dag-a/experiments/x/references', { to_experiment: 'x' })).status).toBe(403);
    expect((await viewer.get('/projects/dag-a/experiments/x/lineage')).status).toBe(200);
  });
});
