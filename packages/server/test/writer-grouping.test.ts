import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeBatch } from '../src/stores/clickhouse/encode.ts';
import { MetricWriter, type WriteRequest } from '../src/stores/clickhouse/writer.ts';
import type { Tenant } from '../src/stores/postgres/tenant.ts';
import { useTestServer } from './helpers.ts';

/**
 * The group-commit writer's flush sizes on the real chDB store: every flush writes ~6 parts with a
 * fixed cost each, so import-sized requests that arrive while a flush runs must wait and go out
 * together instead of each starting a flush of its own (writer.ts minFlushRows).
 */
const t = useTestServer('writer-grouping');

function request(tenant: Tenant, projectId: string, experimentId: string, rows: number, step0: number): WriteRequest {
  const steps = Array.from({ length: rows }, (_, i) => step0 + i);
  const body = { series: [{ metric_name: 'loss', steps, values: steps.map((s) => 1 / (s + 1)) }] };
  // versions are logged_at in µs (services/version-clock.ts): near now, or the TTL drops the rows at insert
  const r = encodeBatch(body, { teamId: tenant.teamId, projectId, experimentId, retentionDays: 730 }, Date.now(), Date.now() * 1000 + step0);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return { tenant, projectId, experimentId, rows: r.rows };
}

describe('metric writer grouping', () => {
  it('requests of a fifth of maxRows or more, arriving while a flush runs, go out in one flush (not one each)', async () => {
    const flushes: number[] = [];
    const writer = new MetricWriter(
      t.srv.ctx.ch,
      { maxRows: 8_000, maxDelayMs: 0, maxPendingRows: 1_000_000, concurrency: 2 },
      {
        beforeInsert: async () => undefined,
        afterInsert: async (flushed) => void flushes.push(flushed.reduce((n, r) => n + r.rows.count, 0)),
      },
      (err) => {
        throw err;
      },
    );
    const tenant: Tenant = { teamId: t.team.teamId, userId: randomUUID(), role: 'researcher', keyId: null, sessionId: null };
    const [projectId, experimentId] = [randomUUID(), randomUUID()];
    // The first (a quarter of maxRows) starts a flush at once; the other three arrive while it runs.
    // Starting the free slot for each of them (the rule for small batches) gave flushes of 2k, 2k, 4k.
    const rows = 2_000;
    await Promise.all([0, 1, 2, 3].map((i) => writer.submit(request(tenant, projectId, experimentId, rows, i * rows))));
    await writer.close();
    expect(flushes).toEqual([rows, 3 * rows]);
    const rs = await t.srv.ctx.ch.client.query({ query: 'SELECT count() FROM metrics WHERE experiment_id = {e:UUID}', query_params: { e: experimentId }, format: 'JSONCompactEachRow' });
    expect(await rs.json()).toEqual([[4 * rows]]);
  });
});
