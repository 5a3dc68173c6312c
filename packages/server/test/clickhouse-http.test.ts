import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClickHouseHttpFixture, type ClickHouseHttpFixture } from './ch-http-fixture/start.ts';
import { seedRun, startTestServer, type TestServer } from './helpers.ts';

/**
 * Bugs of Assay's ClickHouse-server path (`CLICKHOUSE_URL`), each found by running the suite against
 * the ClickHouse-HTTP test fixture. These run in every pass: each test starts its own fixture.
 */
let fx: ClickHouseHttpFixture;
const servers: TestServer[] = [];

beforeAll(async () => {
  fx = await startClickHouseHttpFixture();
});
afterAll(async () => {
  for (const s of servers) await s.close();
  await fx?.stop();
});

describe('ClickHouse over HTTP', () => {
  it('creates a CLICKHOUSE_DATABASE that does not exist yet, then writes and reads in it', async () => {
    // A server refuses a request whose `database` parameter names a missing database, so the
    // migration's CREATE DATABASE failed when it went through the client bound to that database.
    const srv = await startTestServer({ CLICKHOUSE_URL: fx.url, CLICKHOUSE_DATABASE: 'assay_fresh' });
    servers.push(srv);
    expect(srv.ctx.ch.kind).toBe('http');
    const team = await srv.newTeam('chhttp');
    const { projectId, experimentId } = await seedRun(team.api, 'p', 'r');
    const log = await team.api.post(`/metrics/batch/${projectId}/${experimentId}`, { metrics: [0, 1, 2].map((step) => ({ metric_name: 'loss', metric_value: 1 / (step + 1), step })) });
    expect(log.status).toBe(200);
    const ts = await team.api.get(`/metrics/timeseries/${projectId}/${experimentId}/loss`);
    expect(ts.body.points.map((p: { value: number }) => p.value)).toEqual([1, 0.5, 1 / 3]);
    const rows = await srv.ctx.ch.adminRows<[string]>("SELECT name FROM system.tables WHERE database = 'assay_fresh' AND name = 'metrics'");
    expect(rows).toEqual([['metrics']]);
  });
});
