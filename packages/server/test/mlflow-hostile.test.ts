import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { RUN_TIME_MAX_MS, RUN_TIME_MIN_MS } from '../src/services/mlflow/runs.ts';
import { useTestServer } from './helpers.ts';

/**
 * A hostile caller against the MLflow routes (issue 12): every refusal is MLflow's
 * `{error_code, message}` with its status, never a 500, and a refused call writes nothing. Each case
 * here was a 500, a lossy write or a write MLflow refuses before its fix; hostile-input.test.ts walks
 * the routes generically but cannot see the MLflow bodies (their schemas declare no fields).
 */
const t = useTestServer('mlflow-hostile', { ASSAY_RATE_LIMIT_PER_MINUTE: '0' });
const M = '/api/2.0/mlflow';

interface Answer {
  status: number;
  body: any;
}

async function send(method: string, url: string, payload?: string | Buffer, contentType = 'application/json'): Promise<Answer> {
  const r = await t.srv.app.inject({ method: method as never, url, payload, headers: { authorization: `Bearer ${t.team.apiKey}`, ...(payload === undefined ? {} : { 'content-type': contentType }) } });
  let body: unknown = r.body;
  try {
    body = JSON.parse(r.body);
  } catch {
    /* not JSON */
  }
  return { status: r.statusCode, body };
}
const post = (url: string, body: unknown) => send('POST', url, JSON.stringify(body));
const get = (url: string) => send('GET', url);
const code = (r: Answer) => [r.status, r.body?.error_code];

/** The team's projects, runs and artifacts as stored, and its metric points: a refused call changes none of it. */
async function stored(): Promise<string> {
  const team = t.team.teamId;
  const rows = await t.srv.ctx.pg.db.execute(sql`select
    (select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from projects x where team_id = ${team}) as projects,
    (select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from experiments x where team_id = ${team}) as runs,
    (select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from artifacts x where team_id = ${team}) as artifacts`);
  const points = await t.srv.ctx.ch.rows({ teamId: team }, 'test', 'SELECT count() FROM metrics FINAL WHERE team_id = {team_id:UUID}');
  return JSON.stringify([(rows as any).rows?.[0] ?? (rows as any)[0], points]);
}

async function newRun(experiment: string) {
  const exp = await post(`${M}/experiments/create`, { name: experiment });
  const run = await post(`${M}/runs/create`, { experiment_id: exp.body.experiment_id, run_name: 'r' });
  expect([exp.status, run.status]).toEqual([200, 200]);
  return { exp: exp.body.experiment_id as string, run: run.body.run.info.run_id as string };
}

