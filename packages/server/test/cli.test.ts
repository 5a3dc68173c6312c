import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';

/** The CLI as a user runs it: real processes, real ports, real signals. */
const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'assay.mjs');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-cli-'));
const env = { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: '' };
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function run(args: string[], extraEnv: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 60_000 });
}

async function startServer(): Promise<{ proc: ChildProcess; url: string; exited: Promise<number | null>; output: () => string }> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir], { env });
  children.push(proc);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
  for (let i = 0; i < 600; i++) {
    const m = /listening on (http:\/\/localhost:\d+)/.exec(out);
    if (m) return { proc, url: m[1], exited, output: () => out };
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not start: ${out}`);
}

describe('assay CLI', () => {
  let keyBefore = '';

  it('team create without a server prints one JSON object', () => {
    const r = run(['team', 'create', 'lab-one', '--email', 'one@example.com', '--data-dir', dataDir]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]);
    expect(Object.keys(out).sort()).toEqual(['api_key', 'sign_in_url', 'team_id', 'user_id']);
    // no --password: a one-time browser sign-in link at the default public URL
    expect(out.sign_in_url).toMatch(/^http:\/\/localhost:8000\/signin\?token=[A-Za-z0-9_-]{43}$/);
    keyBefore = out.api_key;
    const short = run(['team', 'create', 'lab-short', '--password', 'short', '--data-dir', dataDir]);
    expect([short.status, short.stderr.trim()]).toEqual([1, 'assay: password must be 8–1024 characters (Unicode code points), got 5']);
    const dup = run(['team', 'create', 'lab-one', '--data-dir', dataDir]);
    expect(dup.status).toBe(1);
    expect(dup.stderr).toMatch(/already exists/);
  }, 120_000);

  it('invalid configuration exits with one line naming the variable', () => {
    const r = run(['serve', '--data-dir', dataDir], { PORT: 'eighty' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^assay: invalid configuration: PORT: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('serve, team create through the running server, refuse a second server, SIGTERM flushes and exits 0', async () => {
    const s = await startServer();
    expect(s.output()).toMatch(/embedded PGlite at .*postgres/);
    expect(s.output()).toMatch(/embedded chDB at .*clickhouse/);
    const second = run(['serve', '--port', '0', '--data-dir', dataDir]);
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(/already uses the data dir/);

    const viaServer = run(['team', 'create', 'lab-two', '--data-dir', dataDir]);
    expect(viaServer.status, viaServer.stderr).toBe(0);
    const { api_key } = JSON.parse(viaServer.stdout);
    for (const key of [keyBefore, api_key]) {
      const me = await fetch(`${s.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
      expect(me.status).toBe(200);
    }
    const h = { authorization: `Bearer ${api_key}`, 'content-type': 'application/json' };
    await fetch(`${s.url}/api/v1/projects`, { method: 'POST', headers: h, body: JSON.stringify({ name: 'p' }) });
    await fetch(`${s.url}/api/v1/projects/p/experiments`, { method: 'POST', headers: h, body: JSON.stringify({ name: 'e' }) });
    // SIGTERM while writes are in flight: the server holds exactly the acknowledged batches after restart
    const acked: number[] = [];
    const send = (b: number) =>
      fetch(`${s.url}/api/v1/metrics/batch/p/e`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify({ metrics: Array.from({ length: 100 }, (_, i) => ({ metric_name: 'loss', metric_value: i, step: b * 100 + i })) }),
      }).then((r) => (r.status === 200 ? acked.push(b) : undefined), () => undefined);
    await send(0); // at least one acknowledged batch, so the check below cannot pass on nothing
    expect(acked).toEqual([0]);
    const writes = Array.from({ length: 19 }, (_, b) => send(b + 1));
    await new Promise((r) => setTimeout(r, 20));
    s.proc.kill('SIGTERM');
    await Promise.all(writes);
    expect(await s.exited).toBe(0);
    expect(s.output()).toMatch(/stopped cleanly/);
    expect(fs.existsSync(path.join(dataDir, 'server.json'))).toBe(false);

    const again = await startServer();
    const series = await (await fetch(`${again.url}/api/v1/metrics/timeseries/p/e/loss?limit=10000`, { headers: h })).json();
    const steps = series.points.map((p: { step: number }) => p.step);
    const expected = acked.flatMap((b) => Array.from({ length: 100 }, (_, i) => b * 100 + i)).sort((a, b) => a - b);
    expect(steps).toEqual(expected);
    const sum = await (await fetch(`${again.url}/api/v1/metrics/summary/p/e`, { headers: h })).json();
    expect(sum.metrics.loss.count).toBe(acked.length * 100);
    again.proc.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  }, 240_000);

  it('a start that fails after the stores opened (port taken) goes through the same shutdown: stores closed, no server.json, data dir free at once', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    onTestFinished(() => void taken.close());
    const port = (taken.address() as net.AddressInfo).port;
    const r = spawnSync(process.execPath, [BIN, 'serve', '--port', String(port), '--data-dir', dataDir], { env: { ...env, HOST: '127.0.0.1' }, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/EADDRINUSE/);
    expect(fs.existsSync(path.join(dataDir, 'server.json'))).toBe(false);
    // the lock is free and the embedded stores reopen cleanly: an offline command runs without waiting
    const after = run(['team', 'create', 'lab-after-failed-start', '--data-dir', dataDir]);
    expect([after.status, after.stderr]).toEqual([0, '']);
  }, 240_000);

  it('team create --password: the admin signs in at once; a sign-in link works once; user password resets it', async () => {
    const withPassword = run(['team', 'create', 'lab-pw', '--email', 'pw@example.com', '--password', 'first password', '--data-dir', dataDir]);
    expect(withPassword.status, withPassword.stderr).toBe(0);
    expect(Object.keys(JSON.parse(withPassword.stdout)).sort()).toEqual(['api_key', 'team_id', 'user_id']);
    const s = await startServer();
    onTestFinished(() => void s.proc.kill('SIGKILL'));
    const login = (email: string, password: string) =>
      fetch(`${s.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
    const ok = await login('pw@example.com', 'first password');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('set-cookie')).toMatch(/^assay_session=[A-Za-z0-9_-]{43}; Max-Age=2592000; Path=\/; HttpOnly; SameSite=Lax$/);
    // through the running server: a link without --password, redeemed once
    const linked = run(['team', 'create', 'lab-link', '--email', 'link@example.com', '--data-dir', dataDir]);
    expect(linked.status, linked.stderr).toBe(0);
    const url = new URL(JSON.parse(linked.stdout).sign_in_url);
    // the server's public URL (ASSAY_PUBLIC_URL unset: the port it listens on, picked by --port 0)
    expect(url.origin + url.pathname).toBe(`${s.url}/signin`);
    const redeem = () => fetch(`${s.url}/api/v1/auth/redeem`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: url.searchParams.get('token') }) });
    expect((await redeem()).status).toBe(200);
    expect((await redeem()).status).toBe(400);
    // user password from stdin, through the server: the old password stops working
    const reset = spawnSync(process.execPath, [BIN, 'user', 'password', 'pw@example.com', '--data-dir', dataDir], { env, input: 'second password\n', encoding: 'utf8', timeout: 60_000 });
    expect(reset.status, reset.stderr).toBe(0);
    expect(JSON.parse(reset.stdout)).toEqual({ user_id: JSON.parse(withPassword.stdout).user_id });
    expect((await login('pw@example.com', 'first password')).status).toBe(401);
    expect((await login('pw@example.com', 'second password')).status).toBe(200);
    const unknown = run(['user', 'password', 'nobody@example.com', '--password', 'whatever-123', '--data-dir', dataDir]);
    expect([unknown.status, unknown.stderr.trim()]).toEqual([1, 'assay: server refused: 404 "User not found"']);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    // without a server the CLI opens the metadata store itself
    const offline = run(['user', 'password', 'link@example.com', '--password', 'third password', '--data-dir', dataDir]);
    expect(offline.status, offline.stderr).toBe(0);
  }, 240_000);

  it('team create right after serve starts waits for the server instead of opening the stores twice', async () => {
    const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir], { env });
    children.push(proc);
    const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
    for (let i = 0; i < 100 && !fs.existsSync(path.join(dataDir, 'server.json')); i++) await new Promise((r) => setTimeout(r, 20));
    const r = spawn(process.execPath, [BIN, 'team', 'create', 'lab-three', '--data-dir', dataDir], { env });
    let out = '';
    r.stdout.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((res) => r.on('exit', (c) => res(c)));
    expect(code).toBe(0);
    expect(JSON.parse(out).api_key).toMatch(/^assay_/);
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 240_000);
});
