import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTeam } from '../src/services/teams.ts';
import { BLOCK_US, VersionClock } from '../src/services/version-clock.ts';
import { reserveCounterBlock } from '../src/stores/postgres/repos/coordination.ts';
import { openPostgres, type PostgresStore } from '../src/stores/postgres/db.ts';
import { startClickHouseHttpFixture, type ClickHouseHttpFixture } from './ch-http-fixture/start.ts';
import { BIN, freePort } from './child-server.ts';

/**
 * Two real `assay serve` processes ("replicas") on one PostgreSQL server, one ClickHouse HTTP
 * endpoint (the chDB fixture, test only) and one Redis: what docs/operations.md "Running several
 * replicas" promises. Needs DATABASE_URL (a PostgreSQL server: this file makes its own database
 * there and drops it) and REDIS_URL (it uses Redis database 11 and flushes it): the embedded
 * `npm test` pass has no DATABASE_URL and skips it; CI's PostgreSQL pass runs it, and there a
 * missing REDIS_URL fails instead of skipping.
 */
const BASE_DB = process.env.DATABASE_URL;
const BASE_REDIS = process.env.REDIS_URL;
const runnable = Boolean(BASE_DB && BASE_REDIS);
const REDIS_DB = 11;
const HEARTBEAT_TIMEOUT_S = 2;
const PER_KEY = 60;
const PER_IP = 6;
const PER_SIGN_IN = 4;