describe('text no store can hold', () => {
  it('NUL and unpaired surrogates in any MLflow string field are INVALID_PARAMETER_VALUE; nothing is written', async () => {
    const { exp, run } = await newRun('text');
    expect((await post(`${M}/runs/log-metric`, { run_id: run, key: 'm', value: 1, timestamp: 1, step: 0 })).status).toBe(200);
    const model = await post(`${M}/logged-models`, { experiment_id: exp, source_run_id: run, name: 'ok' });
    expect(model.status).toBe(200);
    const before = await stored();
    for (const s of ['a\u0000b', 'a\ud800b', 'a\udfffb']) {
      const cases: [string, () => Promise<Answer>][] = [
        ['create_experiment artifact_location', () => post(`${M}/experiments/create`, { name: 'loc', artifact_location: `/tmp/${s}` })],
        ['create_run run_name', () => post(`${M}/runs/create`, { experiment_id: exp, run_name: s })],
        ['create_run user_id', () => post(`${M}/runs/create`, { experiment_id: exp, user_id: s })],
        ['update_run run_name', () => post(`${M}/runs/update`, { run_id: run, run_name: s })],
        ['search_runs filter param value', () => post(`${M}/runs/search`, { experiment_ids: [exp], filter: `params.p = '${s}'` })],
        ['search_runs filter tag IN', () => post(`${M}/runs/search`, { experiment_ids: [exp], filter: `tags.t IN ('${s}')` })],
        ['search_runs filter param key', () => post(`${M}/runs/search`, { experiment_ids: [exp], filter: `params."${s}" = 'x'` })],
        ['search_runs order_by', () => post(`${M}/runs/search`, { experiment_ids: [exp], order_by: [`params.\`${s}\``] })],
        ['search_experiments filter', () => post(`${M}/experiments/search`, { filter: `name = '${s}'` })],
        ['create logged model name', () => post(`${M}/logged-models`, { experiment_id: exp, source_run_id: run, name: s })],
        ['create logged model model_type', () => post(`${M}/logged-models`, { experiment_id: exp, source_run_id: run, model_type: s })],
        ['create logged model param', () => post(`${M}/logged-models`, { experiment_id: exp, source_run_id: run, params: [{ key: 'k', value: s }] })],
        ['logged model params', () => post(`${M}/logged-models/${model.body.model.info.model_id}/params`, { params: [{ key: s, value: 'v' }] })],
        ['log_inputs dataset', () => post(`${M}/runs/log-inputs`, { run_id: run, datasets: [{ dataset: { name: s, digest: 'd' } }] })],
        ['log_outputs model_id', () => post(`${M}/runs/outputs`, { run_id: run, models: [{ model_id: s, step: 0 }] })],
        ['delete_experiment_tag key', () => post(`${M}/experiments/delete-experiment-tag`, { experiment_id: exp, key: s })],
      ];
      for (const [what, call] of cases) {
        const r = await call();
        expect([...code(r), r.body?.message?.includes(s.includes('\u0000') ? 'NUL' : 'surrogate')], `${what} ${JSON.stringify(s)}`).toEqual([400, 'INVALID_PARAMETER_VALUE', true]);
      }
    }
    // in a query string a NUL arrives as %00; a surrogate has no UTF-8 form, so its bytes cannot be decoded at all
    for (const [what, url] of [
      ['get_experiment_by_name', `${M}/experiments/get-by-name?experiment_name=a%00b`],
      ['get_metric_history metric_key', `${M}/metrics/get-history?run_id=${run}&metric_key=a%00b`],
      ['get-history-bulk-interval metric_key', `${M}/metrics/get-history-bulk-interval?run_ids=${run}&metric_key=a%00b`],
      ['web UI get-history-bulk metric_key', `/ajax-api/2.0/mlflow/metrics/get-history-bulk?run_id=${run}&metric_key=a%00b`],
      ['get_experiment_by_name, surrogate bytes', `${M}/experiments/get-by-name?experiment_name=a%ED%A0%80b`],
      ['get_metric_history, surrogate bytes', `${M}/metrics/get-history?run_id=${run}&metric_key=a%ED%A0%80b`],
      ['get_logged_model, surrogate bytes in the path', `${M}/logged-models/m-%ED%A0%80`],
    ]) {
      expect(code(await get(url)), what).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    }
    expect(await stored()).toBe(before);
  });
});

