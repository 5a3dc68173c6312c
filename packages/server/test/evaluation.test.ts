import { describe, expect, it } from 'vitest';
import { armKey, armResult, buildArms, combineArms, effectWeight, isSeedKey, matchesFilter, metricEvidence, thresholds, type Arm, type ArmResult, type RunInfo } from '../src/services/evaluation.ts';

/** The pure part of hypothesis evaluation: arms, verdicts, statuses, scores. */

const run = (name: string, features: Record<string, unknown>, status = 'complete'): RunInfo => ({ id: `id-${name}`, name, status, features });
const loss = { name: 'loss', direction: 'minimize' as const, aggregation: 'last' as const };
const acc = { name: 'accuracy', direction: 'maximize' as const, aggregation: 'last' as const };
const th = thresholds(0.95, 0, 1, 1);
const ev = (cfg: typeof loss | typeof acc, cand: number[], base: number[], t = th) =>
  metricEvidence(cfg, { label: 'arm', names: cand.map((_, i) => `c${i}`), values: cand }, { names: base.map((_, i) => `b${i}`), values: base }, t);

describe('arms', () => {
  it('seed-like keys: last segment seed or *_seed, any case', () => {
    expect(['seed', 'random_seed', 'training.seed', 'data.shuffle_seed', 'SEED', 'torch_seed'].map(isSeedKey)).toEqual([true, true, true, true, true, true]);
    expect(['seeds', 'seed.value', 'seedling', 'lr', 'seed_policy'].map(isSeedKey)).toEqual([false, false, false, false, false]);
  });

  it('runs equal except seed-like keys share an arm key; nesting and key order do not matter', () => {
    expect(armKey({ lr: 1e-4, opt: { name: 'adam', b: 2 }, seed: 1 })).toBe(armKey({ opt: { b: 2, name: 'adam' }, lr: 0.0001, training: { seed: 7 } }));
    expect(armKey({ lr: 1e-4 })).not.toBe(armKey({ lr: 1e-3 }));
    expect(armKey({ lr: 1e-4 })).not.toBe(armKey({ lr: 1e-4, depth: 12 }));
  });

  it('the baseline arm takes the replicates of the baseline from the whole project; candidates group by features', () => {
    const runs = [
      run('b0', { lr: 1e-5, seed: 0 }),
      run('b1', { lr: 1e-5, seed: 1 }),
      run('c0', { lr: 1e-4, seed: 0 }),
      run('c1', { lr: 1e-4, seed: 1 }),
      run('d0', { lr: 1e-3, model: { depth: 12 } }),
    ];
    const { baseline, arms } = buildArms(runs[0], runs, runs);
    expect(baseline.map((r) => r.name)).toEqual(['b0', 'b1']);
    expect(arms.map((a) => [a.label, a.runs.map((r) => r.name), a.features])).toEqual([
      ['lr=0.0001', ['c0', 'c1'], { lr: 0.0001 }],
      ['lr=0.001, model.depth=12', ['d0'], { lr: 0.001, 'model.depth': 12 }],
    ]);
  });

  it('a candidate filter matches flattened keys against listed values', () => {
    expect(matchesFilter({ model: { depth: 12 }, lr: 1e-4 }, { 'model.depth': [12, 24], lr: [1e-4] })).toBe(true);
    expect(matchesFilter({ model: { depth: 6 } }, { 'model.depth': [12, 24] })).toBe(false);
    expect(matchesFilter({ lr: 1e-4 }, { 'model.depth': [12] })).toBe(false);
  });
});

