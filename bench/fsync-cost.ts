/**
 * What ASSAY_FSYNC=on costs on the ingest path: `node --import tsx bench/fsync-cost.ts [rounds]`,
 * and per store in one process: `node --import tsx bench/fsync-cost.ts micro [rounds]` (a PGlite
 * commit with and without fsync; a chDB insert into a MergeTree table with and without
 * fsync_after_insert/fsync_part_directory, the two tables side by side in one session).
 * Servers with fsync on and off alternate (fresh data dir each), so machine noise hits both.
 * Every batch carries a batch_id, as the SDKs send it: a Postgres row before the ClickHouse insert
 * and a commit after it, on top of the inserted parts.
 *   sequential: one client, 200 batches × 100 points back to back → ack latency p50/p99
 *   concurrent: 8 clients × 25 batches × 2000 points → acked points/s
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Api } from './lib/http.ts';
import { createTeam, Server } from './lib/server.ts';
import { fmt, median, nowMs, quantile } from './lib/stats.ts';

const micro = process.argv[2] === 'micro';
const rounds = Number(process.argv[micro ? 3 : 2] ?? 3);
let seq = 0;

function batch(step0: number, n: number) {
  const metrics = Array.from({ length: n }, (_, i) => ({ metric_name: `m${i % 10}`, step: step0 + Math.floor(i / 10), metric_value: i / 7 }));
  return JSON.stringify({ batch_id: `fsync-cost-${++seq}`, metrics });
}

async function send(api: Api, p: string, body: string): Promise<number> {
  const r = await api.raw('POST', p, body);
  if (r.status !== 200) throw new Error(`${r.status} ${r.text}`);
  return r.ms;
}

async function once(mode: 'on' | 'off') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `assay-fsync-${mode}-`));
  const env = { ASSAY_FSYNC: mode, DATABASE_URL: '', CLICKHOUSE_URL: '' };
  try {
    const team = await createTeam(dir, env);
    const { server } = await Server.start(dir, env);
    try {
      const api = new Api(server.base, team.api_key);
      for (const [p, b] of [['/api/v1/projects', { name: 'p' }], ['/api/v1/projects/p/experiments', { name: 'e' }]] as const) {
        const r = await api.raw('POST', p, JSON.stringify(b));
        if (r.status !== 201) throw new Error(`${p}: ${r.status} ${r.text}`);
      }
      const url = '/api/v1/metrics/batch/p/e';
      const lat: number[] = [];
      for (let i = 0; i < 200; i++) lat.push(await send(api, url, batch(i * 10, 100)));
      const bodies = Array.from({ length: 8 }, (_, c) => Array.from({ length: 25 }, (_, i) => batch(1_000_000 * (c + 1) + i * 200, 2000)));
      const t0 = nowMs();
      await Promise.all(bodies.map(async (qs) => {
        for (const b of qs) await send(api, url, b);
      }));
      const pps = (8 * 25 * 2000) / ((nowMs() - t0) / 1000);
      return { p50: median(lat), p99: quantile(lat, 0.99), pps };
    } finally {
      await server.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function microRounds() {
  const { openPostgres } = await import('../packages/server/src/stores/postgres/db.ts');
  const { Session } = await import('chdb');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-fsync-micro-'));
  const ch = new Session(path.join(root, 'ch'));
  const fsyncSettings = (v: number) => `SETTINGS fsync_after_insert = ${v}, fsync_part_directory = ${v}`;
  for (const v of [0, 1]) ch.query(`CREATE TABLE t${v} (a UInt64, b Float64) ENGINE = MergeTree ORDER BY a ${fsyncSettings(v)}`);
  const pgMs: Record<'on' | 'off', number[]> = { on: [], off: [] };
  const chMs: Record<'on' | 'off', number[]> = { on: [], off: [] };
  try {
    for (let r = 0; r < rounds; r++) {
      for (const mode of r % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
        const pg = await openPostgres({ kind: 'pglite', path: path.join(root, `pg-${mode}`), fsync: mode === 'on' });
        const c = (pg.db as unknown as { $client: { query(sql: string, p?: unknown[]): Promise<unknown>; exec(sql: string): Promise<unknown> } }).$client;
        await c.exec('create table if not exists t (id serial primary key, v text)');
        let t0 = nowMs();
        for (let i = 0; i < 300; i++) await c.query('insert into t (v) values ($1)', [`row ${i}`]);
        pgMs[mode].push((nowMs() - t0) / 300);
        await pg.close();
        t0 = nowMs();
        for (let i = 0; i < 50; i++) ch.query(`INSERT INTO t${mode === 'on' ? 1 : 0} SELECT number + ${r * 1e6 + i * 1000}, rand() FROM numbers(1000)`);
        chMs[mode].push((nowMs() - t0) / 50);
        console.log(`round ${r + 1} fsync=${mode}: PGlite commit ${fmt(pgMs[mode].at(-1)!)} ms, chDB insert of 1000 rows ${fmt(chMs[mode].at(-1)!)} ms`);
      }
    }
    for (const mode of ['off', 'on'] as const) {
      console.log(`fsync=${mode} median of ${rounds}: PGlite commit ${fmt(median(pgMs[mode]))} ms, chDB insert ${fmt(median(chMs[mode]))} ms`);
    }
  } finally {
    ch.cleanup?.();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (micro) {
  await microRounds();
  process.exit(0);
}

const res: Record<'on' | 'off', { p50: number; p99: number; pps: number }[]> = { on: [], off: [] };
for (let r = 0; r < rounds; r++) {
  for (const mode of r % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
    const x = await once(mode);
    res[mode].push(x);
    console.log(`round ${r + 1} fsync=${mode}: sequential ack p50 ${fmt(x.p50)} ms p99 ${fmt(x.p99)} ms; concurrent ${fmt(x.pps)} points/s`);
  }
}
for (const mode of ['off', 'on'] as const) {
  const xs = res[mode];
  console.log(`fsync=${mode} median of ${rounds}: ack p50 ${fmt(median(xs.map((x) => x.p50)))} ms, p99 ${fmt(median(xs.map((x) => x.p99)))} ms, ${fmt(median(xs.map((x) => x.pps)))} points/s`);
}
