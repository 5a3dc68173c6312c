import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '@assay/contracts';
import { seedRun, startTestServer, type TestServer, type TestTeam } from './helpers.ts';

/** The contract's edges, server side (docs/contract.md): each limit accepted at its value and refused one past it. */
let srv: TestServer;
let team: TestTeam;

beforeAll(async () => {
  srv = await startTestServer();
  team = await srv.newTeam('limits');
});
afterAll(() => srv?.close());

const json = { 'content-type': 'application/json' };
const raw = (method: string, url: string, body: string) => team.api.call(method, url, body, json);

describe('batch size limits', () => {
  it('over batchSeriesMax series or batchPointsMax rows: 413 naming the limit, nothing written', async () => {
    const { projectId, experimentId } = await seedRun(team.api, 'p-size', 'r1');
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

    const s = await team.api.get(`/metrics/summary/${projectId}/${experimentId}`);
    expect(Object.keys(s.body.metrics)).toEqual(['s']);
    // the refused batch_id was not recorded: sending it within the limits writes it
    const ok = await team.api.post(url, { batch_id: 'big', metrics: [{ metric_name: 'r', metric_value: 1, step: 0 }] });
    expect(ok.body).toMatchObject({ count: 1, duplicate: false });
  });
});