describe('metric evidence', () => {
  it('welch-t with n ≥ 2 in both arms, in the direction of improvement', () => {
    const m = ev(loss, [0.4, 0.38, 0.39], [0.5, 0.48, 0.46]);
    expect(m.method).toBe('welch-t');
    expect(m.verdict).toBe('Supported');
    expect(m.t).toBeCloseTo(-6.971370023173353, 12);
    expect(m.confidence).toBeCloseTo(0.9967712053986637, 12);
    expect(m.delta).toBeCloseTo(-0.09, 15);
    expect(m.relative_delta).toBeCloseTo(-0.1875, 15);
  });

  it('single run in an arm: indicative delta, no p-value, Testing', () => {
    const m = ev(acc, [0.9], [0.8, 0.81]);
    expect(m).toMatchObject({ method: 'single-run', p_value: null, confidence: null, t: null, verdict: 'Testing', score: 0, n_candidate: 1, n_baseline: 2 });
    expect(m.delta).toBeCloseTo(0.095, 12);
  });

  it('missing and non-finite aggregates are left out; none at all is no-data', () => {
    expect(ev(acc, [NaN, 0.9, Infinity], [0.8, null as never]).n_candidate).toBe(1);
    expect(ev(acc, [], [0.8, 0.7])).toMatchObject({ method: 'no-data', baseline_value: 0.75, candidate_value: null, delta: null });
  });

  it('confidently worse is Refuted; min_effect holds back a confident but small improvement', () => {
    expect(ev(acc, [0.7, 0.71, 0.69], [0.8, 0.81, 0.79]).verdict).toBe('Refuted');
    const small = ev(acc, [0.801, 0.8011, 0.8009], [0.8, 0.8001, 0.7999], thresholds(0.95, 0.05, 1, 1));
    expect(small.confidence).toBeGreaterThan(0.999);
    expect(small.verdict).toBe('Testing');
  });

  it('the score has the sign of the evidence and grows with effect and confidence', () => {
    const base = [0.8, 0.81, 0.79];
    const scores = [
      ev(acc, [0.7, 0.71, 0.69], base).score, // clearly worse
      ev(acc, [0.79, 0.83, 0.78], base).score, // noise
      ev(acc, [0.82, 0.83, 0.81], base).score, // better by 2.5%
      ev(acc, [0.9, 0.91, 0.89], base).score, // better by 12.5%, same spread
    ];
    expect(scores[0]).toBeLessThan(-0.8);
    expect(Math.abs(scores[1])).toBeLessThan(0.3);
    expect(scores[1]).toBeLessThan(scores[2]);
    expect(scores[2]).toBeLessThan(scores[3]);
    expect(scores[3]).toBeLessThanOrEqual(1);
    // same effect, more noise → less confidence → a smaller score
    expect(ev(acc, [0.86, 0.95, 0.89], base).score).toBeLessThan(ev(acc, [0.9, 0.91, 0.89], base).score);
    expect(effectWeight(0.01, 0.01, 0)).toBe(0.5);
    expect(effectWeight(0.05, 0.05, 0.05)).toBe(0.5);
  });
});

describe('statuses', () => {
  const arm = (runs: RunInfo[]): Arm => ({ label: 'lr=0.0001', runs, features: { lr: 0.0001 } });
  const done = [run('c0', {}), run('c1', {})];
  const good = [ev(loss, [0.4, 0.38, 0.39], [0.5, 0.48, 0.46]), ev(acc, [0.9, 0.91, 0.89], [0.8, 0.81, 0.79])];

  it('Supported needs every metric; a running run, a single run or missing data keep Testing', () => {
    expect(armResult(arm(done), 0, good, th).status).toBe('Supported');
    expect(armResult(arm([run('c0', {}), run('c1', {}, 'running')]), 0, good, th)).toMatchObject({ status: 'Testing', running: 1 });
    expect(armResult(arm(done), 1, good, th).status).toBe('Testing');
    expect(armResult(arm(done), 0, [good[0], ev(acc, [0.9], [0.8, 0.81])], th).status).toBe('Testing');
    const noData = armResult(arm(done), 0, [good[0], ev(acc, [], [0.8, 0.81])], th);
    expect(noData.status).toBe('Testing');
    expect(noData.reasons).toEqual(['accuracy: no data in the candidate arm']);
  });

  it('Refuted when any metric is confidently worse; its confidence is that of the worsening', () => {
    const r = armResult(arm(done), 0, [good[0], ev(acc, [0.7, 0.71, 0.69], [0.8, 0.81, 0.79])], th);
    expect(r.status).toBe('Refuted');
    expect(r.evidence_score).toBeLessThan(0);
    expect(r.confidence).toBeGreaterThan(0.99);
  });

  it('arms combine: any Supported → Supported (best one leads); all Refuted → Refuted; else Testing', () => {
    const a = (status: ArmResult['status'], s: number) => ({ arm: `${status}${s}`, status, evidence_score: s }) as ArmResult;
    expect(combineArms([a('Testing', 0.9), a('Supported', 0.5), a('Supported', 0.7)])).toMatchObject({ status: 'Supported', leading: { arm: 'Supported0.7' } });
    expect(combineArms([a('Refuted', -0.9), a('Refuted', -0.6)])).toMatchObject({ status: 'Refuted', leading: { arm: 'Refuted-0.6' } });
    expect(combineArms([a('Refuted', -0.9), a('Testing', 0.1)])).toMatchObject({ status: 'Testing', leading: { arm: 'Testing0.1' } });
    expect(combineArms([])).toEqual({ status: 'Testing', leading: null });
  });

  it('Bonferroni: K arms and M metrics raise the thresholds', () => {
    const t = thresholds(0.95, 0, 4, 2);
    expect(t.support).toBeCloseTo(1 - 0.05 / 4, 15);
    expect(t.refute).toBeCloseTo(1 - 0.05 / 8, 15);
  });
});
