import { describe, expect, it } from 'vitest';
import { apiClient, useTestServer } from './helpers.ts';

/**
 * MLflow experiments = Assay projects: key/value tags, the soft delete (delete_experiment /
 * restore_experiment) as MLflow answers it and as Assay's own API honours it, and MLflow's
 * "Default" experiment. The real client's run of the same calls is python/tests/test_mlflow_compat.py.
 */
const t = useTestServer('mlflow-exp');
const M = '/api/2.0/mlflow';
type Res = { status: number; body: { error_code?: string; message?: string } };
const err = (r: Res) => [r.status, r.body.error_code, r.body.message];
const tagsOf = (r: { body: { experiment: { tags: { key: string; value: string }[] } } }) =>
  Object.fromEntries(r.body.experiment.tags.map((x) => [x.key, x.value]));

async function create(name: string, tags?: Record<string, string>) {
  const r = await t.team.api.post(`${M}/experiments/create`, { name, ...(tags ? { tags: Object.entries(tags).map(([key, value]) => ({ key, value })) } : {}) });
  expect(r.status).toBe(200);
  return r.body.experiment_id as string;
}

describe('experiment tags', () => {
  it('are kept per project, overwritten, deleted; mlflow.note.content is the description', async () => {
    const api = t.team.api;
    const id = await create('tagged', { dataset: 'imagenet', 'mlflow.note.content': 'notes' });
    const other = await create('untagged');
    expect(tagsOf(await api.get(`${M}/experiments/get?experiment_id=${id}`))).toEqual({ dataset: 'imagenet', 'mlflow.note.content': 'notes' });
    expect((await api.post(`${M}/experiments/set-experiment-tag`, { experiment_id: id, key: 'dataset', value: 'birds' })).status).toBe(200);
    expect((await api.post(`${M}/experiments/set-experiment-tag`, { experiment_id: id, key: 'empty', value: '' })).status).toBe(200);
    expect(tagsOf(await api.get(`${M}/experiments/get?experiment_id=${id}`))).toEqual({ dataset: 'birds', empty: '', 'mlflow.note.content': 'notes' });
    expect(tagsOf(await api.get(`${M}/experiments/get?experiment_id=${other}`))).toEqual({});
    // the note is the project's description in Assay's own API
    expect((await api.get('/projects/tagged')).body.description).toBe('notes');
    // search by tag
    const found = await api.post(`${M}/experiments/search`, { filter: "tag.dataset = 'birds'" });
    expect(found.body.experiments.map((e: { name: string }) => e.name)).toEqual(['tagged']);
    // delete one, then a missing one (MLflow's RESOURCE_DOES_NOT_EXIST and wording)
    expect((await api.post(`${M}/experiments/delete-experiment-tag`, { experiment_id: id, key: 'dataset' })).status).toBe(200);
    expect(err(await api.post(`${M}/experiments/delete-experiment-tag`, { experiment_id: id, key: 'dataset' })))
      .toEqual([404, 'RESOURCE_DOES_NOT_EXIST', `No tag with name: dataset in experiment with id ${id}`]);
    expect((await api.post(`${M}/experiments/delete-experiment-tag`, { experiment_id: id, key: 'mlflow.note.content' })).status).toBe(200);
    expect(tagsOf(await api.get(`${M}/experiments/get?experiment_id=${id}`))).toEqual({ empty: '' });
    // rename (UpdateExperiment); a taken name is BAD_REQUEST, as MLflow's SQL store answers it
    expect((await api.post(`${M}/experiments/update`, { experiment_id: other, new_name: 'renamed-untagged' })).status).toBe(200);
    expect((await api.get('/projects/renamed-untagged')).status).toBe(200);
    expect(err(await api.post(`${M}/experiments/update`, { experiment_id: other, new_name: 'tagged' }))).toEqual([400, 'BAD_REQUEST', 'Experiment(name=tagged) already exists.']);
  });

  it('are checked as MLflow checks them; a refused create writes nothing', async () => {
    const api = t.team.api;
    const long = await api.post(`${M}/experiments/create`, { name: 'too-long-tag', tags: [{ key: 'ok', value: 'v' }, { key: 'k', value: 'x'.repeat(20_001) }] });
    expect(err(long)).toEqual([400, 'INVALID_PARAMETER_VALUE', "'value' exceeds the maximum length of 20000 characters"]);
    expect((await api.get('/projects/too-long-tag')).status).toBe(404);
    expect(err(await api.post(`${M}/experiments/create`, { name: 'x', tags: '5' }))).toEqual([400, 'INVALID_PARAMETER_VALUE', 'Invalid value "5" for parameter \'tags\' supplied']);
    expect(err(await api.post(`${M}/experiments/create`, { name: 'x', artifact_location: 9.5 }))).toEqual([400, 'INVALID_PARAMETER_VALUE', "Invalid value 9.5 for parameter 'artifact_location' supplied"]);
    const id = await create('tag-checks');
    expect(err(await api.post(`${M}/experiments/set-experiment-tag`, { experiment_id: id, key: 'k'.repeat(251), value: 'v' })))
      .toEqual([400, 'INVALID_PARAMETER_VALUE', "'key' exceeds the maximum length of 250 characters"]);
    expect(err(await api.post(`${M}/experiments/set-experiment-tag`, { experiment_id: id, key: 'k', value: 3 }))).toEqual([400, 'INVALID_PARAMETER_VALUE', "Invalid value 3 for parameter 'value' supplied"]);
  });
});

