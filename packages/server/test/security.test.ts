import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { allowedHosts, hostName } from '../src/plugins/security.ts';
import { useTestServer } from './helpers.ts';

const t = useTestServer('security');

/** The same open stores under another configuration (chDB allows one data dir per process). */
async function appWith(env: Record<string, string>) {
  const config = { ...t.srv.config, ...loadConfig({ ASSAY_DATA_DIR: t.srv.dataDir, LOG_LEVEL: 'silent', ...env }) };
  const { app } = await buildApp({ ...t.srv.ctx, config });
  return app;
}

describe('Host allow-list (DNS rebinding)', () => {
  it('parses Host headers', () => {
    expect(hostName('LocalHost:8000')).toBe('localhost');
    expect(hostName('[::1]:8000')).toBe('::1');
    expect(hostName('127.0.0.1')).toBe('127.0.0.1');
    expect(hostName('evil.example.com.:80')).toBe('evil.example.com');
    expect(hostName(undefined)).toBe('');
    expect(allowedHosts({ HOST: '0.0.0.0', ASSAY_ALLOWED_HOSTS: [] })).toBeUndefined();
    expect([...allowedHosts({ HOST: '0.0.0.0', ASSAY_ALLOWED_HOSTS: ['assay.lab'] })!]).toEqual(['assay.lab']);
  });

  it('bound to loopback (the default), only loopback names and listed ones are served', async () => {
    expect(t.srv.config.HOST).toBe('localhost');
    const call = (host: string) => t.srv.app.inject({ method: 'GET', url: '/api/v1/me', headers: { host, authorization: `Bearer ${t.team.apiKey}` } });
    for (const host of ['localhost:8000', '127.0.0.1:8000', '[::1]:8000', 'LOCALHOST']) expect((await call(host)).statusCode, host).toBe(200);
    for (const host of ['evil.example.com:8000', 'localhost.evil.example.com', '127.0.0.1.nip.io', 'localhost@evil.example.com']) {
      const r = await call(host);
      expect(r.statusCode, host).toBe(421);
      expect(r.json().detail).toContain('ASSAY_ALLOWED_HOSTS');
      // refused before authentication: nothing of the team in the answer
      expect(r.body).not.toContain(t.team.name);
    }
    const health = await t.srv.app.inject({ method: 'GET', url: '/healthz', headers: { host: 'evil.example.com' } });
    expect(health.statusCode).toBe(421);

    const listed = await appWith({ HOST: '127.0.0.1', ASSAY_ALLOWED_HOSTS: 'assay.lab.internal, Other.Example.' });
    for (const [host, status] of [['assay.lab.internal:8000', 200], ['other.example', 200], ['localhost', 200], ['evil.example.com', 421]] as const) {
      expect((await listed.inject({ method: 'GET', url: '/api/v1/me', headers: { host, authorization: `Bearer ${t.team.apiKey}` } })).statusCode, host).toBe(status);
    }
    await listed.close();
  });

  it('bound to every interface, any Host unless ASSAY_ALLOWED_HOSTS lists names', async () => {
    const open = await appWith({ HOST: '0.0.0.0' });
    expect((await open.inject({ method: 'GET', url: '/healthz', headers: { host: 'anything.example' } })).statusCode).toBe(200);
    await open.close();
    const closed = await appWith({ HOST: '0.0.0.0', ASSAY_ALLOWED_HOSTS: 'assay.example.com' });
    expect((await closed.inject({ method: 'GET', url: '/healthz', headers: { host: 'anything.example' } })).statusCode).toBe(421);
    expect((await closed.inject({ method: 'GET', url: '/healthz', headers: { host: 'assay.example.com' } })).statusCode).toBe(200);
    await closed.close();
  });
});

