import { describe, expect, it } from 'vitest';
import { evidenceRows } from '../src/stores/clickhouse/queries/evidence.ts';
import { useTestServer, type ApiClient } from './helpers.ts';

/** Hypotheses through the API on real PGlite + chDB: definitions, evaluation rules, history, evidence rows. */

const t = useTestServer('hypotheses');

/** A run with features and, per metric, its values at steps 0, 1, …; `status` as given afterwards. */
async function run(api: ApiClient, project: string, name: string, features: Record<string, unknown>, metrics: Record<string, number[]>, status = 'complete') {
  const e = await api.post(`/projects/${project}/experiments`, { name, features });
  expect(e.status).toBe(201);
  const series = Object.entries(metrics).map(([metric_name, values]) => ({ metric_name, steps: values.map((_, i) => i), values }));
  if (series.length) expect((await api.post(`/metrics/batch/${project}/${name}`, { series })).status).toBe(200);
  if (status !== 'running') expect((await api.patch(`/projects/${project}/experiments/${name}`, { status })).status).toBe(200);
  return e.body.id as string;
}

/** Three seeds of an arm; the last step of each series carries the given final values. */
async function arm(api: ApiClient, project: string, prefix: string, lr: number, finals: Record<string, number[]>, statuses = ['complete', 'complete', 'complete']) {
  for (let s = 0; s < statuses.length; s++) {
    const metrics = Object.fromEntries(Object.entries(finals).map(([m, v]) => [m, [v[s] * 1.5, v[s] * 1.2, v[s]]]));
    await run(api, project, `${prefix}_s${s}`, { learning_rate: lr, seed: s, model: { name: 'vit_base' } }, metrics, statuses[s]);
  }
}

async function project(api: ApiClient, name: string) {
  expect((await api.post('/projects', { name })).status).toBe(201);
  return name;
}

async function hypothesis(api: ApiClient, p: string, body: Record<string, unknown>) {
  const r = await api.post(`/projects/${p}/hypotheses`, { key: 'h', baseline_experiment: 'base_s0', target_metrics: ['loss', 'accuracy'], ...body });
  expect(r.status).toBe(201);
  return r.body;
}

const evaluate = (api: ApiClient, p: string, key = 'h') => api.post(`/projects/${p}/hypotheses/${key}/evaluate`);

const BASE = { loss: [0.5, 0.48, 0.46], accuracy: [0.8, 0.81, 0.79] };

