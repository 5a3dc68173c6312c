import { describe, expect, it } from 'vitest';
import { projectByExperimentId, setExperimentDeleted } from '../src/services/mlflow/experiments.ts';
import type { Tenant } from '../src/stores/postgres/tenant.ts';
import { useTestServer } from './helpers.ts';

/**
 * Hostile timestamps and steps on restored and deleted runs, and deletes/restores racing each
 * other and metric writes, through MLflow's REST API: every answer is a 2xx or a clear 4xx. A
 * log-metric with timestamp 0 on a restored run once answered 503 and then 500 under load in an
 * earlier session; that did not reproduce (docs/mlflow.md), this guards the paths it could take.
 */
const t = useTestServer('mlflow-race', { ASSAY_RATE_LIMIT_PER_MINUTE: '0' });
const M = '/api/2.0/mlflow';
type Res = { status: number; body: { error_code?: string; message?: string } };
const err = (r: Res) => [r.status, r.body.error_code, r.body.message];

async function experimentWithRun(name: string) {
  const api = t.team.api;
  const exp = (await api.post(`${M}/experiments/create`, { name })).body.experiment_id as string;
  const run = (await api.post(`${M}/runs/create`, { experiment_id: exp, start_time: 1 })).body.run.info.run_id as string;
  return { exp, run };
}

