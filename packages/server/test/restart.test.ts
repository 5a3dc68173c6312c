/**
 * Restart after any crash: the data dir belongs to whoever holds its kernel lock (server-file.ts),
 * so neither a killed server still being torn down nor a stale file naming our own pid (pid 1
 * again in a container) keeps a new server from starting — and a live one still refuses a second.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ChildServer, childEnv, createTeam, freePort } from './child-server.ts';

const RESTARTS = 20;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-restart-'));
const started: ChildServer[] = [];
let port = 0;
let key = '';

afterAll(async () => {
  for (const s of started) s.crash();
  await Promise.all(started.map((s) => s.exited));
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function start(args?: string[]): ChildServer {
  const s = new ChildServer(dataDir, port, args);
  started.push(s);
  return s;
}

async function api(s: ChildServer, method: string, p: string, body?: unknown) {
  const r = await fetch(`${s.url}/api/v1${p}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

/** Batch `b`: steps b*10 … b*10+9 of `loss`, value = step / 2. */
async function logBatch(s: ChildServer, b: number) {
  const metrics = Array.from({ length: 10 }, (_, i) => ({ metric_name: 'loss', step: b * 10 + i, metric_value: (b * 10 + i) / 2 }));
  const r = await api(s, 'POST', '/metrics/batch/p/e', { metrics, batch_id: `restart-${b}` });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

async function storedSteps(s: ChildServer): Promise<number[]> {
  const r = await api(s, 'GET', '/metrics/timeseries/p/e/loss?limit=10000');
  expect(r.status).toBe(200);
  return (r.body.points as { step: number; value: number }[]).map((p) => {
    expect(p.value).toBe(p.step / 2);
    return p.step;
  });
}

const steps = (batches: number) => Array.from({ length: batches * 10 }, (_, i) => i);

describe('restart after kill -9', () => {
  let s: ChildServer;

  it(`kill -9 and restart at once, ${RESTARTS} times in a row: each comes up and keeps the data`, async () => {
    port = await freePort();
    s = await start().ready();
    key = await createTeam(s, 'restart-lab');
    expect((await api(s, 'POST', '/projects', { name: 'p' })).status).toBe(201);
    expect((await api(s, 'POST', '/projects/p/experiments', { name: 'e' })).status).toBe(201);
    await logBatch(s, 0);
    const timings: number[] = [];
    for (let i = 1; i <= RESTARTS; i++) {
      const pid = s.proc.pid;
      s.crash();
      s = start(); // at once: the killed process may still hold its lock, port and stores
      await s.ready();
      timings.push(s.readyAfterMs);
      expect(s.output, `restart ${i} after pid ${pid}`).not.toMatch(/already uses/);
      expect(await storedSteps(s)).toEqual(steps(i));
      await logBatch(s, i);
    }
    expect(await storedSteps(s)).toEqual(steps(RESTARTS + 1));
    console.log(`restart after kill -9: ready in ${timings.map((t) => (t / 1000).toFixed(1)).join(' ')} s`);
  }, 600_000);

  it('a killed server left a zombie (nobody reaps it, as under an init that does not) does not block a restart', async () => {
    s.crash();
    await s.exited;
    // sh starts the server in the background and becomes `sleep`, which never waits for children.
    const script = `"${process.execPath}" "${BIN}" serve --port ${port} --data-dir "${dataDir}" >/dev/null 2>&1 & echo $!; exec sleep 600`;
    const parent = spawn('sh', ['-c', script], { env: childEnv, stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((res) => parent.stdout!.once('data', (d) => res(String(d)))));
      for (let up = false; !up; await new Promise((r) => setTimeout(r, 100))) {
        up = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
      }
      process.kill(pid, 'SIGKILL');
      s = start(); // at once
      await s.ready();
      expect(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).toMatch(/^\d+ \(.*\) Z /); // still a zombie, as the old pid check saw it
      expect(await storedSteps(s)).toEqual(steps(RESTARTS + 1));
    } finally {
      parent.kill('SIGKILL');
    }
  }, 300_000);

  it('a stale server.json and lock file naming the new process’s own pid do not block it', async () => {
    s.crash();
    await s.exited;
    // The files a killed server leaves, as if it had had the pid the new one gets (pid 1 in a
    // container): written by the new process itself just before the CLI runs.
    const prelude = `
      import fs from 'node:fs';
      const dir = ${JSON.stringify(dataDir)};
      fs.writeFileSync(dir + '/server.json', JSON.stringify({ pid: process.pid, url: 'http://localhost:1', admin_token: 'stale' }));
      fs.writeFileSync(dir + '/assay.lock', JSON.stringify({ pid: process.pid, command: 'serve', since: '2020-01-01T00:00:00Z' }));
      process.argv = [process.execPath, ${JSON.stringify(BIN)}, 'serve', '--port', '${port}', '--data-dir', dir];
      await import(${JSON.stringify(new URL(`file://${BIN}`).href)});`;
    s = start(['--input-type=module', '-e', prelude]);
    await s.ready();
    const file = JSON.parse(fs.readFileSync(path.join(dataDir, 'server.json'), 'utf8'));
    expect(file).toMatchObject({ pid: s.proc.pid, url: `http://localhost:${port}` });
    expect(file.admin_token).not.toBe('stale');
    expect(JSON.parse(fs.readFileSync(path.join(dataDir, 'assay.lock'), 'utf8'))).toMatchObject({ pid: s.proc.pid, command: 'serve' });
    expect(await storedSteps(s)).toEqual(steps(RESTARTS + 1));
  }, 180_000);

  it('a second server on the same data dir while the first runs is refused with a clear message', async () => {
    const second = start([BIN, 'serve', '--port', String(await freePort()), '--data-dir', dataDir]);
    const { code } = await second.exited;
    expect(code).toBe(1);
    expect(second.output).toMatch(/waiting up to 10 s for it to exit/);
    const last = second.output.trim().split('\n').pop();
    expect(last).toBe(`assay: another Assay server (pid ${s.proc.pid}, http://localhost:${port}) already uses the data dir ${dataDir}; stop it or pass another --data-dir`);
    // the first one is untouched
    expect(await storedSteps(s)).toEqual(steps(RESTARTS + 1));
  }, 120_000);
});