describe('numbers and types', () => {
  it('start_time / end_time outside 0 … 2106 (what a metric timestamp can be) are INVALID_PARAMETER_VALUE; the bounds themselves are stored', async () => {
    const { exp, run } = await newRun('times');
    const before = await stored();
    for (const ms of [RUN_TIME_MAX_MS + 1, RUN_TIME_MIN_MS - 1, -62_135_596_800_000, 8_640_000_000_000_001, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]) {
      expect(code(await post(`${M}/runs/create`, { experiment_id: exp, start_time: ms })), `start_time ${ms}`).toEqual([400, 'INVALID_PARAMETER_VALUE']);
      expect(code(await post(`${M}/runs/update`, { run_id: run, status: 'FINISHED', end_time: ms })), `end_time ${ms}`).toEqual([400, 'INVALID_PARAMETER_VALUE']);
      expect(code(await post(`${M}/runs/update`, { run_id: run, end_time: ms })), `end_time alone ${ms}`).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    }
    expect(await stored()).toBe(before);
    const late = await post(`${M}/runs/create`, { experiment_id: exp, start_time: RUN_TIME_MAX_MS });
    expect([late.status, late.body.run.info.start_time]).toEqual([200, RUN_TIME_MAX_MS]);
    const early = await post(`${M}/runs/update`, { run_id: run, status: 'FINISHED', end_time: RUN_TIME_MIN_MS });
    expect([early.status, early.body.run_info.end_time]).toEqual([200, RUN_TIME_MIN_MS]);
  });

  it('param and tag values must be strings: an object is refused, not stored as "[object Object]"; the batch is refused whole', async () => {
    const { exp, run } = await newRun('types');
    const before = await stored();
    for (const value of [{ x: 1 }, [1, 2], true, 5]) {
      const batch = await post(`${M}/runs/log-batch`, { run_id: run, params: [{ key: 'fine', value: '1' }], tags: [{ key: 'odd', value }], metrics: [{ key: 'm', value: 1, timestamp: 1, step: 0 }] });
      expect(code(batch), `log_batch tag ${JSON.stringify(value)}`).toEqual([400, 'INVALID_PARAMETER_VALUE']);
      expect(code(await post(`${M}/runs/log-batch`, { run_id: run, params: [{ key: 'odd', value }] })), `log_batch param ${JSON.stringify(value)}`).toEqual([400, 'INVALID_PARAMETER_VALUE']);
      expect(code(await post(`${M}/runs/create`, { experiment_id: exp, tags: [{ key: 'odd', value }] })), `create_run tag ${JSON.stringify(value)}`).toEqual([400, 'INVALID_PARAMETER_VALUE']);
      expect(code(await post(`${M}/logged-models`, { experiment_id: exp, source_run_id: run, params: [{ key: 'odd', value }] })), `model param ${JSON.stringify(value)}`).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    }
    expect(await stored()).toBe(before);
    const r = await get(`${M}/runs/get?run_id=${run}`);
    expect([r.body.run.data.params, r.body.run.data.metrics]).toEqual([[], []]);
  });

  it('get-history-bulk-interval over a step range below 0 (legal in MLflow, never stored by Assay) answers no points', async () => {
    const { run } = await newRun('neg-steps');
    expect((await post(`${M}/runs/log-metric`, { run_id: run, key: 'm', value: 1, timestamp: 1, step: 0 })).status).toBe(200);
    const url = (a: number, b: number) => `${M}/metrics/get-history-bulk-interval?run_ids=${run}&metric_key=m&start_step=${a}&end_step=${b}`;
    expect(await get(url(-5, -1))).toEqual({ status: 200, body: { metrics: [] } });
    expect((await get(url(-5, 0))).body.metrics).toEqual([{ key: 'm', value: 1, timestamp: 1, step: 0, run_id: run }]);
  });
});

