import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCrashSweeper, sweepStaleRuns } from '../src/services/crash-sweeper.ts';
import { apiClient, seedRun, startTestServer, type ApiClient, type TestServer, type TestTeam } from './helpers.ts';

/**
 * Heartbeats and crash detection. The sweep is the one cross-tenant job; against a PostgreSQL shared
 * with other test files it must not touch their runs, so every sweep here is scoped to our teams.
 */
const TIMEOUT_S = 1;

let srv: TestServer;
let team: TestTeam;
let other: TestTeam;
let viewer: ApiClient;
const ours = () => [team.teamId, other.teamId];
const future = (extraSeconds = 5) => new Date(Date.now() + (TIMEOUT_S + extraSeconds) * 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  srv = await startTestServer({ ASSAY_HEARTBEAT_TIMEOUT_SECONDS: String(TIMEOUT_S) });
  team = await srv.newTeam('hb');
  other = await srv.newTeam('hb-other');
  const key = await team.api.post('/api-keys', { name: 'read-only', role: 'viewer' });
  expect(key.status).toBe(201);
  viewer = apiClient(srv.app, key.body.api_key);
});
afterAll(() => srv?.close());

const runUrl = (r: { projectId: string; experimentId: string }) => `/projects/${r.projectId}/experiments/${r.experimentId}`;

describe('heartbeat', () => {
  it('records the time and returns {status, heartbeat_at}; accepts no body or a JSON body', async () => {
    const run = await seedRun(team.api, 'hb-proj', 'alive');
    const before = (await team.api.get(runUrl(run))).body.heartbeat_at;
    await sleep(5);
    const r1 = await team.api.call('POST', `${runUrl(run)}/heartbeat`); // no body at all
    expect(r1.status).toBe(200);
    expect(r1.body).toEqual({ status: 'running', heartbeat_at: expect.any(String) });
    expect(Date.parse(r1.body.heartbeat_at)).toBeGreaterThan(Date.parse(before));
    const r2 = await team.api.post(`${runUrl(run)}/heartbeat`, {}); // what the Python SDK sends
    expect(r2.status).toBe(200);
    expect(Date.parse(r2.body.heartbeat_at)).toBeGreaterThanOrEqual(Date.parse(r1.body.heartbeat_at));
    expect((await team.api.get(runUrl(run))).body.heartbeat_at).toBe(r2.body.heartbeat_at);
    // by name too
    expect((await team.api.post('/projects/hb-proj/experiments/alive/heartbeat')).status).toBe(200);
  });

  it('needs the researcher role (viewer → 403) and 404s across teams and for unknown runs', async () => {
    const run = await seedRun(team.api, 'hb-proj', 'guarded');
    const v = await viewer.post(`${runUrl(run)}/heartbeat`);
    expect(v.status).toBe(403);
    expect(typeof v.body.detail).toBe('string');
    expect((await other.api.post(`${runUrl(run)}/heartbeat`)).status).toBe(404);
    expect((await team.api.post(`/projects/${run.projectId}/experiments/nope/heartbeat`)).status).toBe(404);
  });
});

