import { describe, expect, it } from 'vitest';
import { useTestServer, type TestTeam } from './helpers.ts';

/**
 * The routes only MLflow's web UI calls (routes/mlflow/ui.ts): /ajax-api/2.0/mlflow/metrics/get-history-bulk,
 * …/experiments/search-datasets, …/upload-artifact and /get-artifact — shapes, MLflow's messages for
 * bad input, and another team's runs and experiments answered like missing ones.
 */
const t = useTestServer('mlflow-ui');
const M = '/api/2.0/mlflow';
const AJAX = '/ajax-api/2.0/mlflow';

/** app.inject() at an absolute path (the shared client prefixes /api/v1 to anything outside /api/). */
async function call(team: TestTeam | undefined, method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) {
  const r = await t.srv.app.inject({ method: method as never, url, payload: payload as never, headers: { ...(team ? { authorization: `Bearer ${team.apiKey}` } : {}), ...headers } });
  let body: any = r.body;
  try {
    body = r.body ? JSON.parse(r.body) : null;
  } catch {
    /* a file */
  }
  return { status: r.statusCode, body, text: r.body, headers: r.headers };
}

async function run(team: TestTeam, name: string) {
  const exp = await call(team, 'POST', `${M}/experiments/create`, { name });
  expect(exp.status).toBe(200);
  const r = await call(team, 'POST', `${M}/runs/create`, { experiment_id: exp.body.experiment_id });
  expect(r.status).toBe(200);
  return { experimentId: exp.body.experiment_id as string, runId: r.body.run.info.run_id as string };
}

const qs = (o: Record<string, string | number | (string | number)[]>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) for (const x of [v].flat()) p.append(k, String(x));
  return p.toString();
};