describe('delete_experiment / restore_experiment', () => {
  it('is a soft delete MLflow and Assay both see; restore gives back exactly what was there', async () => {
    const api = t.team.api;
    const id = await create('trash');
    const runs = await Promise.all(['kept', 'gone'].map(async (run_name) => (await api.post(`${M}/runs/create`, { experiment_id: id, run_name })).body.run.info.run_id as string));
    expect((await api.post(`${M}/runs/delete`, { run_id: runs[1] })).status).toBe(200);
    expect((await api.post(`${M}/runs/log-metric`, { run_id: runs[0], key: 'loss', value: 0.5, timestamp: 1_700_000_000_000, step: 3 })).status).toBe(200);
    const projectId = (await api.get('/projects/trash')).body.id as string;
    expect((await api.post(`${M}/experiments/delete`, { experiment_id: id })).status).toBe(200);

    // MLflow: the experiment reads back deleted, its runs too, nothing can be written into it
    const got = await api.get(`${M}/experiments/get?experiment_id=${id}`);
    expect(got.body.experiment).toMatchObject({ name: 'trash', lifecycle_stage: 'deleted' });
    expect((await api.get(`${M}/experiments/get-by-name?experiment_name=trash`)).body.experiment.lifecycle_stage).toBe('deleted');
    expect((await api.get(`${M}/runs/get?run_id=${runs[0]}`)).body.run.info.lifecycle_stage).toBe('deleted');
    // its runs' histories and artifact listings stay readable, as in MLflow (writes are refused below)
    const history = await api.get(`${M}/metrics/get-history?run_id=${runs[0]}&metric_key=loss`);
    expect([history.status, history.body]).toEqual([200, { metrics: [{ key: 'loss', value: 0.5, timestamp: 1_700_000_000_000, step: 3 }] }]);
    const bulk = await api.get(`${M}/metrics/get-history-bulk-interval?run_ids=${runs[0]}&metric_key=loss`);
    expect([bulk.status, bulk.body]).toEqual([200, { metrics: [{ key: 'loss', value: 0.5, timestamp: 1_700_000_000_000, step: 3, run_id: runs[0] }] }]);
    const listing = await api.get(`${M}/artifacts/list?run_id=${runs[0]}`);
    expect([listing.status, listing.body.files ?? []]).toEqual([200, []]);
    const search = async (run_view_type: string) => (await api.post(`${M}/runs/search`, { experiment_ids: [id], run_view_type })).body.runs?.map((r: { info: { run_name: string } }) => r.info.run_name).sort() ?? [];
    expect([await search('ACTIVE_ONLY'), await search('DELETED_ONLY'), await search('ALL')]).toEqual([[], ['gone', 'kept'], ['gone', 'kept']]);
    expect(err(await api.post(`${M}/runs/log-metric`, { run_id: runs[0], key: 'x', value: 1, timestamp: 0, step: 0 })))
      .toEqual([400, 'INVALID_PARAMETER_VALUE', `The run ${runs[0]} must be in the 'active' state. Current state is deleted.`]);
    expect(err(await api.post(`${M}/runs/create`, { experiment_id: id })))
      .toEqual([400, 'INVALID_PARAMETER_VALUE', `The experiment ${id} must be in the 'active' state. Current state is deleted.`]);
    expect(err(await api.post(`${M}/experiments/set-experiment-tag`, { experiment_id: id, key: 'k', value: 'v' }))[0]).toBe(400);
    expect(err(await api.post(`${M}/experiments/update`, { experiment_id: id, new_name: 'renamed' }))).toEqual([400, 'INVALID_STATE', 'Cannot rename a non-active experiment.']);
    expect(err(await api.post(`${M}/experiments/delete`, { experiment_id: id }))).toEqual([404, 'RESOURCE_DOES_NOT_EXIST', `No Experiment with id=${id} exists`]);
    // the name stays taken, in both APIs
    expect(err(await api.post(`${M}/experiments/create`, { name: 'trash' }))).toEqual([400, 'RESOURCE_ALREADY_EXISTS', 'Experiment(name=trash) already exists.']);
    expect((await api.post('/projects', { name: 'trash' })).status).toBe(409);
    expect((await api.post('/projects?if_exists=return', { name: 'trash' })).status).toBe(409);

    // Assay: gone from the list (include_deleted shows it), GET shows it as deleted, everything under it 404s
    const listed = async (q = '') => (await api.get(`/projects${q}`)).body.items.filter((p: { name: string }) => p.name === 'trash').map((p: { deleted_at: string | null }) => p.deleted_at !== null);
    expect([await listed(), await listed('?include_deleted=true')]).toEqual([[], [true]]);
    expect((await api.get(`/projects/${projectId}`)).body).toMatchObject({ name: 'trash', deleted_at: expect.any(String) });
    expect((await api.get(`/projects/${projectId}/experiments`)).status).toBe(404);
    expect((await api.patch(`/projects/${projectId}`, { description: 'x' })).status).toBe(404);
    expect((await api.post(`/metrics/batch/${projectId}/kept`, { metrics: [{ metric_name: 'loss', metric_value: 1, step: 0 }] })).status).toBe(404);

    // restore: the experiment and the runs that were active, not the run deleted before
    expect((await api.post(`${M}/experiments/restore`, { experiment_id: id })).status).toBe(200);
    expect(err(await api.post(`${M}/experiments/restore`, { experiment_id: id }))).toEqual([404, 'RESOURCE_DOES_NOT_EXIST', `No Experiment with id=${id} exists`]);
    expect((await api.get(`${M}/experiments/get?experiment_id=${id}`)).body.experiment.lifecycle_stage).toBe('active');
    expect([await search('ACTIVE_ONLY'), await search('DELETED_ONLY')]).toEqual([['kept'], ['gone']]);
    const relogged = await api.post(`${M}/runs/log-metric`, { run_id: runs[0], key: 'x', value: 1, timestamp: 1_700_000_000_000, step: 0 });
    expect([relogged.status, relogged.body]).toEqual([200, {}]);
    expect([await listed(), (await api.get(`/projects/${projectId}/experiments`)).body.items.map((e: { name: string }) => e.name)]).toEqual([[false], ['kept']]);
  });

  it('search_experiments filters by view_type; an Assay admin can purge a deleted project for good', async () => {
    const team = await t.srv.newTeam('views');
    const api = team.api;
    for (const name of ['a', 'b']) expect((await api.post(`${M}/experiments/create`, { name })).status).toBe(200);
    const b = (await api.get(`${M}/experiments/get-by-name?experiment_name=b`)).body.experiment.experiment_id;
    expect((await api.post(`${M}/experiments/delete`, { experiment_id: b })).status).toBe(200);
    const names = async (view_type?: string) => (await api.post(`${M}/experiments/search`, view_type ? { view_type } : {})).body.experiments.map((e: { name: string }) => e.name);
    expect([await names(), await names('ACTIVE_ONLY'), await names('DELETED_ONLY'), await names('ALL')]).toEqual([['a', 'Default'], ['a', 'Default'], ['b'], ['b', 'a', 'Default']]);
    expect((await api.call('DELETE', `/projects/${b.replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5')}`)).status).toBe(204);
    expect(await names('ALL')).toEqual(['a', 'Default']);
    expect((await api.post(`${M}/experiments/create`, { name: 'b' })).status).toBe(200);
  });
});