describe('malformed lists', () => {
  it('log_inputs takes only DatasetInputs (a string or {} would come back from get_run and break the client); order_by only strings or OrderBy objects', async () => {
    const { exp, run } = await newRun('lists');
    const model = await post(`${M}/logged-models`, { experiment_id: exp, source_run_id: run, name: 'm' });
    expect(model.status).toBe(200);
    const before = await stored();
    for (const datasets of ['x', ['x'], [{}], [null], [{ dataset: { name: 'd' } }], [{ dataset: 'd' }], [{ dataset: { name: 'd', digest: 7 } }]]) {
      expect(code(await post(`${M}/runs/log-inputs`, { run_id: run, datasets })), `datasets ${JSON.stringify(datasets)}`).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    }
    for (const order_by of [[null], [1], [{}], [{ field_name: 'name', ascending: 'no' }]]) {
      expect(code(await post(`${M}/logged-models/search`, { experiment_ids: [exp], order_by })), `models order_by ${JSON.stringify(order_by)}`).toEqual([400, 'INVALID_PARAMETER_VALUE']);
      expect(code(await post(`${M}/runs/search`, { experiment_ids: [exp], order_by })), `runs order_by ${JSON.stringify(order_by)}`).toEqual([400, 'INVALID_PARAMETER_VALUE']);
      expect(code(await post(`${M}/experiments/search`, { order_by })), `experiments order_by ${JSON.stringify(order_by)}`).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    }
    expect(await stored()).toBe(before);
    expect((await get(`${M}/runs/get?run_id=${run}`)).body.run.inputs.dataset_inputs).toEqual([]);
    const ok = await post(`${M}/logged-models/search`, { experiment_ids: [exp], order_by: [{ field_name: 'name', ascending: false }] });
    expect([ok.status, ok.body.models.map((m: any) => m.info.name)]).toEqual([200, ['m']]);
  });

  it('delete_logged_model_tag of a tag the model does not have is RESOURCE_DOES_NOT_EXIST (MLflow\'s SQL store), of one it has a 200', async () => {
    const { exp, run } = await newRun('model-tags');
    const id = (await post(`${M}/logged-models`, { experiment_id: exp, source_run_id: run, tags: [{ key: 'keep', value: 'v' }] })).body.model.info.model_id;
    const missingTag = await send('DELETE', `${M}/logged-models/${id}/tags/nope`);
    expect([...code(missingTag), missingTag.body.message]).toEqual([404, 'RESOURCE_DOES_NOT_EXIST', `No tag with key 'nope' found for model with ID '${id}'.`]);
    expect(code(await send('DELETE', `${M}/logged-models/${id}/tags/constructor`))).toEqual([404, 'RESOURCE_DOES_NOT_EXIST']);
    expect((await send('DELETE', `${M}/logged-models/${id}/tags/keep`)).status).toBe(200);
    expect((await get(`${M}/logged-models/${id}`)).body.model.info.tags).toEqual([]);
  });
});

describe('batch sizes', () => {
  it('log_batch takes at most 100 params and 100 tags, as MLflow (a million params held the event loop 15 s); a refused batch writes nothing', async () => {
    const { run } = await newRun('batch-sizes');
    const kv = (n: number, p: string) => Array.from({ length: n }, (_, i) => ({ key: `${p}${i}`, value: String(i) }));
    const metrics = [{ key: 'm', value: 1, timestamp: 1, step: 0 }];
    const before = await stored();
    for (const body of [{ params: kv(101, 'p'), tags: kv(1, 't') }, { params: kv(1, 'p'), tags: kv(101, 't') }]) {
      const r = await post(`${M}/runs/log-batch`, { run_id: run, ...body, metrics });
      expect(code(r)).toEqual([400, 'INVALID_PARAMETER_VALUE']);
      expect(r.body.message).toMatch(/^A batch logging request can contain at most 100 (params|tags)\. Got 101 (params|tags)\./);
    }
    expect(await stored()).toBe(before);
    expect((await post(`${M}/runs/log-batch`, { run_id: run, params: kv(100, 'p'), tags: kv(100, 't'), metrics })).status).toBe(200);
    const got = await get(`${M}/runs/get?run_id=${run}`);
    expect([got.body.run.data.params.length, got.body.run.data.tags.filter((x: { key: string }) => /^t\d+$/.test(x.key)).length]).toEqual([100, 100]);
  });

  it("a run's params and tags together stay within the features bound over many calls (log_batch, set_tag, create_run); the refused call writes nothing, its metrics included", async () => {
    const { exp, run } = await newRun('params-grow');
    const big = (n: number, p: string, size: number) => Array.from({ length: n }, (_, i) => ({ key: `${p}${i}`, value: 'v'.repeat(size) }));
    expect((await post(`${M}/runs/log-batch`, { run_id: run, params: big(100, 'a', 6000) })).status).toBe(200);
    const before = await stored();
    const r = await post(`${M}/runs/log-batch`, { run_id: run, params: big(100, 'b', 6000), metrics: [{ key: 'm', value: 1, timestamp: 1, step: 0 }] });
    expect(code(r)).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    expect(r.body.message).toMatch(/at most 1000000 in a run's stored features .*: a run's params and tags count towards it$/);
    expect(await stored()).toBe(before);
    expect((await post(`${M}/runs/set-tag`, { run_id: run, key: 't', value: 'v'.repeat(8000) })).status).toBe(200); // 600k + 8k fit
    const withTag = await stored();
    expect(code(await post(`${M}/runs/log-batch`, { run_id: run, tags: big(60, 't', 8000) }))).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    expect(await stored()).toBe(withTag);
    const got = await get(`${M}/runs/get?run_id=${run}`);
    expect(got.body.run.data.params.map((p: { key: string }) => p.key).sort()).toEqual(big(100, 'a', 0).map((p) => p.key).sort());
    expect(got.body.run.data.metrics ?? []).toEqual([]);

    const runsBefore = await stored();
    const created = await post(`${M}/runs/create`, { experiment_id: exp, run_name: 'huge-tags', tags: big(130, 'k', 8000) });
    expect(code(created)).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    expect(await stored()).toBe(runsBefore);
  });
});