describe('GET /ajax-api/2.0/mlflow/metrics/get-history-bulk', () => {
  it('histories of several runs: runs in run_id order, points by timestamp, max_results overall', async () => {
    const { experimentId, runId: r1 } = await run(t.team, 'bulk');
    const r2 = (await call(t.team, 'POST', `${M}/runs/create`, { experiment_id: experimentId })).body.run.info.run_id as string;
    for (const [id, off] of [[r1, 0], [r2, 100]] as const) {
      const metrics = [{ key: 'loss', value: 3 + off, timestamp: 30, step: 1 }, { key: 'loss', value: 1 + off, timestamp: 10, step: 2 }, { key: 'acc', value: 0.5, timestamp: 5, step: 0 }];
      expect((await call(t.team, 'POST', `${M}/runs/log-batch`, { run_id: id, metrics })).status).toBe(200);
    }
    const res = await call(t.team, 'GET', `${AJAX}/metrics/get-history-bulk?${qs({ run_id: [r2, r1], metric_key: 'loss' })}`);
    expect(res.status).toBe(200);
    const [lo, hi] = [r1, r2].sort();
    const pts = (id: string) => {
      const off = id === r1 ? 0 : 100;
      return [{ key: 'loss', value: 1 + off, timestamp: 10, step: 2, run_id: id }, { key: 'loss', value: 3 + off, timestamp: 30, step: 1, run_id: id }];
    };
    expect(res.body.metrics).toEqual([...pts(lo), ...pts(hi)]);
    const capped = await call(t.team, 'GET', `${AJAX}/metrics/get-history-bulk?${qs({ run_id: [r1, r2], metric_key: 'loss', max_results: 3 })}`);
    expect(capped.body.metrics).toEqual([...pts(lo), ...pts(hi)].slice(0, 3));
    // only under /ajax-api, as in MLflow
    expect((await call(t.team, 'GET', `${M}/metrics/get-history-bulk?${qs({ run_id: r1, metric_key: 'loss' })}`)).status).toBe(404);
  });

  it("MLflow's messages for bad requests; another team's run is RESOURCE_DOES_NOT_EXIST", async () => {
    const { runId } = await run(t.team, 'bulk-bad');
    const bad = async (q: string, msg: string) => {
      const r = await call(t.team, 'GET', `${AJAX}/metrics/get-history-bulk?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error_code).toBe('INVALID_PARAMETER_VALUE');
      expect(r.body.message).toContain(msg);
    };
    await bad(qs({ metric_key: 'k' }), 'GetMetricHistoryBulk request must specify at least one run_id');
    await bad(qs({ run_id: Array.from({ length: 101 }, (_, i) => `id_${i}`), metric_key: 'k' }), 'GetMetricHistoryBulk request cannot specify more than 100 run_ids. Received 101 run_ids.');
    await bad(qs({ run_id: runId }), 'GetMetricHistoryBulk request must specify a metric_key');
    await bad(qs({ run_id: runId, metric_key: 'k', max_results: 'many' }), "parameter 'max_results'");

    const other = await t.srv.newTeam('mlflow-ui-b');
    const theirs = await call(other, 'GET', `${AJAX}/metrics/get-history-bulk?${qs({ run_id: runId, metric_key: 'loss' })}`);
    expect(theirs).toMatchObject({ status: 404, body: { error_code: 'RESOURCE_DOES_NOT_EXIST' } });
    expect(theirs.text).not.toContain(runId);
    expect((await call(undefined, 'GET', `${AJAX}/metrics/get-history-bulk?${qs({ run_id: runId, metric_key: 'loss' })}`)).status).toBe(401);
  });
});

describe('POST /ajax-api/2.0/mlflow/experiments/search-datasets', () => {
  it('distinct dataset summaries of the logged inputs, context from mlflow.data.context', async () => {
    const { experimentId, runId } = await run(t.team, 'datasets');
    const ds = (name: string, digest: string) => ({ name, digest, source_type: 'local', source: 's' });
    const datasets = [
      { dataset: ds('train', 'd1'), tags: [{ key: 'mlflow.data.context', value: 'training' }] },
      { dataset: ds('eval', 'd2'), tags: [] },
    ];
    expect((await call(t.team, 'POST', `${M}/runs/log-inputs`, { run_id: runId, datasets })).status).toBe(200);
    const r2 = (await call(t.team, 'POST', `${M}/runs/create`, { experiment_id: experimentId })).body.run.info.run_id;
    expect((await call(t.team, 'POST', `${M}/runs/log-inputs`, { run_id: r2, datasets: datasets.slice(0, 1) })).status).toBe(200);
    const res = await call(t.team, 'POST', `${AJAX}/experiments/search-datasets`, { experiment_ids: [experimentId] });
    expect(res.status).toBe(200);
    expect(res.body.dataset_summaries).toHaveLength(2);
    expect(res.body.dataset_summaries).toEqual(expect.arrayContaining([
      { experiment_id: experimentId, name: 'train', digest: 'd1', context: 'training' },
      { experiment_id: experimentId, name: 'eval', digest: 'd2' },
    ]));

    // another team: its own (empty) answer, never A's datasets
    const other = await t.srv.newTeam('mlflow-ui-c');
    const theirs = await call(other, 'POST', `${AJAX}/experiments/search-datasets`, { experiment_ids: [experimentId] });
    expect(theirs).toMatchObject({ status: 200, body: { dataset_summaries: [] } });
  });

  it("MLflow's messages for a missing, empty or too long experiment_ids", async () => {
    for (const [body, msg] of [
      [{}, 'SearchDatasets request must specify at least one experiment_id.'],
      [{ experiment_ids: [] }, 'SearchDatasets request must specify at least one experiment_id.'],
      [{ experiment_ids: Array.from({ length: 21 }, (_, i) => `id_${i}`) }, 'SearchDatasets request cannot specify more than 20 experiment_ids. Received 21 experiment_ids.'],
      [{ experiment_ids: 7 }, "parameter 'experiment_ids'"],
    ] as const) {
      const r = await call(t.team, 'POST', `${AJAX}/experiments/search-datasets`, body);
      expect(r).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE' } });
      expect(r.body.message).toContain(msg);
    }
  });
});

describe('POST /ajax-api/2.0/mlflow/upload-artifact and GET /get-artifact', () => {
  it('a raw body becomes an artifact of the run, listed by MLflow and downloaded as an attachment', async () => {
    const { runId } = await run(t.team, 'upload');
    const up = await call(t.team, 'POST', `${AJAX}/upload-artifact?${qs({ run_uuid: runId, path: 'notes/hello.txt' })}`, 'hello world');
    expect(up).toMatchObject({ status: 200, body: {} });
    const listed = await call(t.team, 'GET', `${M}/artifacts/list?${qs({ run_id: runId, path: 'notes' })}`);
    expect(listed.body.files).toEqual([{ path: 'hello.txt', is_dir: false, file_size: 11 }]);
    for (const idParam of ['run_id', 'run_uuid']) {
      const got = await call(t.team, 'GET', `/get-artifact?${qs({ [idParam]: runId, path: 'notes/hello.txt' })}`);
      expect(got.status).toBe(200);
      expect(got.text).toBe('hello world');
      expect(String(got.headers['content-disposition'])).toMatch(/^attachment;/);
      expect(got.headers['x-content-type-options']).toBe('nosniff');
    }
    const missingFile = await call(t.team, 'GET', `/get-artifact?${qs({ run_id: runId, path: 'nope.txt' })}`);
    expect(missingFile).toMatchObject({ status: 404, body: { error_code: 'RESOURCE_DOES_NOT_EXIST' } });
  });

  it("MLflow's messages for bad uploads and paths; nothing written", async () => {
    const { runId } = await run(t.team, 'upload-bad');
    const up = (q: Record<string, string>, body?: string) => call(t.team, 'POST', `${AJAX}/upload-artifact?${qs(q)}`, body);
    for (const [q, body, msg] of [
      [{}, 'x', 'Request must specify run_uuid.'],
      [{ run_uuid: runId }, 'x', 'Request must specify path.'],
      [{ run_uuid: runId, path: '' }, 'x', 'Request must specify path.'],
      [{ run_uuid: runId, path: '../test.txt' }, 'x', 'Invalid path'],
      [{ run_uuid: runId, path: '%2E%2E/test.txt' }, 'x', 'Invalid path'],
      [{ run_uuid: runId, path: '/etc/passwd' }, 'x', 'Invalid path'],
      [{ run_uuid: runId, path: 'test.txt' }, undefined, 'Request must specify data.'],
    ] as const) {
      const r = await up(q, body);
      expect(r, JSON.stringify(q)).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE', message: msg } });
    }
    const tooBig = await up({ run_uuid: runId, path: 'big.bin' }, 'x'.repeat(10 * 1024 * 1024 + 1));
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect((await call(t.team, 'GET', `${M}/artifacts/list?run_id=${runId}`)).body.files).toEqual([]);

    for (const path of ['../path', '/etc/passwd', 'a/../../b', 'a\\b']) {
      const r = await call(t.team, 'GET', `/get-artifact?${qs({ run_id: runId, path })}`);
      expect(r, path).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE', message: 'Invalid path' } });
    }
    expect((await call(t.team, 'GET', `/get-artifact?run_id=${runId}`)).status).toBe(400);
  });

  it("another team's run: 404 for upload and download, its file untouched", async () => {
    const { runId } = await run(t.team, 'upload-iso');
    expect((await call(t.team, 'POST', `${AJAX}/upload-artifact?${qs({ run_uuid: runId, path: 'a.txt' })}`, 'mine')).status).toBe(200);
    const other = await t.srv.newTeam('mlflow-ui-d');
    const down = await call(other, 'GET', `/get-artifact?${qs({ run_id: runId, path: 'a.txt' })}`);
    expect(down).toMatchObject({ status: 404, body: { error_code: 'RESOURCE_DOES_NOT_EXIST' } });
    expect(down.text).not.toContain('mine');
    const up = await call(other, 'POST', `${AJAX}/upload-artifact?${qs({ run_uuid: runId, path: 'a.txt' })}`, 'theirs');
    expect(up).toMatchObject({ status: 404, body: { error_code: 'RESOURCE_DOES_NOT_EXIST' } });
    expect((await call(t.team, 'GET', `/get-artifact?${qs({ run_id: runId, path: 'a.txt' })}`)).text).toBe('mine');
    expect((await call(undefined, 'GET', `/get-artifact?${qs({ run_id: runId, path: 'a.txt' })}`)).status).toBe(401);
  });

  it('a run whose artifacts live at a file: location is not served or written by Assay', async () => {
    const exp = await call(t.team, 'POST', `${M}/experiments/create`, { name: 'file-loc', artifact_location: 'file:///tmp/assay-ui-test-loc' });
    const runId = (await call(t.team, 'POST', `${M}/runs/create`, { experiment_id: exp.body.experiment_id })).body.run.info.run_id;
    const up = await call(t.team, 'POST', `${AJAX}/upload-artifact?${qs({ run_uuid: runId, path: 'a.txt' })}`, 'x');
    expect(up).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE' } });
    expect(up.body.message).toContain('file:///tmp/assay-ui-test-loc');
    expect((await call(t.team, 'GET', `/get-artifact?${qs({ run_id: runId, path: 'a.txt' })}`)).status).toBe(404);
  });
});
