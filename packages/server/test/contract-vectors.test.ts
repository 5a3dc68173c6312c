import { beforeAll, describe, expect, it } from 'vitest';
import { POINT_VECTORS, type PointVector } from '@assay/contracts/vectors';
import { seedRun, useTestServer } from './helpers.ts';

/**
 * The server accepts and refuses exactly what the shared contract vectors say (the same vectors
 * run through both SDKs' own checks), in the row form and the columnar form of a batch; a refused
 * point is a 422 naming the field, and nothing of its batch is written.
 */
const t = useTestServer('vectors');
let run: { projectId: string; experimentId: string };

beforeAll(async () => {
  run = await seedRun(t.team.api, 'vectors', 'run');
});

const base = { metric_name: 'base', metric_value: 1, step: 7 };

function rowBody(vec: PointVector) {
  return { metrics: [{ ...base, [vec.field]: vec.value }] };
}

function seriesBody(vec: PointVector) {
  const p = { ...base, [vec.field]: vec.value } as Record<string, unknown>;
  const s: Record<string, unknown> = { metric_name: p.metric_name, steps: [p.step], values: [p.metric_value] };
  if ('timestamp' in p) s.timestamps = [p.timestamp];
  if ('host' in p) s.host = p.host;
  return { series: [s] };
}

const columnLoc: Record<string, (string | number)[]> = {
  metric_name: ['body', 'series', 0, 'metric_name'],
  host: ['body', 'series', 0, 'host'],
  step: ['body', 'series', 0, 'steps', 0],
  metric_value: ['body', 'series', 0, 'values', 0],
  timestamp: ['body', 'series', 0, 'timestamps', 0],
};

describe.each([
  ['row form', rowBody, (v: PointVector) => ['body', 'metrics', 0, v.field]],
  ['columnar form', seriesBody, (v: PointVector) => columnLoc[v.field]],
] as const)('contract vectors, %s', (_form, body, loc) => {
  it.each(POINT_VECTORS.map((v) => [`${v.field}: ${v.why} → ${v.accept ? 'accepted' : 'refused'}`, v] as const))('%s', async (_name, vec) => {
    const experiment = (await t.team.api.post(`/projects/${run.projectId}/experiments`, { name: `v-${Math.random().toString(36).slice(2)}` })).body.id;
    // JSON text, so lone surrogates travel as \ud800 escapes exactly as a client would send them
    const r = await t.team.api.post(`/metrics/batch/${run.projectId}/${experiment}`, JSON.stringify(body(vec)), { 'content-type': 'application/json' });
    const names = await t.team.api.get(`/metrics/names/${run.projectId}/${experiment}`);
    if (vec.accept) {
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.count).toBe(1);
      const name = vec.field === 'metric_name' ? (vec.value as string) : base.metric_name;
      expect(names.body.items.map((i: { metric_name: string }) => i.metric_name)).toEqual([name]);
      const ts = await t.team.api.get(`/metrics/timeseries/${run.projectId}/${experiment}/${encodeURIComponent(name)}`);
      expect(ts.body.points).toHaveLength(1);
      const [pt] = ts.body.points;
      if (vec.field === 'step') expect(pt.step).toBe(vec.value);
      if (vec.field === 'metric_value') expect(pt.value).toBe(vec.value === -0 ? 0 : vec.value);
      if (vec.field === 'host' && vec.value !== '') expect(pt.host).toBe(vec.value);
      if (vec.field === 'timestamp') expect(Date.parse(pt.timestamp)).toBe(typeof vec.value === 'number' ? vec.value : Date.parse(vec.value as string));
    } else {
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.detail.map((d: { loc: unknown }) => d.loc)).toEqual([loc(vec)]);
      expect(names.body.items).toEqual([]);
    }
  });
});
