import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTestServer } from './helpers.ts';

/**
 * create_experiment's artifact_location: kept, returned and followed by runs' and logged models'
 * artifact URIs as MLflow 3.17.2's server does (the real client against both servers:
 * python/tests/test_mlflow_compat.py); a host-less mlflow-artifacts: location goes through the proxy.
 */
const t = useTestServer('mlflow-loc');
const M = '/api/2.0/mlflow';
const A = '/api/2.0/mlflow-artifacts/artifacts';
type Res = { status: number; body: { error_code?: string; message?: string } };
const err = (r: Res) => [r.status, r.body.error_code, r.body.message];

async function experiment(name: string, artifact_location?: string) {
  const api = t.team.api;
  const c = await api.post(`${M}/experiments/create`, { name, ...(artifact_location !== undefined ? { artifact_location } : {}) });
  expect(c.status).toBe(200);
  const id = c.body.experiment_id as string;
  return { id, location: (await api.get(`${M}/experiments/get?experiment_id=${id}`)).body.experiment.artifact_location as string };
}
async function run(experimentId: string) {
  const r = await t.team.api.post(`${M}/runs/create`, { experiment_id: experimentId, start_time: 1 });
  expect(r.status).toBe(200);
  return r.body.run.info as { run_id: string; artifact_uri: string };
}

