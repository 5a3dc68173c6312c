/**
 * What ASSAY_FSYNC=on costs on the ingest path: `node --import tsx bench/fsync-cost.ts [rounds]`.
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

const rounds = Number(process.argv[2] ?? 3);
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
