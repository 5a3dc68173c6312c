import { describe, expect, it } from 'vitest';
import { LIMITS } from '@assay/contracts';
import { seedRun, useTestServer } from './helpers.ts';

/**
 * The contract's edges, server side (docs/contract.md): each limit accepted exactly at its value
 * and refused one past it, and text the stores cannot hold (NUL, unpaired surrogates) refused with
 * a 422 — never a 500 — wherever a client can send it. Bodies are raw JSON strings so the escapes
 * reach the server as a client would send them.
 */
const t = useTestServer('limits');

const json = { 'content-type': 'application/json' };
const raw = (method: string, url: string, body: string) => t.team.api.call(method, url, body, json);
const BAD = { nul: 'a\\u0000b', surrogate: 'a\\ud800b', lowSurrogate: '\\udc00' };

describe('batch size limits', () => {
  it('over batchSeriesMax series or batchPointsMax rows: 413 naming the limit, nothing written', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'p-size', 'r1');
    const url = `/metrics/batch/${projectId}/${experimentId}`;
    const entry = '{"metric_name":"s","steps":[1],"values":[1]}';
    const atMax = await raw('POST', url, `{"series":[${Array(LIMITS.batchSeriesMax).fill(entry).join(',')}]}`);
    expect(atMax.status).toBe(200);
    expect(atMax.body.count).toBe(LIMITS.batchSeriesMax);

    const overSeries = await raw('POST', url, `{"series":[${Array(LIMITS.batchSeriesMax + 1).fill(entry.replace('"s"', '"t"')).join(',')}]}`);
    expect(overSeries.status).toBe(413);
    expect(overSeries.body.detail).toMatch(/100001 entries in series, at most 100000/);

    const row = '{"metric_name":"r","metric_value":0,"step":0}';
    const overRows = await raw('POST', url, `{"batch_id":"big","metrics":[${Array(LIMITS.batchPointsMax + 1).fill(row).join(',')}]}`);
    expect(overRows.status).toBe(413);
    expect(overRows.body.detail).toMatch(/1000001 points in metrics, at most 1000000/);

    const s = await t.team.api.get(`/metrics/summary/${projectId}/${experimentId}`);
    expect(Object.keys(s.body.metrics)).toEqual(['s']);
    // the refused batch_id was not recorded: sending it within the limits writes it
    const ok = await t.team.api.post(url, { batch_id: 'big', metrics: [{ metric_name: 'r', metric_value: 1, step: 0 }] });
    expect(ok.body).toMatchObject({ count: 1, duplicate: false });
  });
});

describe('features size', () => {
  it('featuresJsonMax code points of JSON text per request: accepted at the limit (four-byte characters too), refused one past it on create and patch, nothing written', async () => {
    const max = LIMITS.featuresJsonMax;
    const { projectId } = await seedRun(t.team.api, 'p-features', 'seed');
    const url = `/projects/${projectId}/experiments`;
    // {"k":"…"} is 8 code points around the string
    const atMax = await t.team.api.post(url, { name: 'at-max', features: { k: '\u{1F600}'.repeat(max - 8) } });
    expect(atMax.status).toBe(201);
    const over = await t.team.api.post(url, { name: 'over', features: { k: 'x'.repeat(max - 7) } });
    expect(over.status).toBe(422);
    expect(over.body.detail[0]).toMatchObject({ loc: ['body', 'features'], msg: `features hold ${max + 1} code points of JSON text; at most ${max} per request` });
    expect((await t.team.api.get(`${url}/over`)).status).toBe(404);

    const small = await t.team.api.post(url, { name: 'small', features: { lr: 0.1 } });
    const patched = await t.team.api.patch(`${url}/${small.body.id}`, { features: { k: 'x'.repeat(max - 7) } });
    expect(patched.status).toBe(422);
    expect((await t.team.api.get(`${url}/${small.body.id}`)).body.features).toEqual({ lr: 0.1 });

    // a million keys: refused by the routes' body limit before any parsing (413), not after seconds of it
    const many = `{"name":"many","features":{${Array.from({ length: 1_000_000 }, (_, i) => `"k${i}":0`).join(',')}}}`;
    expect((await raw('POST', url, many)).status).toBe(413);
  });

  it("a run's stored features stay within featuresJsonMax over many requests: the merge that would pass it is refused (patch and resume), nothing written", async () => {
    const max = LIMITS.featuresJsonMax;
    const { projectId } = await seedRun(t.team.api, 'p-features-grow', 'seed');
    const url = `/projects/${projectId}/experiments`;
    const half = 500_000;
    const run = await t.team.api.post(url, { name: 'grow', features: { a: 'x'.repeat(half) } });
    expect(run.status).toBe(201);
    const features = async () => (await t.team.api.get(`${url}/${run.body.id}`)).body.features;
    // {"a":"…","b":"…"}: 15 code points around the two strings
    const fits = max - 15 - half;
    const over = await t.team.api.patch(`${url}/${run.body.id}`, { features: { b: 'y'.repeat(fits + 1) } });
    expect(over.status).toBe(422);
    expect(over.body.detail[0]).toMatchObject({ loc: ['body', 'features'], msg: `features hold ${max + 1} code points of JSON text; at most ${max} in a run's stored features (after merging this request into them)` });
    const resumed = await t.team.api.post(`${url}?if_exists=return`, { name: 'grow', features: { c: 'z'.repeat(fits + 1) } });
    expect(resumed.status).toBe(422);
    expect(await features()).toEqual({ a: 'x'.repeat(half) });

    expect((await t.team.api.patch(`${url}/${run.body.id}`, { features: { b: 'y'.repeat(fits) } })).status).toBe(200);
    expect(await features()).toEqual({ a: 'x'.repeat(half), b: 'y'.repeat(fits) });
    // a key replaced by a value of the same size leaves the size as it is; a patch without features still works
    expect((await t.team.api.patch(`${url}/${run.body.id}`, { features: { a: 'w'.repeat(half) } })).status).toBe(200);
    expect((await t.team.api.patch(`${url}/${run.body.id}`, { description: 'full' })).status).toBe(200);
    expect((await t.team.api.patch(`${url}/${run.body.id}`, { features: { d: 1 } })).status).toBe(422);
  });
});