describe('hypothesis evaluation', () => {
  it('three seeds per arm, clearly better on every target metric → Supported, with the README numbers', async () => {
    const { api } = t.team;
    const p = await project(api, 'h-better');
    await arm(api, p, 'base', 1e-5, BASE);
    await arm(api, p, 'cand', 1e-4, { loss: [0.4, 0.38, 0.39], accuracy: [0.9, 0.91, 0.89] });
    await hypothesis(api, p, {});
    const r = await evaluate(api, p);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'Supported', leading_arm: 'learning_rate=0.0001', support_threshold: 0.95 });
    expect(r.body.baseline).toMatchObject({ experiments: ['base_s0', 'base_s1', 'base_s2'], n: 3, running: 0 });
    expect(r.body.arms).toHaveLength(1);
    expect(r.body.arms[0]).toMatchObject({ status: 'Supported', experiments: ['cand_s0', 'cand_s1', 'cand_s2'], features: { learning_rate: 0.0001 }, reasons: [] });
    const [lossRow, accRow] = r.body.metrics;
    // The README worked example, to the digits printed there.
    expect(lossRow).toMatchObject({ metric_name: 'loss', direction: 'minimize', aggregation: 'last', method: 'welch-t', verdict: 'Supported', n_baseline: 3, n_candidate: 3 });
    expect(lossRow.baseline_value).toBeCloseTo(0.48, 12);
    expect(lossRow.candidate_value).toBeCloseTo(0.39, 12);
    expect(lossRow.delta).toBeCloseTo(-0.09, 12);
    expect(lossRow.relative_delta).toBeCloseTo(-0.1875, 12);
    expect(lossRow.t).toBeCloseTo(-6.97137, 5);
    expect(lossRow.df).toBeCloseTo(2.94118, 5);
    expect(lossRow.p_value).toBeCloseTo(0.0032288, 7);
    expect(lossRow.confidence).toBeCloseTo(0.9967712, 7);
    expect(lossRow.score).toBeCloseTo((2 * 0.9967712053986637 - 1) * (0.1875 / (0.1875 + 0.01)), 12);
    expect(accRow).toMatchObject({ metric_name: 'accuracy', direction: 'maximize', method: 'welch-t', verdict: 'Supported' });
    // top level = the leading arm: the weakest metric's score and confidence
    expect(r.body.evidence_score).toBe(Math.min(lossRow.score, accRow.score));
    expect(r.body.confidence).toBe(Math.min(lossRow.confidence, accRow.confidence));
    expect(r.body.evidence_score).toBeGreaterThan(0.9);
    expect(r.body.message).toMatch(/^Supported: arm "learning_rate=0.0001" \(3 run\(s\)\) vs baseline base_s0: loss -18.75% \(confidence 0.9968\)/);

    // The README's worked example is this data with loss as the only target: its numbers exactly.
    await hypothesis(api, p, { key: 'h-readme', target_metrics: ['loss'] });
    const readme = (await evaluate(api, p, 'h-readme')).body;
    expect(readme).toMatchObject({ status: 'Supported', support_threshold: 0.95, refute_threshold: 0.95 });
    expect(readme.evidence_score.toFixed(4)).toBe('0.9432');
    expect(readme.confidence.toFixed(7)).toBe('0.9967712');
    expect([readme.metrics[0].t.toFixed(5), readme.metrics[0].df.toFixed(5), readme.metrics[0].p_value.toFixed(7)]).toEqual(['-6.97137', '2.94118', '0.0032288']);

    const h = await api.get(`/projects/${p}/hypotheses/h`);
    expect(h.body).toMatchObject({ status: 'Supported', evidence_score: r.body.evidence_score, confidence: r.body.confidence, last_evaluated_at: r.body.evaluated_at });
    expect(h.body.latest_evaluation).toEqual(r.body);

    // evidence rows in ClickHouse: one per target metric × candidate run, for this evaluation
    const rows = await evidenceRows(t.srv.ctx.ch, { teamId: t.team.teamId }, h.body.project_id, h.body.id, r.body.id);
    expect(rows).toHaveLength(6);
    const lossRows = rows.filter((x) => x.metric_name === 'loss').map((x) => [x.experiment_value, x.baseline_value, x.method, x.verdict, x.n_baseline, x.n_candidate, x.candidate_arm]);
    expect(lossRows.sort((a, b) => (a[0] as number) - (b[0] as number))).toEqual([
      [0.38, lossRow.baseline_value, 'welch-t', 'Supported', 3, 3, 'learning_rate=0.0001'],
      [0.39, lossRow.baseline_value, 'welch-t', 'Supported', 3, 3, 'learning_rate=0.0001'],
      [0.4, lossRow.baseline_value, 'welch-t', 'Supported', 3, 3, 'learning_rate=0.0001'],
    ]);
    expect(rows.every((x) => x.p_value !== null && x.evaluation_id === r.body.id)).toBe(true);
    const ev = await api.get(`/projects/${p}/hypotheses/h/evidence`);
    expect(ev.body.evaluation_id).toBe(r.body.id);
    expect(ev.body.items).toHaveLength(6);
  });

  it('a candidate_filter holding NUL or an unpaired surrogate anywhere is a 422, never a 500, and nothing is stored (found by schemathesis)', async () => {
    await t.team.api.post('/projects', { name: 'h-nul' });
    for (const filter of [{ lr: ['a\u0000b'] }, { lr: [{ nested: ['\ud800'] }] }, { lr: [{ ['k\u0000']: 1 }] }]) {
      const r = await t.team.api.post('/projects/h-nul/hypotheses', { key: 'h', baseline_experiment: 'b', target_metrics: ['loss'], candidate_filter: filter });
      expect(r.status, JSON.stringify(filter)).toBe(422);
      expect(JSON.stringify(r.body.detail)).toContain('candidate_filter');
    }
    expect((await t.team.api.get('/projects/h-nul/hypotheses')).body.items).toEqual([]);
    expect((await t.team.api.post('/projects/h-nul/hypotheses', { key: 'h', baseline_experiment: 'b', target_metrics: ['loss'] })).status).toBe(201);
    const p = await t.team.api.patch('/projects/h-nul/hypotheses/h', { candidate_filter: { lr: ['\u0000'] } });
    expect(p.status).toBe(422);
    expect((await t.team.api.get('/projects/h-nul/hypotheses/h')).body.candidate_filter).toBeNull();
  });

  it('clearly worse → Refuted with a negative score', async () => {
    const { api } = t.team;
    const p = await project(api, 'h-worse');
    await arm(api, p, 'base', 1e-5, BASE);
    await arm(api, p, 'cand', 1e-3, { loss: [0.7, 0.72, 0.69], accuracy: [0.6, 0.62, 0.61] });
    await hypothesis(api, p, {});
    const r = await evaluate(api, p);
    expect(r.body).toMatchObject({ status: 'Refuted', leading_arm: 'learning_rate=0.001' });
    expect(r.body.metrics.map((m: any) => m.verdict)).toEqual(['Refuted', 'Refuted']);
    expect(r.body.evidence_score).toBeLessThan(-0.9);
    expect(r.body.confidence).toBeGreaterThan(0.99);
    expect(r.body.confidence).toBe(Math.max(...r.body.metrics.map((m: any) => m.p_value)));
  });

  it('one run per arm → Testing, method single-run, no p-value', async () => {
    const { api } = t.team;
    const p = await project(api, 'h-single');
    await run(api, p, 'base_s0', { learning_rate: 1e-5 }, { loss: [0.9, 0.5], accuracy: [0.5, 0.8] });
    await run(api, p, 'cand', { learning_rate: 1e-4 }, { loss: [0.9, 0.4], accuracy: [0.5, 0.9] });
    await hypothesis(api, p, {});
    const r = await evaluate(api, p);
    expect(r.body).toMatchObject({ status: 'Testing', evidence_score: 0, confidence: 0 });
    for (const m of r.body.metrics) expect(m).toMatchObject({ method: 'single-run', p_value: null, t: null, df: null, confidence: null, verdict: 'Testing', n_baseline: 1, n_candidate: 1 });
    expect(r.body.metrics[0].delta).toBeCloseTo(-0.1, 12);
    expect(r.body.message).toContain('single run, indicative');
  });

  it('a candidate replicate still running → Testing, though the data would support', async () => {
    const { api } = t.team;
    const p = await project(api, 'h-running');
    await arm(api, p, 'base', 1e-5, BASE);
    await arm(api, p, 'cand', 1e-4, { loss: [0.4, 0.38, 0.39], accuracy: [0.9, 0.91, 0.89] }, ['complete', 'complete', 'running']);
    await hypothesis(api, p, {});
    const r = await evaluate(api, p);
    expect(r.body.status).toBe('Testing');
    expect(r.body.arms[0]).toMatchObject({ status: 'Testing', running: 1, reasons: ['1 run(s) of this arm still running'] });
    expect(r.body.metrics.map((m: any) => m.verdict)).toEqual(['Supported', 'Supported']);
    expect(r.body.evidence_score).toBeGreaterThan(0.9);
    // once it finishes, the same evidence supports
    expect((await api.patch(`/projects/${p}/experiments/cand_s2`, { status: 'complete' })).status).toBe(200);
    expect((await evaluate(api, p)).body.status).toBe('Supported');
  });

  it('a target metric without data → Testing', async () => {
    const { api } = t.team;
    const p = await project(api, 'h-nodata');
    await arm(api, p, 'base', 1e-5, { loss: BASE.loss });
    await arm(api, p, 'cand', 1e-4, { loss: [0.4, 0.38, 0.39] });
    await hypothesis(api, p, {});
    const r = await evaluate(api, p);
    expect(r.body.status).toBe('Testing');
    expect(r.body.metrics[1]).toMatchObject({ metric_name: 'accuracy', method: 'no-data', n_baseline: 0, n_candidate: 0, baseline_value: null, verdict: 'Testing' });
    expect(r.body.arms[0].reasons).toEqual(['accuracy: no data in the baseline arm']);
    expect(r.body.evidence_score).toBe(0);
  });

  it('the evidence score orders hypotheses by strength of evidence', async () => {
    const { api } = t.team;
    const p = await project(api, 'h-score');
    await arm(api, p, 'base', 1e-5, { accuracy: [0.8, 0.81, 0.79] });
    await arm(api, p, 'small', 2e-5, { accuracy: [0.82, 0.83, 0.81] });
    await arm(api, p, 'large', 1e-4, { accuracy: [0.9, 0.91, 0.89] });
    await arm(api, p, 'noisy', 3e-5, { accuracy: [0.86, 0.95, 0.89] });
    const score = async (key: string, prefix: string) => {
      await hypothesis(api, p, { key, target_metrics: ['accuracy'], candidate_experiments: [0, 1, 2].map((s) => `${prefix}_s${s}`) });
      return (await evaluate(api, p, key)).body.evidence_score as number;
    };
    const [small, large, noisy] = [await score('h-small', 'small'), await score('h-large', 'large'), await score('h-noisy', 'noisy')];
    expect(small).toBeGreaterThan(0);
    expect(small).toBeLessThan(large);
    expect(noisy).toBeLessThan(large); // same mean effect as `large`, more spread
  });

  it('candidates: explicit list, feature filter, or every other run; unknown names → 422 naming them', async () => {
    const { api } = t.team;
    const p = await project(api, 'h-cands');
    await arm(api, p, 'base', 1e-5, BASE);
    await arm(api, p, 'lr4', 1e-4, BASE);
    await run(api, p, 'deep', { learning_rate: 1e-5, model: { name: 'vit_large' } }, BASE);
    await hypothesis(api, p, { key: 'all' });
    expect((await evaluate(api, p, 'all')).body.arms.map((a: any) => [a.arm, a.n])).toEqual([
      ['learning_rate=0.0001', 3],
      ['model.name="vit_large"', 1],
    ]);
    await hypothesis(api, p, { key: 'filter', candidate_filter: { 'model.name': ['vit_large'] } });
    expect((await evaluate(api, p, 'filter')).body.arms.map((a: any) => a.experiments)).toEqual([['deep']]);
    await hypothesis(api, p, { key: 'list', candidate_experiments: ['lr4_s0', 'lr4_s1'] });
    const listed = await evaluate(api, p, 'list');
    expect(listed.body.arms.map((a: any) => a.experiments)).toEqual([['lr4_s0', 'lr4_s1']]);
    expect(listed.body.support_threshold).toBe(0.95);
    await hypothesis(api, p, { key: 'ghosts', candidate_experiments: ['lr4_s0', 'nope', 'nada'] });
    const bad = await evaluate(api, p, 'ghosts');
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0].msg).toBe('candidate experiments "nope", "nada" matches no experiment in project "h-cands"');
  });

  it('a baseline name that matches no experiment → 422 naming it (with the near names)', async () => {
    const { api } = t.team;
    const p = await project(api, 'vision_transformer');
    await run(api, p, 'vit_base_lr_1e-05', { learning_rate: 1e-5 }, { loss: [1, 0.5] });
    await hypothesis(api, p, { key: 'h-lr-comparison', baseline_experiment: 'vit_base_lr_1e5' });
    const r = await evaluate(api, p, 'h-lr-comparison');
    expect(r.status).toBe(422);
    expect(r.body.detail).toEqual([
      { loc: ['baseline_experiment'], msg: 'baseline experiment "vit_base_lr_1e5" matches no experiment in project "vision_transformer"; did you mean "vit_base_lr_1e-05"?', type: 'value_error' },
    ]);
    expect((await api.get(`/projects/${p}/hypotheses/h-lr-comparison/evaluations`)).body.items).toEqual([]);
  });
});