class Replica {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  readonly url: string;
  constructor(
    readonly name: string,
    readonly dataDir: string,
    port: number,
    env: NodeJS.ProcessEnv,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.proc = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--data-dir', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let rest = '';
    const keep = (d: Buffer) => {
      const parts = (rest + d.toString('utf8')).split('\n');
      rest = parts.pop()!;
      // request logs are noise here; keep what the replica says about itself
      for (const l of parts) if (!/"reqId"/.test(l)) this.lines.push(l);
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
  }
  get pid(): number {
    return this.proc.pid!;
  }
  async ready(timeoutMs = 120_000): Promise<this> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      if (this.proc.exitCode !== null) throw new Error(`${this.name} exited (${this.proc.exitCode}):\n${this.lines.join('\n')}`);
      const r = await fetch(`${this.url}/readyz`).catch(() => undefined);
      if (r?.status === 200) return this;
      await sleep(100);
    }
    throw new Error(`${this.name} not ready:\n${this.lines.join('\n')}`);
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    await exited;
  }
  /** fetch-based client; `auth`: a Bearer key, or any Authorization header value. */
  async call(method: string, url: string, o: { key?: string; auth?: string; body?: unknown; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...o.headers };
    if (o.key) headers.authorization = `Bearer ${o.key}`;
    if (o.auth) headers.authorization = o.auth;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(`${this.url}${url.startsWith('/api/') ? url : `/api/v1${url}`}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null, headers: r.headers };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const series = (n: number, name: string, from = 0) => Array.from({ length: n }, (_, i) => ({ metric_name: name, metric_value: from + i, step: from + i }));
/** Rows of a statement against the replicas' database (test set-up and checks only). */
const q = async <T = Record<string, unknown>>(text: string): Promise<T[]> => ((await store!.db.execute(sql.raw(text))) as unknown as { rows: T[] }).rows;
const basic = (email: string, password: string) => `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`;

let fixture: ClickHouseHttpFixture | undefined;
let admin: pg.Client | undefined;
let store: PostgresStore | undefined;
let redis: Redis | undefined;
let dbName = '';
let a: Replica;
let b: Replica;
const dirs: string[] = [];
let startMs = 0;
let replicaEnv: NodeJS.ProcessEnv = {};

async function team(name: string, password?: string) {
  const email = `${name}@replicas.test`;
  const t = await createTeam(store!.db, `${name}-${process.pid}`, email, { password });
  return { key: t.api_key, email, teamId: t.team_id };
}

async function run(r: Replica, key: string, project: string, experiment: string) {
  const p = await r.call('POST', '/projects?if_exists=return', { key, body: { name: project } });
  const e = await r.call('POST', `/projects/${p.body.id}/experiments?if_exists=return`, { key, body: { name: experiment } });
  expect([p.status, e.status]).toEqual([expect.any(Number), expect.any(Number)]);
  return { p: p.body.id as string, e: e.body.id as string };
}

describe('required environment', () => {
  it('CI runs the replica suite (DATABASE_URL pass) with REDIS_URL', () => {
    if (process.env.CI && BASE_DB && !BASE_REDIS) throw new Error('CI must run replicas.test.ts with REDIS_URL (.ci/run starts redis-server)');
  });
});

describe.skipIf(!runnable)('two replicas on one PostgreSQL, ClickHouse and Redis', () => {
  beforeAll(async () => {
    startMs = Date.now();
    dbName = `assay_replicas_${process.pid}`;
    admin = new pg.Client({ connectionString: BASE_DB });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
    await admin.query(`CREATE DATABASE ${dbName}`);
    const dbUrl = new URL(BASE_DB!);
    dbUrl.pathname = `/${dbName}`;
    const redisUrl = new URL(BASE_REDIS!);
    redisUrl.pathname = `/${REDIS_DB}`;
    redis = new Redis(redisUrl.toString());
    await redis.flushdb();
    fixture = await startClickHouseHttpFixture();
    const env: NodeJS.ProcessEnv = (replicaEnv = {
      ...process.env,
      DATABASE_URL: dbUrl.toString(),
      CLICKHOUSE_URL: fixture.url,
      CLICKHOUSE_DATABASE: 'default',
      REDIS_URL: redisUrl.toString(),
      LOG_LEVEL: 'info',
      TSX_DISABLE_CACHE: '1',
      ASSAY_HEARTBEAT_TIMEOUT_SECONDS: String(HEARTBEAT_TIMEOUT_S),
      ASSAY_RATE_LIMIT_PER_MINUTE: String(PER_KEY),
      ASSAY_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: String(PER_IP),
      ASSAY_LOGIN_RATE_LIMIT_PER_MINUTE: String(PER_SIGN_IN),
    });
    const dir = (n: string) => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), `assay-replica-${n}-`));
      dirs.push(d);
      return d;
    };
    // one after the other: the first one migrates both stores
    a = await new Replica('A', dir('a'), await freePort(), env).ready();
    b = await new Replica('B', dir('b'), await freePort(), env).ready();
    store = await openPostgres({ kind: 'postgres', url: dbUrl.toString() });
  }, 240_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await store?.close();
    await fixture?.stop();
    await redis?.flushdb().catch(() => undefined);
    redis?.disconnect();
    if (admin) {
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    }
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    console.log(`replicas.test.ts: ${Math.round((Date.now() - startMs) / 1000)} s including start-up`);
  }, 120_000);

  it('writes through both replicas land in one store: either reads both', async () => {
    const { key } = await team('writes');
    const { p, e } = await run(a, key, 'shared', 'r1');
    expect((await a.call('POST', `/metrics/batch/${p}/${e}`, { key, body: { metrics: series(100, 'loss') } })).status).toBe(200);
    expect((await b.call('POST', `/metrics/batch/${p}/${e}`, { key, body: { metrics: series(50, 'loss', 100) } })).status).toBe(200);
    for (const r of [a, b]) {
      const s = await r.call('GET', `/metrics/summary/${p}/${e}`, { key });
      expect(s.body.metrics.loss).toMatchObject({ count: 150, min: 0, max: 149, last: 149 });
    }
  });

  it('logged_at version blocks reserved in PostgreSQL never overlap between processes, even at the same instant', async () => {
    const T = 1_800_000_000_000;
    const frozen = vi.spyOn(Date, 'now').mockReturnValue(T);
    try {
      // what two processes on their own clocks hand out at one instant: the same range (settling would miscount)
      expect([new VersionClock().reserve(10), new VersionClock().reserve(10)]).toEqual([T * 1000, T * 1000]);
      const counter = `test-versions-${process.pid}`;
      const clocks = [0, 1].map(() => new VersionClock((min, size) => reserveCounterBlock(store!.db, counter, min, size)));
      const asks = Array.from({ length: 60 }, (_, i) => ({ clock: i % 2, n: i % 7 === 0 ? BLOCK_US + 1 : 900 + i }));
      const got = await Promise.all(asks.map(async (x) => ({ ...x, lo: await clocks[x.clock].reserve(x.n) })));
      const sorted = [...got].sort((x, y) => x.lo - y.lo);
      expect(sorted.slice(1).filter((r, i) => r.lo < sorted[i].lo + sorted[i].n)).toEqual([]);
      // each process's versions rise in the order its requests arrived
      for (const c of [0, 1]) {
        const mine = got.filter((x) => x.clock === c).map((x) => x.lo);
        expect(mine).toEqual([...mine].sort((x, y) => x - y));
      }
      expect(sorted[0].lo).toBe(T * 1000);
    } finally {
      frozen.mockRestore();
    }
  });

  it('one batch_id sent to both replicas at once, and retried against the other, is stored once', async () => {
    const { key } = await team('dedupe');
    const { p, e } = await run(a, key, 'dedupe', 'r1');
    const ROUNDS = 6;
    const POINTS = 500;
    const firsts: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const body = { batch_id: `b-${i}`, metrics: series(POINTS, `m${i}`) };
      // two sends per replica at the same moment, then a retry against each
      const sends = await Promise.all([a, b, a, b].map((r) => r.call('POST', `/metrics/batch/${p}/${e}`, { key, body })));
      expect(sends.map((s) => s.status)).toEqual([200, 200, 200, 200]);
      firsts.push(sends.filter((s) => s.body.duplicate === false).length);
      for (const r of [b, a]) expect((await r.call('POST', `/metrics/batch/${p}/${e}`, { key, body })).body).toMatchObject({ duplicate: true, count: POINTS });
    }
    expect(firsts).toEqual(Array(ROUNDS).fill(1));
    const s = await b.call('GET', `/metrics/summary/${p}/${e}`, { key });
    for (let i = 0; i < ROUNDS; i++) expect(s.body.metrics[`m${i}`]).toMatchObject({ count: POINTS, last: POINTS - 1 });
    // every point once in the raw table too (no FINAL): a double insert shows here even where reads deduplicate
    const [raw] = await q(`SELECT count(*)::int AS n, sum(points)::int AS points FROM metric_batches WHERE experiment_id = '${e}' AND committed_at IS NOT NULL`);
    expect(raw).toEqual({ n: ROUNDS, points: ROUNDS * POINTS });
    const series500 = await a.call('POST', '/metrics/series', { key, body: { project_id: p, series: [{ experiment_id: e, metric_name: 'm0' }], buckets: 1000 } });
    expect([series500.body.series[0].total_points, series500.body.series[0].data.steps.length]).toEqual([POINTS, POINTS]);
  });

  it('a batch held by a live claim is waited for; one whose claim ran out (a dead replica) is taken over and written once', async () => {
    const { key, teamId } = await team('takeover');
    const { p, e } = await run(a, key, 'takeover', 'r1');
    // what a replica killed after claiming leaves: pending rows with versions nothing holds
    await q(`INSERT INTO metric_batches (team_id, experiment_id, batch_id, points, version_base, lease_until) VALUES
      ('${teamId}', '${e}', 'dead', 40, 1000, now() - interval '1 second')`);
    const dead = await b.call('POST', `/metrics/batch/${p}/${e}`, { key, body: { batch_id: 'dead', metrics: series(40, 'dead') } });
    expect(dead.body).toMatchObject({ duplicate: false, count: 40 });
    // the live claim's lease starts after t0 (it was set before the 'dead' request, which took
    // 760 ms on a loaded machine, and the wait measured from after it came out under 1 s)
    const t0 = Date.now();
    await q(`INSERT INTO metric_batches (team_id, experiment_id, batch_id, points, version_base, lease_until) VALUES
      ('${teamId}', '${e}', 'held', 30, 2000, now() + interval '1500 milliseconds')`);
    const held = await a.call('POST', `/metrics/batch/${p}/${e}`, { key, body: { batch_id: 'held', metrics: series(30, 'held') } });
    const waited = Date.now() - t0;
    expect(held.body).toMatchObject({ duplicate: false, count: 30 });
    expect(waited).toBeGreaterThanOrEqual(1500); // it waited for the lease to run out
    const s = (await b.call('GET', `/metrics/summary/${p}/${e}`, { key })).body.metrics;
    expect([s.dead.count, s.held.count]).toEqual([40, 30]);
  });

  it('one crash sweeper: the lease holder marks a silent run crashed, the other replica stands by', async () => {
    const { key } = await team('sweeper');
    const { p, e } = await run(b, key, 'sweep', 'goes-quiet');
    let status = 'running';
    const deadline = Date.now() + 20_000;
    while (status === 'running' && Date.now() < deadline) {
      await sleep(250);
      status = (await a.call('GET', `/projects/${p}/experiments/${e}`, { key })).body.status;
    }
    expect(status).toBe('crashed');
    const [{ holder }] = await q<{ holder: string }>(`SELECT holder FROM replica_coordination WHERE name = 'crash-sweeper'`);
    const [sweeper, standby] = holder.includes(`:${a.pid}:`) ? [a, b] : [b, a];
    expect(holder).toContain(`:${sweeper.pid}:`);
    const marked = (r: Replica) => r.lines.filter((l) => l.includes('run(s) crashed') && l.includes(e)).length;
    expect([marked(sweeper), marked(standby)]).toEqual([1, 0]);
    expect(sweeper.lines.some((l) => l.includes('holds the sweeper lease') && l.includes('this process'))).toBe(true);
    expect(standby.lines.some((l) => l.includes('another process holds the sweeper lease'))).toBe(true);
    expect(standby.lines.some((l) => l.includes('this process') && l.includes('holds the sweeper lease'))).toBe(false);
  });

  it('live updates: a point logged through A is in runs-table since= and metrics/series read through B', async () => {
    const { key } = await team('live');
    const { p, e } = await run(a, key, 'live', 'watched');
    const other = (await run(a, key, 'live', 'idle')).e;
    const full = await b.call('GET', `/projects/${p}/runs-table`, { key });
    expect(full.body.items.map((x: { id: string }) => x.id).sort()).toEqual([e, other].sort());
    await sleep(50);
    const since = new Date().toISOString();
    await sleep(50);
    expect((await a.call('POST', `/metrics/batch/${p}/${e}`, { key, body: { metrics: [{ metric_name: 'loss', metric_value: 0.25, step: 7 }] } })).status).toBe(200);
    const delta = await b.call('GET', `/projects/${p}/runs-table?since=${encodeURIComponent(since)}`, { key });
    // the other run is not in the answer (unless the sweeper marked it crashed meanwhile: a change too)
    expect(delta.body.items.filter((x: { id: string; status: string }) => x.id !== e && x.status === 'running')).toEqual([]);
    expect(delta.body.items.find((x: { id: string }) => x.id === e).metrics.loss).toMatchObject({ last: 0.25, count: 1, last_step: 7 });
    const s = await b.call('POST', '/metrics/series', { key, body: { project_id: p, series: [{ experiment_id: e, metric_name: 'loss', step_min: 0 }] } });
    expect([s.body.series[0].total_points, s.body.series[0].data.steps, s.body.series[0].data.values]).toEqual([1, [7], [0.25]]);
  });

  it('a revoked key and a changed password stop working on both replicas at once (Redis invalidation)', async () => {
    const password = 'first password 1';
    const { key, email } = await team('revoke', password);
    const second = await a.call('POST', '/api-keys', { key, body: { name: 'second' } });
    expect(second.status).toBe(201);
    const k2 = second.body.api_key as string;
    // both replicas have the key and the Basic sign-in cached (30 s / 60 s TTL)
    for (const r of [a, b]) {
      expect((await r.call('GET', '/me', { key: k2 })).status).toBe(200);
      expect((await r.call('GET', '/me', { auth: basic(email, password) })).status).toBe(200);
    }
    expect((await a.call('DELETE', `/api-keys/${second.body.id}`, { key })).status).toBe(200);
    const refusedWithin = async (r: Replica, o: { key?: string; auth?: string }) => {
      const t0 = Date.now();
      while (Date.now() - t0 < 2000) {
        if ((await r.call('GET', '/me', o)).status === 401) return Date.now() - t0;
        await sleep(20);
      }
      return Infinity;
    };
    expect(await refusedWithin(a, { key: k2 })).toBeLessThan(100);
    const keyOnB = await refusedWithin(b, { key: k2 });
    expect(keyOnB).toBeLessThan(1000);

    const login = await fetch(`${a.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
    const csrf = ((await login.json()) as { csrf_token: string }).csrf_token;
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    const changed = await a.call('PUT', '/auth/password', { body: { current_password: password, new_password: 'second password 2' }, headers: { cookie, 'x-csrf-token': csrf } });
    expect(changed.status).toBe(204);
    const basicOnB = await refusedWithin(b, { auth: basic(email, password) });
    expect(basicOnB).toBeLessThan(1000);
    console.log(`replicas.test.ts: revoked key refused on the other replica after ${keyOnB} ms, old Basic password after ${basicOnB} ms`);
    expect((await b.call('GET', '/me', { auth: basic(email, 'second password 2') })).status).toBe(200);

    // the operator's CLI writes PostgreSQL itself (no server to go through) and tells the replicas through Redis
    for (const r of [a, b]) expect((await r.call('GET', '/me', { auth: basic(email, 'second password 2') })).status).toBe(200);
    const cli = spawn(process.execPath, [BIN, 'user', 'password', email, '--password', 'third password 3', '--data-dir', a.dataDir], { env: replicaEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let cliOut = '';
    cli.stdout!.on('data', (d: Buffer) => (cliOut += d));
    cli.stderr!.on('data', (d: Buffer) => (cliOut += d));
    expect(await new Promise((r) => cli.once('exit', r)), cliOut).toBe(0);
    for (const r of [a, b]) expect(await refusedWithin(r, { auth: basic(email, 'second password 2') })).toBeLessThan(1000);
  }, 60_000);

  it('rate limits are one budget across replicas: per key, invalid keys per IP, wrong passwords per IP', async () => {
    // the revoked key's and the old password's refusals above count in these windows too: start afresh
    await redis!.flushdb();
    const { key } = await team('limits');
    const split = Array.from({ length: PER_KEY }, (_, i) => (i % 2 ? a : b));
    const ok = await Promise.all(split.map((r) => r.call('GET', '/me', { key })));
    expect(ok.filter((r) => r.status === 200).length).toBe(PER_KEY);
    const over = [await a.call('GET', '/me', { key }), await b.call('GET', '/me', { key })];
    expect(over.map((r) => r.status)).toEqual([429, 429]);

    const bad = [];
    for (let i = 0; i < PER_IP; i++) bad.push((await (i % 2 ? a : b).call('GET', '/me', { key: 'assay_not_a_key' })).status);
    expect(bad).toEqual(Array(PER_IP).fill(401));
    for (const r of [a, b]) {
      const refused = await r.call('GET', '/me', { key: 'assay_not_a_key' });
      expect([refused.status, refused.body.detail]).toEqual([429, expect.stringMatching(/^Too many invalid API keys from this client/)]);
    }

    const wrong = [];
    for (let i = 0; i < PER_SIGN_IN; i++) wrong.push((await (i % 2 ? a : b).call('GET', '/me', { auth: basic('nobody@replicas.test', 'a guess') })).status);
    expect(wrong).toEqual(Array(PER_SIGN_IN).fill(401));
    for (const r of [a, b]) {
      const refused = await r.call('GET', '/me', { auth: basic('nobody@replicas.test', 'a guess') });
      expect([refused.status, refused.body.detail]).toEqual([429, expect.stringMatching(/^Too many wrong passwords from this client/)]);
    }
  });

  it('a replica that stops hands the sweeper lease to the other', async () => {
    const [{ holder }] = await q<{ holder: string }>(`SELECT holder FROM replica_coordination WHERE name = 'crash-sweeper'`);
    const [stopping, staying] = holder.includes(`:${a.pid}:`) ? [a, b] : [b, a];
    await stopping.stop();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !staying.lines.some((l) => l.includes('this process') && l.includes('holds the sweeper lease'))) await sleep(100);
    expect(staying.lines.some((l) => l.includes('this process') && l.includes('holds the sweeper lease'))).toBe(true);
  });
});