describe('crash detection', () => {
  it('a sweep marks a stale running run crashed (finished_at = last heartbeat); a heartbeat revives it', async () => {
    const run = await seedRun(team.api, 'crash-proj', 'stale');
    const hb = (await team.api.post(`${runUrl(run)}/heartbeat`)).body.heartbeat_at;
    // Not stale yet: a sweep "now" leaves it alone.
    expect((await sweepStaleRuns(srv.ctx, { onlyTeams: ours() })).map((m) => m.id)).not.toContain(run.experimentId);
    expect((await team.api.get(runUrl(run))).body.status).toBe('running');

    const marked = await sweepStaleRuns(srv.ctx, { now: future(), onlyTeams: ours() });
    expect(marked).toContainEqual({ id: run.experimentId, teamId: team.teamId });
    const crashed = (await team.api.get(runUrl(run))).body;
    expect(crashed.status).toBe('crashed');
    expect(crashed.finished_at).toBe(hb);
    expect(crashed.heartbeat_at).toBe(hb);
    // A second sweep does not mark it again.
    expect((await sweepStaleRuns(srv.ctx, { now: future(), onlyTeams: ours() })).map((m) => m.id)).not.toContain(run.experimentId);

    const revived = await team.api.post(`${runUrl(run)}/heartbeat`);
    expect(revived.status).toBe(200);
    expect(revived.body.status).toBe('running');
    const back = (await team.api.get(runUrl(run))).body;
    expect(back).toMatchObject({ status: 'running', finished_at: null, heartbeat_at: revived.body.heartbeat_at });
  });

  it('finished runs are never swept, and a late heartbeat does not reopen them', async () => {
    const done = await seedRun(team.api, 'crash-proj', 'done');
    const failed = await seedRun(team.api, 'crash-proj', 'failed');
    expect((await team.api.patch(runUrl(done), { status: 'complete' })).status).toBe(200);
    expect((await team.api.patch(runUrl(failed), { status: 'failed' })).status).toBe(200);
    const marked = (await sweepStaleRuns(srv.ctx, { now: future(), onlyTeams: ours() })).map((m) => m.id);
    expect(marked).not.toContain(done.experimentId);
    expect(marked).not.toContain(failed.experimentId);
    const late = await team.api.post(`${runUrl(done)}/heartbeat`);
    expect(late.body.status).toBe('complete');
    expect((await team.api.get(runUrl(done))).body.finished_at).not.toBeNull();
    expect((await team.api.post(`${runUrl(failed)}/heartbeat`)).body.status).toBe('failed');
  });

  it("sweeps every team's stale runs (the system job), each visible only to its own team", async () => {
    const mine = await seedRun(team.api, 'multi', 'a');
    const theirs = await seedRun(other.api, 'multi', 'b');
    const marked = (await sweepStaleRuns(srv.ctx, { now: future(), onlyTeams: ours() })).map((m) => m.id);
    expect(marked).toEqual(expect.arrayContaining([mine.experimentId, theirs.experimentId]));
    expect((await team.api.get(runUrl(mine))).body.status).toBe('crashed');
    expect((await other.api.get(runUrl(theirs))).body.status).toBe('crashed');
    expect((await team.api.get(runUrl(theirs))).status).toBe(404);
  });

  it('the background sweeper (as serve starts it) marks a run whose heartbeats stop, and stops cleanly', async () => {
    const warnings: string[] = [];
    const log = { warn: (_o: object, m: string) => void warnings.push(m), error: (_o: object, m: string) => void warnings.push(m) };
    const run = await seedRun(team.api, 'bg-proj', 'goes-quiet');
    const kept = await seedRun(team.api, 'bg-proj', 'keeps-beating');
    const sweeper = startCrashSweeper(srv.ctx, log, { intervalMs: 100, graceMs: 0, onlyTeams: ours() });
    try {
      const deadline = Date.now() + 10_000;
      let status = 'running';
      while (Date.now() < deadline && status === 'running') {
        await team.api.post(`${runUrl(kept)}/heartbeat`);
        await sleep(150);
        status = (await team.api.get(runUrl(run))).body.status;
      }
      expect(status).toBe('crashed');
      expect((await team.api.get(runUrl(kept))).body.status).toBe('running');
      expect(warnings.some((w) => /crashed/.test(w))).toBe(true);
    } finally {
      await sweeper.stop();
    }
    expect(await sweeper.sweep()).toEqual([]); // stopped: no more passes
  });

  it('marks nothing during the start-up grace period (runs could not heartbeat while the server was down)', async () => {
    const run = await seedRun(team.api, 'grace-proj', 'was-offline');
    await sleep(TIMEOUT_S * 1000 + 200); // stale by now
    const sweeper = startCrashSweeper(srv.ctx, { warn() {}, error() {} }, { intervalMs: 50, graceMs: 60_000, onlyTeams: ours() });
    try {
      expect(await sweeper.sweep()).toEqual([]);
      await sleep(200);
      expect((await team.api.get(runUrl(run))).body.status).toBe('running');
    } finally {
      await sweeper.stop();
    }
  });
});