describe('metric point edges', () => {
  it('metric names of 250 four-byte characters are stored verbatim; 251 are refused at their loc', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'p-emoji', 'r1');
    const at = '😀'.repeat(LIMITS.metricNameMax);
    expect(at.length).toBe(500); // UTF-16 units
    const over = at + '😀';
    const url = `/metrics/batch/${projectId}/${experimentId}`;
    expect((await t.team.api.post(url, { metrics: [{ metric_name: at, metric_value: 1, step: 0 }] })).status).toBe(200);
    const ts = await t.team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/${encodeURIComponent(at)}`);
    expect(ts.status).toBe(200);
    expect(ts.body.metric_name).toBe(at);
    expect(ts.body.points).toHaveLength(1);
    expect(Object.keys((await t.team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics)).toEqual([at]);

    const r = await t.team.api.post(url, { metrics: [{ metric_name: 'ok', metric_value: 1, step: 0 }, { metric_name: over, metric_value: 1, step: 1 }] });
    expect(r.status).toBe(422);
    expect(r.body.detail).toEqual([expect.objectContaining({ loc: ['body', 'metrics', 1, 'metric_name'] })]);
    const c = await t.team.api.post(url, { series: [{ metric_name: over, steps: [0], values: [1] }] });
    expect(c.body.detail[0].loc).toEqual(['body', 'series', 0, 'metric_name']);
    expect((await t.team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/${encodeURIComponent(over)}`)).status).toBe(422);
  });

  it('the last storable timestamp is accepted and read back; one millisecond later is refused', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'p-ts', 'r1');
    const url = `/metrics/batch/${projectId}/${experimentId}`;
    const maxIso = new Date(LIMITS.timestampMaxMs).toISOString();
    expect(maxIso).toBe('2106-02-07T06:28:15.999Z');
    const ok = await t.team.api.post(url, {
      metrics: [
        { metric_name: 'ms', metric_value: 1, step: 0, timestamp: LIMITS.timestampMaxMs },
        { metric_name: 'iso', metric_value: 1, step: 0, timestamp: maxIso },
      ],
    });
    expect(ok.status).toBe(200);
    for (const m of ['ms', 'iso']) {
      expect((await t.team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/${m}`)).body.points[0].timestamp).toBe(maxIso);
    }
    const overMs = await t.team.api.post(url, { metrics: [{ metric_name: 'x', metric_value: 1, step: 0, timestamp: LIMITS.timestampMaxMs + 1 }] });
    expect(overMs.status).toBe(422);
    expect(overMs.body.detail[0].loc).toEqual(['body', 'metrics', 0, 'timestamp']);
    const overIso = await t.team.api.post(url, { series: [{ metric_name: 'x', steps: [0], values: [1], timestamps: ['2106-02-07T06:28:16.000Z'] }] });
    expect(overIso.status).toBe(422);
    expect(overIso.body.detail[0].loc).toEqual(['body', 'series', 0, 'timestamps', 0]);
    const single = await t.team.api.post(`/metrics/log/${projectId}/${experimentId}`, { metric_name: 'x', metric_value: 1, step: 0, timestamp: LIMITS.timestampMaxMs + 1 });
    expect(single.status).toBe(422);
  });
});

describe('NUL and unpaired surrogates: 422, never 500', () => {
  it('in metric_name, host and batch_id of a batch (row and columnar form)', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'p-nul', 'r1');
    const url = `/metrics/batch/${projectId}/${experimentId}`;
    for (const bad of Object.values(BAD)) {
      const cases: [string, (string | number)[]][] = [
        [`{"metrics":[{"metric_name":"ok","metric_value":1,"step":0},{"metric_name":"${bad}","metric_value":1,"step":1}]}`, ['body', 'metrics', 1, 'metric_name']],
        [`{"metrics":[{"metric_name":"ok","metric_value":1,"step":0,"host":"${bad}"}]}`, ['body', 'metrics', 0, 'host']],
        [`{"batch_id":"${bad}","metrics":[{"metric_name":"ok","metric_value":1,"step":0}]}`, ['body', 'batch_id']],
        [`{"series":[{"metric_name":"${bad}","steps":[0],"values":[1]}]}`, ['body', 'series', 0, 'metric_name']],
        [`{"series":[{"metric_name":"ok","host":"${bad}","steps":[0],"values":[1]}]}`, ['body', 'series', 0, 'host']],
      ];
      for (const [body, loc] of cases) {
        const r = await raw('POST', url, body);
        expect(r.status, body).toBe(422);
        expect(r.body.detail[0].loc, body).toEqual(loc);
      }
      const single = await raw('POST', `/metrics/log/${projectId}/${experimentId}`, `{"metric_name":"${bad}","metric_value":1,"step":0}`);
      expect(single.status).toBe(422);
      expect(single.body.detail[0].loc).toEqual(['body', 'metric_name']);
    }
    expect((await t.team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics).toEqual({});
  });

  it('in project and experiment names, descriptions, tags, features and host', async () => {
    const { projectId } = await seedRun(t.team.api, 'p-names', 'base');
    const exps = `/projects/${projectId}/experiments`;
    for (const bad of Object.values(BAD)) {
      const cases: [string, string, string, (string | number)[]][] = [
        ['POST', '/projects', `{"name":"${bad}"}`, ['body', 'name']],
        ['POST', '/projects', `{"name":"ok-${Math.random()}","description":"${bad}"}`, ['body', 'description']],
        ['PATCH', `/projects/${projectId}`, `{"name":"${bad}"}`, ['body', 'name']],
        ['POST', exps, `{"name":"${bad}"}`, ['body', 'name']],
        ['POST', `${exps}?if_exists=return`, `{"name":"base","tags":["ok","${bad}"]}`, ['body', 'tags', 1]],
        ['POST', exps, `{"name":"e-${Math.random()}","description":"${bad}"}`, ['body', 'description']],
        ['POST', exps, `{"name":"e-${Math.random()}","host":"${bad}"}`, ['body', 'host']],
        ['POST', exps, `{"name":"e-${Math.random()}","features":{"k":"${bad}"}}`, ['body', 'features', 'k']],
        ['POST', exps, `{"name":"e-${Math.random()}","features":{"${bad}":1}}`, ['body', 'features']],
        ['PUT', `${exps}/base/code`, `{"commit":"abc","diff":"+x${bad}"}`, ['body', 'diff']],
        ['PUT', `${exps}/base/code`, `{"untracked":["ok","${bad}"]}`, ['body', 'untracked', 1]],
        ['PATCH', `${exps}/base`, `{"name":"${bad}"}`, ['body', 'name']],
        ['PATCH', `${exps}/base`, `{"tags":["${bad}"]}`, ['body', 'tags', 0]],
        ['PATCH', `${exps}/base`, `{"description":"${bad}"}`, ['body', 'description']],
        ['PATCH', `${exps}/base`, `{"features":{"a":{"b":["${bad}"]}}}`, ['body', 'features', 'a', 'b', 0]],
      ];
      for (const [method, url, body, loc] of cases) {
        const r = await raw(method, url, body);
        expect(r.status, `${method} ${url} ${body}`).toBe(422);
        expect(r.body.detail[0].loc, body).toEqual(loc);
      }
    }
    const base = (await t.team.api.get(`${exps}/base`)).body;
    expect(base).toMatchObject({ name: 'base', tags: [], features: {}, description: null, git: null });
  });

  it('in list filters and path segments', async () => {
    const { projectId } = await seedRun(t.team.api, 'p-filters', 'base');
    // a lone surrogate cannot be UTF-8 in a URL; its WTF-8 bytes (%ED%A0%80) are what a client could send
    for (const bad of ['a%00b', '%ED%A0%80', 'a%ED%B0%80']) {
      const urls = [
        `/projects?name=${bad}`,
        `/projects/${projectId}/experiments?name=${bad}`,
        `/projects/${projectId}/experiments?tag=${bad}`,
        `/projects/${bad}`,
        `/projects/${projectId}/experiments/${bad}`,
        `/metrics/timeseries/${projectId}/base/${bad}`,
        `/metrics/timeseries/${projectId}/base/loss?host=${bad}`,
        `/metrics/compare?project_id=${projectId}&experiment_ids=base&metric_names=${bad}`,
      ];
      for (const url of urls) {
        const r = url.startsWith('/metrics/compare') ? await t.team.api.post(url) : await t.team.api.get(url);
        expect(r.status, url).toBe(422);
        expect(r.body.detail[0].loc[0], url).toBe(url.includes(`?`) && url.lastIndexOf(bad) > url.indexOf('?') ? 'query' : 'path');
      }
    }
  });
});