describe('the Default experiment', () => {
  it('exists for a new team from the first MLflow look, as the oldest experiment, even for a viewer', async () => {
    const team = await t.srv.newTeam('fresh');
    const viewerKey = await team.api.post('/api-keys', { name: 'reader', role: 'viewer' });
    expect(viewerKey.status).toBe(201);
    const viewer = apiClient(t.srv.app, viewerKey.body.api_key);
    const zero = await viewer.get(`${M}/experiments/get?experiment_id=0`);
    expect(zero.body.experiment).toMatchObject({ name: 'Default', lifecycle_stage: 'active' });
    // a viewer still cannot write into it
    expect((await viewer.post(`${M}/runs/create`, { experiment_id: '0' })).status).toBe(403);
    expect((await team.api.post('/projects', { name: 'made-in-assay-first' })).status).toBe(201);
    const names = (await team.api.post(`${M}/experiments/search`, {})).body.experiments.map((e: { name: string }) => e.name);
    expect(names).toEqual(['made-in-assay-first', 'Default']);
    // a run without an experiment lands in it
    const run = await team.api.post(`${M}/runs/create`, {});
    expect(run.body.run.info.experiment_id).toBe(zero.body.experiment.experiment_id);
    expect((await team.api.get(`${M}/experiments/get-by-name?experiment_name=Default`)).body.experiment.experiment_id).toBe(zero.body.experiment.experiment_id);
  });
});
