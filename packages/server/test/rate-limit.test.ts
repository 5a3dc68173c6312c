import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { apiClient, startTestServer, type TestServer, type TestTeam } from './helpers.ts';

/**
 * Per-key rate limits (OWASP API4): ASSAY_RATE_LIMIT_PER_MINUTE requests per API key per minute,
 * ASSAY_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE per client IP on routes without a key; beyond them
 * 429 + Retry-After. In memory by default; with REDIS_URL two servers share one budget. CI sets
 * REDIS_URL (.ci/run starts redis-server), so there the Redis case must run, not skip.
 */
const PER_KEY = 5;
const PER_IP = 3;
const PER_SIGN_IN = 4;
let srv: TestServer;
let team: TestTeam;

beforeAll(async () => {
  // REDIS_URL is cleared: this server's budget is in memory even when CI exports REDIS_URL for the
  // shared-store case below (a shared Redis counter would carry other servers' requests).
  srv = await startTestServer({
    ASSAY_RATE_LIMIT_PER_MINUTE: String(PER_KEY),
    ASSAY_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: String(PER_IP),
    ASSAY_LOGIN_RATE_LIMIT_PER_MINUTE: String(PER_SIGN_IN),
    REDIS_URL: '',
  });
  team = await srv.newTeam('rl');
});
afterAll(() => srv?.close());

async function statuses(call: () => Promise<{ status: number }>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await call()).status);
  return out;
}

const tooMany = (n: number) => Array.from({ length: n }, () => 429);
const ok = (n: number) => Array.from({ length: n }, () => 200);

describe('rate limits (in memory)', () => {
  it('each API key gets its own budget; beyond it 429 with Retry-After and a {detail}', async () => {
    // the key creation is the key's first request of the window
    const second = await team.api.post('/api-keys', { name: 'second' });
    expect(second.status).toBe(201);
    expect(await statuses(() => team.api.get('/me'), PER_KEY - 1)).toEqual(ok(PER_KEY - 1));
    const refused = await team.api.get('/projects');
    expect(refused.status).toBe(429);
    const wait = Number(refused.headers['retry-after']);
    expect(refused.body.detail).toBe(`Rate limit exceeded: 5 requests per minute for this API key; retry in ${wait} s`);
    expect(Number.isInteger(wait) && wait >= 1 && wait <= 60, `Retry-After ${refused.headers['retry-after']}`).toBe(true);
    expect(refused.body.detail).toMatch(/^Rate limit exceeded: 5 requests per minute for this API key; retry in \d+ s$/);
    // the same team's other key, and the MLflow API under another key, are not affected
    const other = apiClient(srv.app, second.body.api_key);
    expect(await statuses(() => other.get('/me'), PER_KEY)).toEqual(ok(PER_KEY));
    expect((await other.get('/me')).status).toBe(429);
    const third = await srv.newTeam('rl3');
    expect((await third.api.get('/api/2.0/mlflow/experiments/search?max_results=1')).status).toBe(200);
  });

  it('the MLflow API counts against the same key, and answers in its own error shape', async () => {
    const t = await srv.newTeam('rl-mlflow');
    expect(await statuses(() => t.api.get('/api/2.0/mlflow/experiments/search?max_results=1'), PER_KEY)).toEqual(ok(PER_KEY));
    const r = await t.api.get('/me');
    expect([r.status, r.body.detail.startsWith('Rate limit exceeded')]).toEqual([429, true]);
    const m = await t.api.get('/api/2.0/mlflow/experiments/search?max_results=1');
    expect([m.status, m.body.error_code, m.headers['retry-after'] !== undefined]).toEqual([429, 'REQUEST_LIMIT_EXCEEDED', true]);
  });

  it('routes without an API key are limited per client IP; probes and the OpenAPI document never', async () => {
    const admin = apiClient(srv.app, 'not-the-admin-token');
    expect(await statuses(() => admin.post('/admin/teams', { name: 'x' }), PER_IP)).toEqual([401, 401, 401]);
    const r = await admin.post('/admin/teams', { name: 'x' });
    expect([r.status, r.body.detail]).toEqual([429, expect.stringMatching(/^Rate limit exceeded: 3 requests per minute for this client;/)]);
    for (const url of ['/healthz', '/readyz', '/openapi.json']) {
      expect(await statuses(async () => ({ status: (await srv.app.inject({ method: 'GET', url })).statusCode }), PER_IP + 2), url).toEqual(ok(PER_IP + 2));
    }
  });

  it('sign-in has its own smaller per-IP budget (each attempt costs an argon2 verify); so do wrong HTTP Basic passwords', async () => {
    const anon = apiClient(srv.app, undefined);
    const login = () => anon.post('/auth/login', { email: 'nobody@example.com', password: 'a guess' });
    expect(await statuses(login, PER_SIGN_IN)).toEqual([401, 401, 401, 401]);
    const r = await login();
    expect([r.status, r.body.detail]).toEqual([429, expect.stringMatching(/^Rate limit exceeded: 4 requests per minute for this client;/)]);
    expect(await statuses(() => anon.post('/auth/redeem', { token: 'bogus' }), PER_SIGN_IN + 1)).toEqual([400, 400, 400, 400, 429]);
    const basic = () => anon.call('GET', '/me', undefined, { authorization: `Basic ${Buffer.from('nobody@example.com:a guess').toString('base64')}` });
    expect(await statuses(basic, PER_SIGN_IN)).toEqual([401, 401, 401, 401]);
    const b = await basic();
    expect([b.status, b.body.detail]).toEqual([429, expect.stringMatching(/^Too many wrong passwords from this client; retry in \d+ s$/)]);
    expect(Number(b.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('bad keys are 401s up to the per-IP budget, then 429; they cost a real key from the same address nothing', async () => {
    const t = await srv.newTeam('rl-bad');
    const bad = apiClient(srv.app, 'assay_bogus');
    expect(await statuses(() => bad.get('/me'), PER_IP)).toEqual([401, 401, 401]);
    const r = await bad.get('/me');
    expect([r.status, r.body.detail]).toEqual([429, expect.stringMatching(/^Too many invalid API keys from this client; retry in \d+ s$/)]);
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // the real key was never looked up before (not cached): it still authenticates from this IP
    expect(await statuses(() => t.api.get('/me'), PER_KEY)).toEqual(ok(PER_KEY));
  });
});

describe('rate limits shared through Redis', () => {
  const url = process.env.REDIS_URL;
  it('REDIS_URL is set in CI', () => {
    if (process.env.CI && !url) throw new Error('CI must run the Redis rate-limit case: set REDIS_URL (.ci/run starts redis-server)');
  });

  it.skipIf(!url)('two servers on one Redis share a key\'s budget', async () => {
    const config = { ...srv.ctx.config, REDIS_URL: url, ASSAY_RATE_LIMIT_PER_MINUTE: PER_KEY };
    const one = await buildApp({ ...srv.ctx, config });
    const two = await buildApp({ ...srv.ctx, config });
    try {
      const t = await srv.newTeam('rl-redis');
      const a = apiClient(one.app, t.apiKey);
      const b = apiClient(two.app, t.apiKey);
      expect(await statuses(() => a.get('/me'), 3)).toEqual(ok(3));
      expect(await statuses(() => b.get('/me'), 2)).toEqual(ok(2));
      // the sixth request of the minute, on either server
      const r = await a.get('/me');
      expect([r.status, Number(r.headers['retry-after']) >= 1]).toEqual([429, true]);
      expect((await b.get('/me')).status).toBe(429);
    } finally {
      await one.app.close();
      await two.app.close();
    }
  });
});
