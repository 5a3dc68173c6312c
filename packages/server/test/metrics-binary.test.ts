import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '@assay/contracts';
import { encodeBinaryBatch } from '../src/stores/clickhouse/binary-batch.ts';
import { encodeBatch } from '../src/stores/clickhouse/encode.ts';
import { seedRun, useTestServer } from './helpers.ts';

/**
 * The binary columnar body of POST /metrics/batch (docs/api.md "Binary batches"): it stores exactly
 * what the JSON `series` form stores, keeps batch_id idempotency across both forms, and refuses
 * every malformed body with a 4xx and nothing written — every truncation of a valid body included.
 */
const t = useTestServer('binary');

const bin = { 'content-type': 'application/octet-stream' };
const T0 = Date.UTC(2026, 0, 1);
const SERIES = [
  { metric_name: 'loss', steps: [0, 1, 2, 3, 2 ** 40], values: [1.5, NaN, Infinity, -Infinity, -0.25], timestamps: [T0, T0 + 1, T0 + 2, T0 + 3, LIMITS.timestampMaxMs] },
  { metric_name: 'gpu°C', host: 'node-1', steps: [5, 6, 7], values: [70, 71, 72] },
];

const msgs = (body: { detail: { msg: string }[] }) => body.detail.map((d) => d.msg).join('; ');