describe('a deleted run', () => {
  it('refuses update_run, log_inputs and log_outputs as MLflow does (the run must be active); nothing is written', async () => {
    const { exp, run } = await newRun('deleted');
    expect((await post(`${M}/runs/delete`, { run_id: run })).status).toBe(200);
    const before = await stored();
    for (const [what, r] of [
      ['update_run', await post(`${M}/runs/update`, { run_id: run, status: 'FINISHED', run_name: 'renamed' })],
      ['log_inputs', await post(`${M}/runs/log-inputs`, { run_id: run, datasets: [{ dataset: { name: 'd', digest: 'x' } }] })],
      ['log_outputs', await post(`${M}/runs/outputs`, { run_id: run, models: [{ model_id: 'm-x', step: 0 }] })],
    ] as const) {
      expect([...code(r), r.body.message], what).toEqual([400, 'INVALID_PARAMETER_VALUE', `The run ${run} must be in the 'active' state. Current state is deleted.`]);
    }
    expect(await stored()).toBe(before);
    const got = (await get(`${M}/runs/get?run_id=${run}`)).body.run;
    expect([got.info.status, got.info.run_name, got.inputs.dataset_inputs, got.outputs.model_outputs]).toEqual(['RUNNING', 'r', [], []]);
    // restored, it takes the same calls
    expect((await post(`${M}/runs/restore`, { run_id: run })).status).toBe(200);
    expect((await post(`${M}/runs/update`, { run_id: run, status: 'FINISHED' })).body.run_info.status).toBe('FINISHED');
    // MLflow's create_logged_model wants an active experiment
    expect((await post(`${M}/experiments/delete`, { experiment_id: exp })).status).toBe(200);
    const inDeleted = await post(`${M}/logged-models`, { experiment_id: exp, source_run_id: run, name: 'late' });
    expect([...code(inDeleted), inDeleted.body.message]).toEqual([400, 'INVALID_PARAMETER_VALUE', `The experiment ${exp} must be in the 'active' state. Current state is deleted.`]);
  });
});

