import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedRun, startTestServer, type TestServer, type TestTeam } from './helpers.ts';

let srv: TestServer;
let team: TestTeam;

// A tiny ingest buffer so overload is easy to cause.
beforeAll(async () => {
  srv = await startTestServer({ ASSAY_WRITER_MAX_PENDING_ROWS: '3000', ASSAY_WRITER_MAX_ROWS: '1000', ASSAY_WRITER_MAX_DELAY_MS: '20' });
  team = await srv.newTeam('bp');
});
afterAll(() => srv?.close());

describe('back-pressure', () => {
  it('answers 429 with Retry-After when the buffer is full, and loses nothing once retried', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'bp', 'r');
    const batches = Array.from({ length: 40 }, (_, b) => ({
      batch_id: `b-${b}`,
      metrics: Array.from({ length: 500 }, (_, i) => ({ metric_name: 'loss', metric_value: b * 500 + i, step: b * 500 + i })),
    }));
    let saw429 = 0;
    await Promise.all(
      batches.map(async (body) => {
        for (;;) {
          const r = await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, body);
          if (r.status === 200) return;
          expect(r.status).toBe(429);
          expect(r.headers['retry-after']).toBe('1');
          saw429++;
          await new Promise((res) => setTimeout(res, 5));
        }
      }),
    );
    expect(saw429).toBeGreaterThan(0);
    const s = await team.api.get(`/metrics/summary/${projectId}/${experimentId}`);
    expect(s.body.metrics.loss).toMatchObject({ count: 20_000, first_step: 0, last_step: 19_999 });
    const ts = await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/loss?limit=100000`);
    expect(ts.body.count).toBe(20_000);
  });

  // Breaks chDB's insert staging directory; against a ClickHouse server (CLICKHOUSE_URL) there is
  // none, so the case is reported as skipped there rather than passing without checking anything.
  it.skipIf(process.env.CLICKHOUSE_URL !== undefined)('a failed metric write answers 503 with Retry-After, and a retry of the batch writes it once; a stopping writer answers 503', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'bp', 'fail');
    const url = `/metrics/batch/${projectId}/${experimentId}`;
    const body = { batch_id: 'f-1', metrics: [{ metric_name: 'x', metric_value: 1, step: 0 }] };
    // chDB inserts go through a staging file; a missing staging directory makes the insert fail
    const ch = srv.ctx.ch as { ingestDir: string | undefined };
    const dir = ch.ingestDir;
    expect(dir).toBeDefined();
    ch.ingestDir = `${dir}/missing`;
    const failed = await team.api.post(url, body);
    ch.ingestDir = dir;
    expect(failed.status).toBe(503);
    expect(failed.headers['retry-after']).toBe('1');
    expect(failed.body.detail).toMatch(/retry later/);
    const retried = await team.api.post(url, body);
    expect(retried.body).toMatchObject({ count: 1, duplicate: false });
    expect((await team.api.get(`/metrics/summary/${projectId}/${experimentId}`)).body.metrics.x.count).toBe(1);

    await srv.ctx.writer.close();
    const stopping = await team.api.post(url, { metrics: [{ metric_name: 'x', metric_value: 2, step: 1 }] });
    expect(stopping.status).toBe(503);
    expect(stopping.headers['retry-after']).toBe('1');
  });
});