describe('MLflow lifecycle under hostile input', () => {
  it('timestamps and steps at and past the edges, on a deleted and a restored run', async () => {
    const api = t.team.api;
    const { exp, run } = await experimentWithRun('edges');
    const log = (timestamp: unknown, step: unknown = 0) => api.post(`${M}/runs/log-metric`, { run_id: run, key: 'x', value: 1, timestamp, step });
    expect((await api.post(`${M}/runs/delete`, { run_id: run })).status).toBe(200);
    expect(err(await log(0))).toEqual([400, 'INVALID_PARAMETER_VALUE', `The run ${run} must be in the 'active' state. Current state is deleted.`]);
    expect((await api.post(`${M}/runs/restore`, { run_id: run })).status).toBe(200);
    expect((await api.post(`${M}/experiments/delete`, { experiment_id: exp })).status).toBe(200);
    expect(err(await log(0))[0]).toBe(400);
    expect((await api.post(`${M}/experiments/restore`, { experiment_id: exp })).status).toBe(200);

    const max = 4_294_967_295_999;
    for (const [ts, step] of [[0, 0], ['0', 1], [max, 2], [String(max), 3]] as const) expect((await log(ts, step)).status).toBe(200);
    const refused: [unknown, unknown, string][] = [
      [-1, 0, "Metric 'x' has timestamp -1: Assay stores epoch milliseconds from 0 to 4294967295999"],
      [max + 1, 0, "Metric 'x' has timestamp 4294967296000: Assay stores epoch milliseconds from 0 to 4294967295999"],
      ['9223372036854775807', 0, 'Invalid value "9223372036854775807" for parameter \'timestamp\' supplied: expected an integer'],
      ['-9223372036854775808', 0, 'Invalid value "-9223372036854775808" for parameter \'timestamp\' supplied: expected an integer'],
      [0.5, 0, "Invalid value 0.5 for parameter 'timestamp' supplied: expected an integer"],
      [0, -1, "Metric 'x' has step -1: Assay stores steps >= 0"],
      [0, '9223372036854775807', 'Invalid value "9223372036854775807" for parameter \'step\' supplied: expected an integer'],
    ];
    for (const [ts, step, message] of refused) expect(err(await log(ts, step))).toEqual([400, 'INVALID_PARAMETER_VALUE', message]);
    const h = await api.get(`${M}/metrics/get-history?run_id=${run}&metric_key=x`);
    expect(h.body.metrics.map((m: { timestamp: number; step: number }) => [m.step, m.timestamp])).toEqual([[0, 0], [1, 0], [2, max], [3, max]]);
  });

  it('concurrent deletes of one experiment: one wins, the others are told it does not exist (MLflow)', async () => {
    const api = t.team.api;
    const { exp } = await experimentWithRun('twice');
    const statuses = async (path: string) => (await Promise.all(Array.from({ length: 6 }, () => api.post(`${M}/experiments/${path}`, { experiment_id: exp })))).map((r) => r.status).sort();
    expect(await statuses('delete')).toEqual([200, 404, 404, 404, 404, 404]);
    expect(await statuses('restore')).toEqual([200, 404, 404, 404, 404, 404]);
    // the interleaving itself: two requests read the experiment active, then both delete it
    const tenant: Tenant = { teamId: t.team.teamId, userId: t.team.userId, role: 'admin', keyId: null, sessionId: null };
    const stale = await projectByExperimentId(t.srv.ctx, tenant, exp);
    await setExperimentDeleted(t.srv.ctx, tenant, stale, true);
    const deletedAt = (await projectByExperimentId(t.srv.ctx, tenant, exp)).deletedAt;
    await expect(setExperimentDeleted(t.srv.ctx, tenant, stale, true)).rejects.toMatchObject({ code: 'RESOURCE_DOES_NOT_EXIST', message: `No Experiment with id=${exp} exists` });
    expect((await projectByExperimentId(t.srv.ctx, tenant, exp)).deletedAt).toEqual(deletedAt);
    expect((await api.post(`${M}/experiments/restore`, { experiment_id: exp })).status).toBe(200);
    // Assay's restore is idempotent: every concurrent call answers with the active project
    expect((await api.post(`${M}/experiments/delete`, { experiment_id: exp })).status).toBe(200);
    const dashed = `${exp.slice(0, 8)}-${exp.slice(8, 12)}-${exp.slice(12, 16)}-${exp.slice(16, 20)}-${exp.slice(20)}`;
    const restored = await Promise.all(Array.from({ length: 6 }, () => api.post(`/projects/${dashed}/restore`)));
    expect(restored.map((r) => [r.status, r.body.deleted_at])).toEqual(Array.from({ length: 6 }, () => [200, null]));
  });

  it('deletes and restores racing metric writes answer 2xx or a 4xx, never a 5xx', async () => {
    const api = t.team.api;
    const { exp, run } = await experimentWithRun('racing');
    const seen = new Set<string>();
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 40 }, async (_, i) => {
        const op = i % 8;
        const r = op === 0 ? await api.post(`${M}/runs/delete`, { run_id: run })
          : op === 1 ? await api.post(`${M}/runs/restore`, { run_id: run })
          : op === 2 ? await api.post(`${M}/experiments/delete`, { experiment_id: exp })
          : op === 3 ? await api.post(`${M}/experiments/restore`, { experiment_id: exp })
          : op === 4 ? await api.post(`${M}/runs/log-batch`, { run_id: run, metrics: [{ key: 'y', value: i, timestamp: 0, step: i }], tags: [{ key: 't', value: String(i) }] })
          : await api.post(`${M}/runs/log-metric`, { run_id: run, key: 'x', value: i, timestamp: 0, step: round * 40 + i });
        seen.add(`${r.status} ${r.body.error_code ?? ''}`.trim());
      }));
    }
    expect([...seen].filter((s) => !['200', '400 INVALID_PARAMETER_VALUE', '404 RESOURCE_DOES_NOT_EXIST'].includes(s))).toEqual([]);
    // and it ends usable: restored, a write lands
    await api.post(`${M}/experiments/restore`, { experiment_id: exp });
    await api.post(`${M}/runs/restore`, { run_id: run });
    expect((await api.post(`${M}/runs/log-metric`, { run_id: run, key: 'z', value: 7, timestamp: 0, step: 0 })).status).toBe(200);
    expect((await api.get(`${M}/runs/get?run_id=${run}`)).body.run.data.metrics.find((m: { key: string }) => m.key === 'z')).toEqual({ key: 'z', value: 7, timestamp: 0, step: 0 });
  });
});