async function stored(projectId: string, experimentId: string) {
  const out: Record<string, unknown> = {};
  for (const m of ['loss', 'gpu°C']) {
    const r = await t.team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/${encodeURIComponent(m)}`);
    // the server's clock stamps points sent without timestamps: compare those by presence only
    out[m] = r.body.points.map((p: { timestamp: string }) => ({ ...p, timestamp: m === 'loss' ? p.timestamp : typeof p.timestamp }));
  }
  const s = await t.team.api.get(`/metrics/summary/${projectId}/${experimentId}`);
  const clockFree = (k: string, v: Record<string, unknown>) => ({ ...v, last_logged_at: undefined, last_timestamp: k === 'loss' ? v.last_timestamp : undefined });
  out.summary = Object.fromEntries(Object.entries(s.body.metrics as Record<string, Record<string, unknown>>).map(([k, v]) => [k, clockFree(k, v)]));
  return out;
}

describe('binary batch body', () => {
  it('encodes to the same bytes as the JSON forms: points, versions, every partial aggregate, the per-metric counts', () => {
    const target = { teamId: '11111111-1111-4111-8111-111111111111', projectId: '22222222-2222-4222-8222-222222222222', experimentId: '33333333-3333-4333-8333-333333333333', retentionDays: 30 };
    // a re-logged step, a host, buckets of both rollups crossed, and a series without timestamps (the clock's)
    type Series = { metric_name: string; host?: string; steps: number[]; values: number[]; timestamps?: number[] };
    const series: Series[] = [...SERIES, { metric_name: 'loss', steps: [3, 9, 300], values: [0.5, 2, -1], timestamps: [T0 + 7, T0 + 5, T0 + 9] }, { metric_name: 'lr', steps: [1, 2], values: [0.1, 0.2] }];
    const wire = series.map((s) => ({ ...s, values: s.values.map((v) => (Number.isFinite(v) ? v : String(v))) }));
    const rows = wire.flatMap((s) => s.steps.map((step, i) => ({ metric_name: s.metric_name, host: s.host, step, metric_value: s.values[i], timestamp: s.timestamps?.[i] })));
    const now = T0 + 60_000;
    const enc = (body: unknown) => {
      const r = encodeBatch(body, target, now, 1_000);
      if (!r.ok) throw new Error(JSON.stringify(r.issues));
      return { ...r.rows, perMetric: Object.fromEntries(r.rows.perMetric) };
    };
    const viaBinary = enc(encodeBinaryBatch('b', series));
    expect(viaBinary.count).toBe(13);
    expect(Object.keys(viaBinary.partials).sort()).toEqual(['metrics_aggregated_input', 'metrics_rollup_fine_input', 'metrics_rollup_input', 'metrics_summary_input']);
    expect(enc({ series: wire })).toEqual(viaBinary);
    expect(enc({ metrics: rows })).toEqual(viaBinary);
  });

  it('stores what the JSON series form stores; NaN/±Inf values and the step and timestamp maxima are legal', async () => {
    const a = await seedRun(t.team.api, 'p-bin', 'json');
    const b = await seedRun(t.team.api, 'p-bin', 'binary');
    const wire = SERIES.map((s) => ({ ...s, values: s.values.map((v) => (Number.isFinite(v) ? v : String(v))) }));
    const viaJson = await t.team.api.post(`/metrics/batch/${a.projectId}/${a.experimentId}`, { batch_id: 'j1', series: wire });
    expect(viaJson.status).toBe(200);
    const viaBin = await t.team.api.call('POST', `/metrics/batch/${b.projectId}/${b.experimentId}`, encodeBinaryBatch('b1', SERIES), bin);
    expect(viaBin.status).toBe(200);
    expect(viaBin.body).toMatchObject({ count: 8, duplicate: false });
    const want = await stored(a.projectId, a.experimentId);
    expect((want.loss as unknown[]).length).toBe(5);
    expect(await stored(b.projectId, b.experimentId)).toEqual(want);
  });

  it('a batch_id is a no-op on re-send, whichever form sent it first; gzip bodies work', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'p-bin', 'idem');
    const url = `/metrics/batch/${projectId}/${experimentId}`;
    const body = encodeBinaryBatch('same', SERIES);
    expect((await t.team.api.call('POST', url, body, bin)).body).toMatchObject({ count: 8, duplicate: false });
    expect((await t.team.api.call('POST', url, gzipSync(body), { ...bin, 'content-encoding': 'gzip' })).body).toMatchObject({ duplicate: true });
    const wire = SERIES.map((s) => ({ ...s, values: s.values.map((v) => (Number.isFinite(v) ? v : String(v))) }));
    expect((await t.team.api.post(url, { batch_id: 'same', series: wire })).body).toMatchObject({ duplicate: true });
    expect((await t.team.api.post(url, { batch_id: 'json-first', series: wire.slice(1) })).body).toMatchObject({ duplicate: false });
    expect((await t.team.api.call('POST', url, encodeBinaryBatch('json-first', SERIES.slice(1)), bin)).body).toMatchObject({ duplicate: true });
    const s = await t.team.api.get(`/metrics/summary/${projectId}/${experimentId}`);
    expect(s.body.metrics.loss.count).toBe(5);
    expect(s.body.metrics['gpu°C'].count).toBe(6); // 3 + the json-first batch's 3 on the same steps
  });

  it('every truncation and every malformed layout is a 422 naming the problem, and nothing is written', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'p-bin', 'hostile');
    const url = `/metrics/batch/${projectId}/${experimentId}`;
    const good = encodeBinaryBatch('h1', SERIES);
    const send = (b: Buffer) => t.team.api.call('POST', url, b, bin);
    for (let len = 0; len < good.length; len++) {
      const r = await send(good.subarray(0, len));
      expect([len, r.status]).toEqual([len, 422]);
      expect(msgs(r.body)).toMatch(len < 4 ? /must start with/ : /truncated/);
    }
    const patched = (at: number, write: (b: Buffer) => void) => {
      const b = Buffer.from(good);
      write(b.subarray(at));
      return b;
    };
    const nameAt = 4 + 2 + 2 + 4; // magic, batch_id length, "h1", series count
    const flagsAt = nameAt + 2 + 4 + 2; // "loss", no host
    const stepsAt = flagsAt + 5;
    const tsAt = stepsAt + 5 * 16;
    const cases: [string, Buffer, RegExp][] = [
      ['bad magic', patched(0, (b) => b.write('AMB2')), /must start with "AMB1"/],
      ['trailing byte', Buffer.concat([good, Buffer.from([0])]), /1 bytes after its last series/],
      ['unknown flag', patched(flagsAt, (b) => (b[0] = 3)), /unknown flag bits/],
      ['huge point count', patched(flagsAt + 1, (b) => b.writeUInt32LE(0xffffffff)), /truncated/],
      ['huge series count', patched(8, (b) => b.writeUInt32LE(0xffffffff)), /truncated/],
      ['invalid UTF-8 name', patched(nameAt + 2, (b) => (b[0] = 0xff)), /metric_name is not valid UTF-8/],
      ['NUL in name', patched(nameAt + 2, (b) => (b[0] = 0)), /metric_name/],
      ['empty name', encodeBinaryBatch('h1', [{ ...SERIES[1], metric_name: '' }]), /metric_name must be 1–250/],
      ['step 2^53', patched(stepsAt + 8, (b) => b.writeUInt32LE(0x200000, 4)), /step must be an integer between 0 and 2\^53-1/],
      ['timestamp past 2106', patched(tsAt, (b) => b.writeUInt32LE(1000, 4)), /timestamp must be epoch milliseconds/],
      ['timestamp one ms past the maximum', encodeBinaryBatch('h1', [{ ...SERIES[0], timestamps: SERIES[0].timestamps!.map(() => LIMITS.timestampMaxMs + 1) }]), /timestamp must be/],
      ['batch_id too long', encodeBinaryBatch('x'.repeat(LIMITS.batchIdMax + 1), SERIES), /batch_id/],
    ];
    for (const [what, body, msg] of cases) {
      const r = await send(body);
      expect([what, r.status]).toEqual([what, 422]);
      expect(msgs(r.body)).toMatch(msg);
    }
    const s = await t.team.api.get(`/metrics/summary/${projectId}/${experimentId}`);
    expect(s.body.metrics).toEqual({});
    // none of the refused bodies recorded its batch_id
    expect((await send(good)).body).toMatchObject({ count: 8, duplicate: false });
  });

  it('over batchSeriesMax series or batchPointsMax points: 413, nothing written; other routes still refuse octet-stream', async () => {
    const { projectId, experimentId } = await seedRun(t.team.api, 'p-bin', 'big');
    const url = `/metrics/batch/${projectId}/${experimentId}`;
    const empty = Array.from({ length: LIMITS.batchSeriesMax + 1 }, () => ({ metric_name: 'e', steps: [], values: [] }));
    const r1 = await t.team.api.call('POST', url, encodeBinaryBatch('big', empty), bin);
    expect(r1.status).toBe(413);
    expect(r1.body.detail).toMatch(/100001 series, at most 100000/);
    const n = LIMITS.batchPointsMax + 1;
    const steps = Array.from({ length: n }, (_, i) => i);
    const r2 = await t.team.api.call('POST', url, encodeBinaryBatch('big', [{ metric_name: 'e', steps, values: steps }]), bin);
    expect(r2.status).toBe(413);
    expect(r2.body.detail).toMatch(/1000001 points, at most 1000000/);
    expect((await t.team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics).toEqual({});
    const other = await t.team.api.call('POST', `/metrics/log/${projectId}/${experimentId}`, encodeBinaryBatch(undefined, SERIES), bin);
    expect(other.status).toBe(415);
  });
});
