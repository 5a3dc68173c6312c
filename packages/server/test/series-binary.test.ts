import { decodeSeriesBinary, SERIES_BINARY_TYPE } from '@assay/contracts/ui-data-binary';
import { beforeAll, describe, expect, it } from 'vitest';
import { seedRun, useTestServer } from './helpers.ts';

/**
 * POST /metrics/series with `Accept: application/vnd.assay.series`: the binary form holds exactly the
 * JSON answer (NaN/±Infinity as numbers, null where JSON has null) in every read mode, and is smaller.
 */
const t = useTestServer('series-binary');
const T0 = Date.UTC(2026, 0, 1);
let projectId: string;
let run: string;
let other: string;

const wire = (v: unknown) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v);
/** The JSON answer with its value strings as numbers: what the binary form decodes to. */
const asNumbers = (body: { series: { data: Record<string, unknown[]> }[] }) => ({
  ...body,
  series: body.series.map((s) => ({ ...s, data: Object.fromEntries(Object.entries(s.data).map(([k, a]) => [k, a.map(wire)])) })),
});

async function both(body: Record<string, unknown>) {
  const json = await t.team.api.post('/metrics/series', { project_id: projectId, ...body });
  expect(json.status, JSON.stringify(json.body).slice(0, 300)).toBe(200);
  const res = await t.srv.app.inject({
    method: 'POST',
    url: '/api/v1/metrics/series',
    headers: { authorization: `Bearer ${t.team.apiKey}`, accept: SERIES_BINARY_TYPE, 'content-type': 'application/json' },
    payload: { project_id: projectId, ...body },
  });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toBe(SERIES_BINARY_TYPE);
  const raw = res.rawPayload;
  return { json: json.body, binary: decodeSeriesBinary(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer), bytes: raw.byteLength, jsonBytes: JSON.stringify(json.body).length };
}

beforeAll(async () => {
  ({ projectId, experimentId: run } = await seedRun(t.team.api, 'binary', 'run'));
  other = (await seedRun(t.team.api, 'binary', 'other')).experimentId;
  const steps = Array.from({ length: 3000 }, (_, i) => i);
  const v = (s: number) => (s === 100 ? 'Infinity' : s === 200 ? '-Infinity' : s >= 480 && s < 520 ? 'NaN' : s % 13 === 0 ? 'NaN' : Math.sin(s / 40));
  for (const [id, metric] of [[run, 'loss'], [other, 'loss'], [run, 'acc']] as const) {
    const r = await t.team.api.post(`/metrics/batch/${projectId}/${id}`, { series: [{ metric_name: metric, steps, values: steps.map(v), timestamps: steps.map((s) => T0 + s) }] });
    expect(r.status).toBe(200);
  }
}, 120_000);

describe('POST /metrics/series, binary answer', () => {
  it('decodes to the JSON answer: fine-rollup buckets (null min/max of an all-NaN bucket), raw points, a window scan, an overview (count null), fields', async () => {
    for (const body of [
      { experiment_ids: [run, other], buckets: 120 },
      { series: [{ experiment_id: run, metric_name: 'loss' }, { experiment_id: other, metric_name: 'nothing' }], buckets: 5000 },
      { series: [{ experiment_id: run, metric_name: 'acc' }], buckets: 50, step_min: 10, step_max: 2000 },
      { series: [{ experiment_id: run, metric_name: 'loss' }], buckets: 10 },
      { experiment_ids: [run], buckets: 120, fields: ['min', 'last', 'last_step', 'values'] },
    ]) {
      const { json, binary } = await both(body);
      expect(binary).toEqual(asNumbers(json));
    }
    const fine = (await both({ experiment_ids: [run, other], buckets: 120 })).binary.series[0];
    expect(fine.data.min).toContain(null);
    expect(fine.data.max).toContain(Infinity);
    expect(fine.data.min).toContain(-Infinity);
    expect(fine.data.last.some((x) => Number.isNaN(x))).toBe(true);
    const overview = (await both({ series: [{ experiment_id: run, metric_name: 'loss' }], buckets: 10 })).binary.series[0];
    expect(overview.data.count.every((c) => c === null)).toBe(true);
    const raw = (await both({ series: [{ experiment_id: run, metric_name: 'loss' }], buckets: 5000 })).binary.series[0];
    expect([raw.mode, raw.data.values.length, raw.data.values[100], raw.data.values[13]]).toEqual(['raw', 3000, Infinity, NaN]);
  });

  it("is smaller than the JSON of the arrays a chart asks for; errors stay JSON; without the Accept the answer is JSON", async () => {
    // float values and epoch-ms timestamps: ~20 and 14 characters in JSON, 8 bytes here (small integers are shorter in JSON)
    const { bytes, jsonBytes } = await both({ experiment_ids: [run, other], buckets: 120, fields: ['min', 'max', 'last', 'last_step', 'last_timestamp'] });
    expect(bytes).toBeLessThan(jsonBytes * 0.7);
    const bad = await t.srv.app.inject({
      method: 'POST',
      url: '/api/v1/metrics/series',
      headers: { authorization: `Bearer ${t.team.apiKey}`, accept: SERIES_BINARY_TYPE, 'content-type': 'application/json' },
      payload: { project_id: projectId, experiment_ids: ['no-such-run'] },
    });
    expect(bad.statusCode).toBe(404);
    expect(bad.json()).toHaveProperty('detail');
    const plain = await t.srv.app.inject({
      method: 'POST',
      url: '/api/v1/metrics/series',
      headers: { authorization: `Bearer ${t.team.apiKey}`, 'content-type': 'application/json' },
      payload: { project_id: projectId, experiment_ids: [run] },
    });
    expect(plain.headers['content-type']).toMatch(/^application\/json/);
  });

  it('a truncated or corrupt body is refused by the decoder, not read as numbers', async () => {
    const res = await t.srv.app.inject({
      method: 'POST',
      url: '/api/v1/metrics/series',
      headers: { authorization: `Bearer ${t.team.apiKey}`, accept: SERIES_BINARY_TYPE, 'content-type': 'application/json' },
      payload: { project_id: projectId, experiment_ids: [run] },
    });
    const b = res.rawPayload;
    const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    expect(() => decodeSeriesBinary(ab.slice(0, ab.byteLength - 8))).toThrow(/past the end/);
    expect(() => decodeSeriesBinary(ab.slice(1))).toThrow(/not an ASR1/);
  });
});
