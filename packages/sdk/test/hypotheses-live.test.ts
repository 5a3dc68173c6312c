/** HypothesisEvaluator against a real `assay serve` (started by live-server.ts). */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssayApiError, Experiment, HypothesisEvaluator, silentLogger } from '../src/index.ts';
import { LiveServer } from './live-server.ts';
import { removeTempDirs, tempDir } from './helpers.ts';

let srv: LiveServer;
let tmp: string;

beforeAll(async () => {
  srv = await LiveServer.create();
  tmp = tempDir('assay-sdk-hyp');
});
afterAll(async () => {
  await srv?.cleanup();
  removeTempDirs();
});

async function run(project: string, name: string, features: Record<string, unknown>, finalLoss: number) {
  const exp = await Experiment.create({ project, name, apiUrl: srv.url, apiKey: srv.apiKey, spoolDir: path.join(tmp, 'spool'), systemMetrics: false, logger: silentLogger, features });
  [finalLoss * 1.5, finalLoss * 1.2, finalLoss].forEach((v, step) => exp.logMetric('loss', v, { step }));
  expect(await exp.finish('complete')).toBe(true);
}

const evaluator = (o: Partial<ConstructorParameters<typeof HypothesisEvaluator>[0]> = {}) =>
  new HypothesisEvaluator({ project: 'sdk-hyp', hypothesisId: 'h-lr', baselineExperiment: 'base_s0', targetMetrics: ['loss'], apiUrl: srv.url, apiKey: srv.apiKey, ...o });

describe('HypothesisEvaluator against a live server', () => {
  it('three seeds per arm → Supported with the README numbers; history newest first', async () => {
    const base = [0.5, 0.48, 0.46];
    const cand = [0.4, 0.38, 0.39];
    for (let s = 0; s < 3; s++) {
      await run('sdk-hyp', `base_s${s}`, { learning_rate: 1e-5, seed: s }, base[s]);
      await run('sdk-hyp', `cand_s${s}`, { learning_rate: 1e-4, seed: s }, cand[s]);
    }
    const h = evaluator({ minEffect: 0.05 });
    expect((await h.save()).min_effect).toBe(0.05);
    expect(await h.getResult()).toBeNull();
    const first = await h.evaluate();
    expect(first).toMatchObject({ status: 'Supported', leading_arm: 'learning_rate=0.0001' });
    const [m] = first.metrics;
    expect(m.t).toBeCloseTo(-0.09 / Math.sqrt(0.0005 / 3), 9);
    expect(m.df).toBeCloseTo(25 / 8.5, 9);
    expect(m.p_value).toBeCloseTo(0.0032287946013363, 9);
    expect(first.confidence).toBeCloseTo(1 - m.p_value!, 12);
    expect(await h.getResult()).toEqual(first);
    const second = await h.evaluate();
    expect((await h.evaluations()).map((e) => e.id)).toEqual([second.id, first.id]);
    expect((await h.evaluations({ limit: 1 })).map((e) => e.id)).toEqual([second.id]);
    expect((await h.info()).status).toBe('Supported');
  });

  it('a baseline that matches no experiment → AssayApiError 422 naming it; an unknown project → 404', async () => {
    const wrong = evaluator({ hypothesisId: 'h-wrong', baselineExperiment: 'base_s9' });
    const err = await wrong.evaluate().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssayApiError);
    expect((err as AssayApiError).status).toBe(422);
    expect((err as AssayApiError).message).toContain('baseline experiment "base_s9" matches no experiment in project "sdk-hyp"');
    const missing = await evaluator({ project: 'no-such-project' }).getResult().catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(AssayApiError);
    expect((missing as AssayApiError).status).toBe(404);
  });
});
