import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { apiClient, useTestServer } from './helpers.ts';

/**
 * deploy/docker-compose.yml puts nginx in front of every API replica. Without ASSAY_TRUST_PROXY
 * every request would come from the proxy's address, and one bucket of per-IP limits (sign-in:
 * 20 a minute) would be shared by all users — one guesser locks everyone out. With it, the
 * forwarded client address counts; a client cannot pick its own by prepending X-Forwarded-For.
 * Also: the image's health probe (packages/server/bin/healthcheck.mjs) against a listening server.
 */
const PER_SIGN_IN = 2;
// app.inject() connects from 127.0.0.1: the test plays the proxy on loopback
const t = useTestServer('proxy', { ASSAY_TRUST_PROXY: 'loopback', ASSAY_LOGIN_RATE_LIMIT_PER_MINUTE: String(PER_SIGN_IN), REDIS_URL: '' });
const HEALTHCHECK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/healthcheck.mjs');

async function logins(forwardedFor: string, n: number): Promise<number[]> {
  const anon = apiClient(t.srv.app, undefined);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push((await anon.post('/auth/login', { email: 'nobody@example.com', password: 'a guess!' }, { 'x-forwarded-for': forwardedFor })).status);
  }
  return out;
}

function probe(env: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HEALTHCHECK], { env: { ...process.env, ...env }, stdio: 'ignore' });
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

describe('ASSAY_TRUST_PROXY', () => {
  it('sign-in throttling counts each forwarded client on its own, not the proxy', async () => {
    expect(await logins('203.0.113.1', PER_SIGN_IN + 1)).toEqual([401, 401, 429]);
    expect(await logins('203.0.113.2', PER_SIGN_IN)).toEqual([401, 401]);
  });

  it('an address the client prepends is not believed: the last untrusted hop is the client', async () => {
    expect(await logins('198.51.100.9, 203.0.113.1', 1)).toEqual([429]);
  });

  it('takes addresses, CIDRs and proxy-addr names; refuses true and hop counts (Fastify would trust all, or nothing)', () => {
    expect(loadConfig({ ASSAY_TRUST_PROXY: ' uniquelocal, 10.1.0.0/16 ' }, {}).ASSAY_TRUST_PROXY).toEqual(['uniquelocal', '10.1.0.0/16']);
    expect(loadConfig({}, {}).ASSAY_TRUST_PROXY).toEqual([]);
    for (const bad of ['true', '1', '*']) {
      expect(() => loadConfig({ ASSAY_TRUST_PROXY: bad }, {}), bad).toThrow(/^invalid configuration: ASSAY_TRUST_PROXY: list the proxies/);
    }
  });
});

describe('packages/server/bin/healthcheck.mjs (the image HEALTHCHECK)', () => {
  it('exits 0 while /readyz answers 200, with the Host the server allows; 1 when nothing listens', async () => {
    await t.srv.app.listen({ port: 0, host: '127.0.0.1' });
    const port = String((t.srv.app.server.address() as { port: number }).port);
    expect(await probe({ PORT: port, ASSAY_ALLOWED_HOSTS: '' })).toBe(0);
    // the probe sends the first ASSAY_ALLOWED_HOSTS name as Host: one this server does not serve → 421 → unhealthy
    expect(await probe({ PORT: port, ASSAY_ALLOWED_HOSTS: 'not-this.example, localhost' })).toBe(1);
    expect(await probe({ PORT: port, ASSAY_ALLOWED_HOSTS: 'localhost,not-this.example' })).toBe(0);
    const closed = await new Promise<string>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = String((s.address() as net.AddressInfo).port);
        s.close(() => resolve(p));
      });
    });
    expect(await probe({ PORT: closed, ASSAY_ALLOWED_HOSTS: '' })).toBe(1);
  });
});