describe('artifact paths', () => {
  it('the artifact proxy and list_artifacts answer "Invalid path" for traversal, absolute paths and NUL, as MLflow does', async () => {
    const { exp, run } = await newRun('paths');
    const root = `/api/2.0/mlflow-artifacts/artifacts`;
    expect((await send('PUT', `${root}/${exp}/${run}/artifacts/d/a.txt`, Buffer.from('hi'), 'application/octet-stream')).status).toBe(200);
    const before = await stored();
    const invalidPath = [400, 'INVALID_PARAMETER_VALUE', 'Invalid path'];
    const answer = (r: Answer) => [...code(r), r.body.message];
    for (const p of ['..', 'd/../..', '%2e%2e%2fx', '%2Fetc%2Fpasswd', 'd%2F%2F..', 'a%00b']) {
      expect(answer(await get(`${root}?path=${exp}/${run}/artifacts/${p}`)), `proxy list ${p}`).toEqual(invalidPath);
      expect(answer(await get(`${M}/artifacts/list?run_id=${run}&path=${p}`)), `list_artifacts ${p}`).toEqual(invalidPath);
    }
    // a wildcard path arrives decoded once: %2e%2e%2f is `../` by then
    for (const p of ['%2e%2e%2fx', 'd%2f..%2f..%2fx', 'a%00b']) {
      expect(answer(await get(`${root}/${exp}/${run}/artifacts/${p}`)), `proxy download ${p}`).toEqual(invalidPath);
      expect(answer(await send('PUT', `${root}/${exp}/${run}/artifacts/${p}`, Buffer.from('x'), 'application/octet-stream')), `proxy upload ${p}`).toEqual(invalidPath);
    }
    expect(await stored()).toBe(before);
    expect((await get(`${root}?path=${exp}/${run}/artifacts/d`)).body).toEqual({ root_uri: '', files: [{ path: 'a.txt', is_dir: false, file_size: 2 }] });
  });
});

describe('keys named like members of Object.prototype', () => {
  it('params, tags and experiment tags named constructor, toString, __proto__ … are stored and found like any other key', async () => {
    const names = ['constructor', 'toString', '__proto__', 'hasOwnProperty'];
    const exp = await post(`${M}/experiments/create`, { name: 'proto', tags: [{ key: '__proto__', value: 'e' }] });
    expect(exp.status).toBe(200);
    const created = await post(`${M}/runs/create`, { experiment_id: exp.body.experiment_id, run_name: 'r', tags: [{ key: '__proto__', value: 'c' }] });
    const run = created.body.run.info.run_id;
    // a run without the tag: deleting it is RESOURCE_DOES_NOT_EXIST, not a silent success
    expect(code(await post(`${M}/runs/delete-tag`, { run_id: run, key: 'constructor' }))).toEqual([404, 'RESOURCE_DOES_NOT_EXIST']);
    for (const k of names) {
      expect((await post(`${M}/runs/log-parameter`, { run_id: run, key: k, value: `p-${k}` })).status, `param ${k}`).toBe(200);
      expect((await post(`${M}/runs/log-batch`, { run_id: run, tags: [{ key: k, value: `t-${k}` }] })).status, `tag ${k}`).toBe(200);
    }
    const data = (await get(`${M}/runs/get?run_id=${run}`)).body.run.data;
    const byKey = (l: { key: string; value: string }[]) => Object.fromEntries(l.filter((x) => names.includes(x.key)).map((x) => [x.key, x.value]));
    expect(byKey(data.params)).toEqual(Object.fromEntries(names.map((k) => [k, `p-${k}`])));
    expect(byKey(data.tags)).toEqual(Object.fromEntries(names.map((k) => [k, `t-${k}`])));
    const got = (await get(`${M}/experiments/get?experiment_id=${exp.body.experiment_id}`)).body.experiment;
    expect(got.tags).toEqual([{ key: '__proto__', value: 'e' }]);
    // only the experiment that has the tag matches it
    const found = await post(`${M}/experiments/search`, { filter: "tags.constructor LIKE '%'" });
    expect([found.status, found.body.experiments ?? []]).toEqual([200, []]);
    const model = await post(`${M}/logged-models`, { experiment_id: exp.body.experiment_id, source_run_id: run, params: [{ key: '__proto__', value: 'm' }] });
    expect(model.body.model.data.params).toEqual([{ key: '__proto__', value: 'm' }]);
  });
});
