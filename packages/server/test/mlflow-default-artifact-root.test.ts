import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { useTestServer } from './helpers.ts';

/**
 * ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT, MLflow's `mlflow server --default-artifact-root`: an experiment
 * created through the MLflow API without artifact_location gets `<root>/<experiment_id>`, its runs
 * `<root>/<experiment_id>/<run_id>/artifacts` (upstream test_rest_tracking.py's test_artifacts asserts this).
 */
const ROOT = 'file:///srv/mlflow-artifacts';
const t = useTestServer('mlflow-root', { ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT: ROOT });
const M = '/api/2.0/mlflow';

describe('ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT', () => {
  it('places new MLflow experiments under the root, named by their id; a given artifact_location wins', async () => {
    const api = t.team.api;
    const exp = await api.post(`${M}/experiments/create`, { name: 'rooted' });
    const id = exp.body.experiment_id as string;
    const got = await api.get(`${M}/experiments/get?experiment_id=${id}`);
    expect(got.body.experiment.artifact_location).toBe(`${ROOT}/${id}`);
    const run = await api.post(`${M}/runs/create`, { experiment_id: id });
    expect(run.body.run.info.artifact_uri).toBe(`${ROOT}/${id}/${run.body.run.info.run_id}/artifacts`);

    const own = await api.post(`${M}/experiments/create`, { name: 'own-location', artifact_location: 's3://bucket/x' });
    expect((await api.get(`${M}/experiments/get?experiment_id=${own.body.experiment_id}`)).body.experiment.artifact_location).toBe('s3://bucket/x');
    // a project made through Assay's own API keeps Assay's proxy
    const p = await api.post('/projects', { name: 'assay-made' });
    const viaMlflow = await api.get(`${M}/experiments/get?experiment_id=${(p.body.id as string).replace(/-/g, '')}`);
    expect(viaMlflow.body.experiment.artifact_location).toMatch(/^mlflow-artifacts:\//);
  });

  it('is a URI or an absolute path; empty means unset', () => {
    for (const ok of ['file:///tmp/a', 's3://b/p', '/data/mlflow', 'mlflow-artifacts:/shared']) {
      expect(loadConfig({ ASSAY_DATA_DIR: '/tmp/x', ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT: ok }).ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT, ok).toBe(ok);
    }
    expect(loadConfig({ ASSAY_DATA_DIR: '/tmp/x', ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT: '' }).ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT).toBeUndefined();
    for (const bad of ['relative/dir', 'runs:/abc', 'file:///a#frag', 's3://b/p?x=1']) {
      expect(() => loadConfig({ ASSAY_DATA_DIR: '/tmp/x', ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT: bad }), bad).toThrow(/ASSAY_MLFLOW_DEFAULT_ARTIFACT_ROOT/);
    }
  });
});