describe('hypothesis definitions', () => {
  it('create, get by key or id, list with status, patch, if_exists=return, 409, delete', async () => {
    const { api } = t.team;
    const p = await project(api, 'h-crud');
    const created = await api.post(`/projects/${p}/hypotheses`, { key: 'h-lr', statement: 'lr 1e-4 beats 1e-5', baseline_experiment: 'not-yet', target_metrics: ['loss'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      key: 'h-lr',
      statement: 'lr 1e-4 beats 1e-5',
      baseline_experiment: 'not-yet',
      target_metrics: ['loss'],
      candidate_experiments: null,
      candidate_filter: null,
      confidence_threshold: 0.95,
      min_effect: 0,
      status: 'Testing',
      evidence_score: null,
      confidence: null,
      last_evaluated_at: null,
    });
    expect((await api.get(`/projects/${p}/hypotheses/${created.body.id}`)).body).toEqual({ ...created.body, latest_evaluation: null });
    expect((await api.post(`/projects/${p}/hypotheses`, { key: 'h-lr', baseline_experiment: 'x', target_metrics: ['loss'] })).status).toBe(409);
    const again = await api.post(`/projects/${p}/hypotheses?if_exists=return`, { key: 'h-lr', baseline_experiment: 'fixed', target_metrics: ['loss', 'acc'] });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: created.body.id, baseline_experiment: 'fixed', target_metrics: ['loss', 'acc'] });
    const patched = await api.patch(`/projects/${p}/hypotheses/h-lr`, { min_effect: 0.02 });
    expect(patched.body).toMatchObject({ min_effect: 0.02, confidence_threshold: 0.95, baseline_experiment: 'fixed' });
    await api.post(`/projects/${p}/hypotheses`, { key: 'h-other', baseline_experiment: 'x', target_metrics: ['loss'] });
    expect((await api.patch(`/projects/${p}/hypotheses/h-other`, { key: 'h-lr' })).status).toBe(409);
    expect((await api.get(`/projects/${p}/hypotheses`)).body.items.map((h: any) => [h.key, h.status])).toEqual([
      ['h-lr', 'Testing'],
      ['h-other', 'Testing'],
    ]);
    expect((await api.get(`/projects/${p}/hypotheses?status=Supported`)).body.items).toEqual([]);
    expect((await api.post(`/projects/${p}/hypotheses`, { key: 'bad', baseline_experiment: 'x', target_metrics: [] })).status).toBe(422);
    expect((await api.post(`/projects/${p}/hypotheses`, { key: 'bad', baseline_experiment: 'x', target_metrics: ['l'], confidence_threshold: 1.5 })).status).toBe(422);
    expect((await api.delete(`/projects/${p}/hypotheses/h-lr`)).status).toBe(204);
    expect((await api.get(`/projects/${p}/hypotheses/h-lr`)).status).toBe(404);
    expect((await api.post(`/projects/${p}/hypotheses/h-lr/evaluate`)).status).toBe(404);
  });

  it('evaluations: every past one, newest first, limited', async () => {
    const { api } = t.team;
    const p = await project(api, 'h-history');
    await run(api, p, 'base_s0', { learning_rate: 1e-5 }, { loss: [1, 0.5] });
    await hypothesis(api, p, { target_metrics: ['loss'] });
    const first = (await evaluate(api, p)).body;
    await run(api, p, 'cand', { learning_rate: 1e-4 }, { loss: [1, 0.4] });
    const second = (await evaluate(api, p)).body;
    expect(first.message).toBe('Testing: no candidate runs besides the baseline arm of base_s0');
    expect(second.arms).toHaveLength(1);
    const all = await api.get(`/projects/${p}/hypotheses/h/evaluations`);
    expect(all.body.items.map((e: any) => e.id)).toEqual([second.id, first.id]);
    expect(all.body.items[1]).toEqual(first);
    expect((await api.get(`/projects/${p}/hypotheses/h/evaluations?limit=1`)).body.items.map((e: any) => e.id)).toEqual([second.id]);
    const ev = await api.get(`/projects/${p}/hypotheses/h/evidence?evaluation_id=${first.id}`);
    expect(ev.body).toEqual({ evaluation_id: first.id, items: [] });
  });
});