describe('security headers and CORS', () => {
  it('every answer carries the security headers, errors too', async () => {
    for (const [url, auth] of [['/api/v1/projects', true], ['/api/v1/projects', false], ['/healthz', false], ['/docs/', false]] as const) {
      const r = await t.srv.app.inject({ method: 'GET', url, headers: auth ? { authorization: `Bearer ${t.team.apiKey}` } : {} });
      expect(r.headers['x-content-type-options'], url).toBe('nosniff');
      expect(r.headers['x-frame-options'], url).toBe('SAMEORIGIN');
      expect(r.headers['referrer-policy'], url).toBe('no-referrer');
      expect(String(r.headers['content-security-policy']), url).toContain("frame-ancestors 'none'");
      expect(String(r.headers['content-security-policy']), url).toContain("script-src 'self'");
    }
  });

  it('the docs page needs no inline script (so the CSP does not break it)', async () => {
    const r = await t.srv.app.inject({ method: 'GET', url: '/docs/' });
    expect(r.statusCode).toBe(200);
    const scripts = [...r.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/src="/);
      expect(body.trim()).toBe('');
    }
  });

  it('CORS is closed by default and opens only to listed origins', async () => {
    const preflight = (app: typeof t.srv.app, origin: string) =>
      app.inject({ method: 'OPTIONS', url: '/api/v1/projects', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    const closed = await preflight(t.srv.app, 'https://evil.example');
    expect(closed.headers['access-control-allow-origin']).toBeUndefined();
    const get = await t.srv.app.inject({ method: 'GET', url: '/api/v1/projects', headers: { origin: 'https://evil.example', authorization: `Bearer ${t.team.apiKey}` } });
    expect(get.headers['access-control-allow-origin']).toBeUndefined();

    const app = await appWith({ ASSAY_CORS_ORIGINS: 'https://lab.example.com/, https://notebooks.example.com' });
    const ok = await preflight(app, 'https://lab.example.com');
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('https://lab.example.com');
    expect(String(ok.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
    expect(ok.headers['access-control-allow-credentials']).toBeUndefined();
    expect((await preflight(app, 'https://evil.example')).headers['access-control-allow-origin']).toBeUndefined();
    await app.close();
  });
});

describe('file permissions', () => {
  it('the CLI makes the data dir private (0700) and what it writes itself private too (0600)', async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-perm-'));
    try {
      const dataDir = path.join(parent, 'data');
      fs.mkdirSync(dataDir, { mode: 0o755 }); // an existing, world-readable dir is tightened
      fs.chmodSync(dataDir, 0o755);
      const r = spawnSync(process.execPath, [path.resolve('packages/server/bin/assay.mjs'), 'team', 'create', 'perm-team', '--data-dir', dataDir], {
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, DATABASE_URL: '', CLICKHOUSE_URL: '' },
      });
      expect(r.status, r.stderr).toBe(0);
      const apiKey = JSON.parse(r.stdout.trim().split('\n').pop()!).api_key as string;
      // the server writes metric parts (chDB) and an artifact, then stops
      const srv = spawn(process.execPath, [path.resolve('packages/server/bin/assay.mjs'), 'serve', '--port', '0', '--data-dir', dataDir], {
        env: { ...process.env, DATABASE_URL: '', CLICKHOUSE_URL: '', LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        srv.stdout!.on('data', (d) => {
          out += d;
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        srv.on('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
      });
      const call = (method: string, p: string, body?: unknown, type = 'application/json') =>
        fetch(`${url}/api/v1${p}`, { method, headers: { authorization: `Bearer ${apiKey}`, 'content-type': type }, body: type === 'application/json' ? JSON.stringify(body) : new Uint8Array(body as Buffer) });
      expect((await call('POST', '/projects', { name: 'p' })).status).toBe(201);
      expect((await call('POST', '/projects/p/experiments', { name: 'e' })).status).toBe(201);
      expect((await call('POST', '/metrics/batch/p/e', { metrics: [{ metric_name: 'loss', metric_value: 1, step: 0 }] })).status).toBe(200);
      expect((await call('PUT', '/projects/p/experiments/e/artifacts?path=model.pt', Buffer.from('w'), 'application/octet-stream')).status).toBe(201);
      const exited = new Promise((resolve) => srv.on('exit', resolve));
      srv.kill('SIGTERM');
      await exited;
      // PGlite's emulated file system sets 0666 modes itself (the 0700 data dir protects them);
      // everything else — chDB's parts, artifacts, our own files — follows the CLI's umask.
      const loose: string[] = [];
      const walk = (p: string) => {
        const st = fs.lstatSync(p);
        if (st.isSymbolicLink() || p === path.join(dataDir, 'postgres')) return;
        if ((st.mode & 0o077) !== 0) loose.push(`${path.relative(parent, p)} ${(st.mode & 0o777).toString(8)}`);
        if (st.isDirectory()) for (const f of fs.readdirSync(p)) walk(path.join(p, f));
      };
      walk(dataDir);
      expect(loose).toEqual([]);
      expect(fs.readdirSync(dataDir)).toEqual(expect.arrayContaining(['clickhouse', 'artifacts', 'postgres']));
      expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
    } finally {
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });
});