describe('artifact_location', () => {
  it('defaults to the proxy; an s3: location is kept and followed by runs, search and logged models', async () => {
    const api = t.team.api;
    const def = await experiment('loc-default');
    expect(def.location).toBe(`mlflow-artifacts:/${def.id}`);
    expect((await run(def.id)).artifact_uri).toMatch(new RegExp(`^mlflow-artifacts:/${def.id}/[0-9a-f]{32}/artifacts$`));

    const s3 = await experiment('loc-s3', 's3://bucket/team/prefix/');
    expect(s3.location).toBe('s3://bucket/team/prefix/');
    const r = await run(s3.id);
    expect(r.artifact_uri).toBe(`s3://bucket/team/prefix/${r.run_id}/artifacts`);
    expect((await api.get(`${M}/runs/get?run_id=${r.run_id}`)).body.run.info.artifact_uri).toBe(r.artifact_uri);
    const found = await api.post(`${M}/experiments/search`, { filter: "name = 'loc-s3'" });
    expect(found.body.experiments.map((e: { artifact_location: string }) => e.artifact_location)).toEqual(['s3://bucket/team/prefix/']);
    const runs = await api.post(`${M}/runs/search`, { experiment_ids: [s3.id, def.id], filter: "attributes.artifact_uri LIKE 's3://%'" });
    expect(runs.body.runs.map((x: { info: { run_id: string } }) => x.info.run_id)).toEqual([r.run_id]);
    // the client holds these files; the server lists nothing rather than pretending to read s3
    expect((await api.get(`${M}/artifacts/list?run_id=${r.run_id}`)).body).toEqual({ root_uri: r.artifact_uri, files: [] });
    const m = await api.post(`${M}/logged-models`, { experiment_id: s3.id, source_run_id: r.run_id, name: 'model' });
    expect(m.status).toBe(200);
    expect(m.body.model.info.artifact_uri).toBe(`s3://bucket/team/prefix/models/${m.body.model.info.model_id}/artifacts`);
    // the query stays last, as MLflow's append_to_uri_path keeps it
    const q = await experiment('loc-query', 's3://b/p?versionId=3');
    expect((await run(q.id)).artifact_uri).toMatch(/^s3:\/\/b\/p\/[0-9a-f]{32}\/artifacts\?versionId=3$/);
  });

  it('local paths resolve as MLflow resolves them: against the server\'s working directory', async () => {
    expect((await experiment('loc-rel', 'my_location')).location).toBe(path.join(process.cwd(), 'my_location'));
    expect((await experiment('loc-abs', '/data/mlruns')).location).toBe('/data/mlruns');
    expect((await experiment('loc-file-rel', 'file:rel/dir')).location).toBe(`file://${path.join(process.cwd(), 'rel/dir')}`);
    const f = await experiment('loc-file', 'file:///tmp/arts');
    expect(f.location).toBe('file:///tmp/arts');
    const r = await run(f.id);
    expect(r.artifact_uri).toBe(`file:///tmp/arts/${r.run_id}/artifacts`);
  });

  it("is refused with MLflow's answers, and a refused create writes nothing", async () => {
    const api = t.team.api;
    const cases: [string, string][] = [
      ['runs:/abc/x', "Artifact location cannot be a runs:/ URI. Given: 'runs:/abc/x'"],
      ['s3://b/p#frag', "'artifact_location' URL can't include fragments or params."],
      ['http://h/p;x=1', "'artifact_location' URL can't include fragments or params."],
      ['s3://b/p?a=%2e%2e/x', 'Invalid query string'],
      [`s3://b/${'x'.repeat(2042)}`, 'Invalid artifact path length. The length of the artifact path cannot be greater than 2048 characters. To configure this limit, please set the MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH environment variable.'],
      ['file://elsewhere/x', 'file://elsewhere/x is not a valid remote uri. For remote access on windows, please consider using a different scheme such as SMB (e.g. smb://<hostname>/<path>).'],
      ['mlflow-artifacts:/a/../b', "Invalid value 'mlflow-artifacts:/a/../b' for parameter 'artifact_location': a mlflow-artifacts: location needs a plain path (no '.', '..' or query)"],
      ['mlflow-artifacts:/', "Invalid value 'mlflow-artifacts:/' for parameter 'artifact_location': a mlflow-artifacts: location needs a plain path (no '.', '..' or query)"],
    ];
    for (const [loc, message] of cases) {
      expect(err(await api.post(`${M}/experiments/create`, { name: 'loc-refused', artifact_location: loc }))).toEqual([400, 'INVALID_PARAMETER_VALUE', message]);
    }
    expect((await api.get('/projects/loc-refused')).status).toBe(404);
  });

  it('a host-less mlflow-artifacts: location goes through the proxy at exactly that path', async () => {
    const api = t.team.api;
    const e = await experiment('loc-proxy', 'mlflow-artifacts:/shared/team-a');
    expect(e.location).toBe('mlflow-artifacts:/shared/team-a');
    const r = await run(e.id);
    expect(r.artifact_uri).toBe(`mlflow-artifacts:/shared/team-a/${r.run_id}/artifacts`);
    const file = `${A}/shared/team-a/${r.run_id}/artifacts/dir/a.txt`;
    expect((await api.put(file, 'hello', { 'content-type': 'text/plain' })).status).toBe(200);
    expect((await api.get(file)).body).toBe('hello');
    expect((await api.get(`${A}?path=shared/team-a/${r.run_id}/artifacts/dir`)).body).toEqual({ root_uri: '', files: [{ path: 'a.txt', is_dir: false, file_size: 5 }] });
    expect((await api.get(`${M}/artifacts/list?run_id=${r.run_id}`)).body).toEqual({ root_uri: '', files: [{ path: 'dir', is_dir: true }] });
    // the run is reachable through its own location only: not the default one, not another prefix
    for (const other of [`${A}/${e.id}/${r.run_id}/artifacts/dir/a.txt`, `${A}/shared/team-b/${r.run_id}/artifacts/dir/a.txt`]) {
      expect((await api.get(other)).status).toBe(404);
    }
    // another team: 404, like a run that does not exist
    const b = await t.srv.newTeam('mlflow-loc-b');
    expect(err(await b.api.get(file))[0]).toBe(404);
    expect((await b.api.put(file, 'overwrite', { 'content-type': 'text/plain' })).status).toBe(404);
    expect((await api.get(file)).body).toBe('hello');
  });
});
