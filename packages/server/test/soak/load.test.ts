/**
 * `npm run test:soak`: 200 concurrent clients log and read against `assay serve` (a child process)
 * for ASSAY_SOAK_LOAD_SECONDS (default 600). Each client has its own run and API key (so the
 * default per-key rate limit applies as in production) and loops: a 100-point batch, then a read
 * (timeseries page, summary or run list), with a short think time. Reported: p50/p99 per operation,
 * errors (must be 0), the server's RSS over time (bounded, no upward trend: the last third's mean
 * within 1.5× the first third's), and every acknowledged point stored exactly once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChildServer, createTeam, freePort } from '../child-server.ts';

const CLIENTS = Number(process.env.ASSAY_SOAK_LOAD_CLIENTS ?? 200);
const SECONDS = Number(process.env.ASSAY_SOAK_LOAD_SECONDS ?? 600);
const THINK_MS = Number(process.env.ASSAY_SOAK_LOAD_THINK_MS ?? 100);
const POINTS = 100;

type Op = 'batch' | 'timeseries' | 'summary' | 'list';

const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

describe('load (soak)', () => {
  it(`${CLIENTS} clients logging and reading: no errors, bounded RSS, reads stay fast`, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-load-'));
    const server = await new ChildServer(dataDir, await freePort()).ready();
    try {
      const adminKey = await createTeam(server, 'load');
      const call = async (key: string, method: string, url: string, body?: unknown) => {
        const r = await fetch(`${server.url}/api/v1${url}`, {
          method,
          headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
          signal: AbortSignal.timeout(120_000),
        });
        const text = await r.text();
        return { status: r.status, body: text ? JSON.parse(text) : null };
      };
      const project = await call(adminKey, 'POST', '/projects', { name: 'load' });
      expect(project.status).toBe(201);
      const clients: { key: string; run: string }[] = [];
      for (let i = 0; i < CLIENTS; i++) {
        const e = await call(adminKey, 'POST', `/projects/${project.body.id}/experiments`, { name: `run-${i}` });
        const k = await call(adminKey, 'POST', '/api-keys', { name: `client-${i}`, role: 'researcher' });
        expect([e.status, k.status]).toEqual([201, 201]);
        clients.push({ key: k.body.api_key, run: e.body.id });
      }

      const latencies: Record<Op, number[]> = { batch: [], timeseries: [], summary: [], list: [] };
      const errors: string[] = [];
      const acked = new Map<string, number>();
      const rss: { t: number; bytes: number }[] = [];
      const t0 = Date.now();
      const deadline = t0 + SECONDS * 1000;
      const sampler = setInterval(() => rss.push({ t: (Date.now() - t0) / 1000, bytes: rssBytes(server.proc.pid!) }), 2000);

      const timed = async (op: Op, f: () => Promise<{ status: number; body: any }>) => {
        const s = performance.now();
        try {
          const r = await f();
          latencies[op].push(performance.now() - s);
          if (r.status >= 300) errors.push(`${op}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
          return r;
        } catch (e) {
          errors.push(`${op}: ${(e as Error).message}`);
          return undefined;
        }
      };

      await Promise.all(
        clients.map(async (c, i) => {
          let step = 0;
          let n = 0;
          await new Promise((r) => setTimeout(r, Math.random() * 1000)); // don't start in lockstep
          while (Date.now() < deadline) {
            const steps = Array.from({ length: POINTS }, (_, j) => step + j);
            const r = await timed('batch', () =>
              call(c.key, 'POST', `/metrics/batch/${project.body.id}/${c.run}`, { batch_id: `c${i}-${n}`, series: [{ metric_name: 'loss', steps, values: steps.map((s) => 1 / (1 + s)) }] }),
            );
            if (r?.status === 200) acked.set(c.run, (acked.get(c.run) ?? 0) + POINTS);
            step += POINTS;
            n++;
            const kind = n % 3;
            if (kind === 0) await timed('timeseries', () => call(c.key, 'GET', `/metrics/timeseries/${project.body.id}/${c.run}/loss?limit=1000&step_min=${Math.max(0, step - 1000)}`));
            else if (kind === 1) await timed('summary', () => call(c.key, 'GET', `/metrics/summary/${project.body.id}/${c.run}`));
            else await timed('list', () => call(c.key, 'GET', `/projects/${project.body.id}/experiments?limit=50`));
            await new Promise((r) => setTimeout(r, THINK_MS * (0.5 + Math.random())));
          }
        }),
      );
      clearInterval(sampler);
      const elapsed = (Date.now() - t0) / 1000;

      // every acknowledged point is stored exactly once
      let stored = 0;
      let expected = 0;
      for (const c of clients) {
        const s = await call(adminKey, 'GET', `/metrics/summary/${project.body.id}/${c.run}`);
        stored += s.body.metrics.loss?.count ?? 0;
        expected += acked.get(c.run) ?? 0;
      }

      const third = Math.floor(rss.length / 3);
      const mean = (xs: { bytes: number }[]) => xs.reduce((a, x) => a + x.bytes, 0) / xs.length;
      const first = mean(rss.slice(0, third));
      const last = mean(rss.slice(-third));
      const mb = (b: number) => Math.round(b / 1048576);
      const report = {
        clients: CLIENTS,
        seconds: Math.round(elapsed),
        requests: Object.values(latencies).reduce((a, x) => a + x.length, 0),
        points: expected,
        points_per_second: Math.round(expected / elapsed),
        errors: errors.length,
        first_errors: errors.slice(0, 5),
        latency_ms: Object.fromEntries(Object.entries(latencies).map(([op, xs]) => [op, { n: xs.length, p50: Math.round(pct(xs, 50)), p99: Math.round(pct(xs, 99)), max: Math.round(Math.max(...xs)) }])),
        rss_mb: { min: mb(Math.min(...rss.map((x) => x.bytes))), max: mb(Math.max(...rss.map((x) => x.bytes))), first_third_mean: mb(first), last_third_mean: mb(last) },
        rss_timeline_mb: rss.filter((_, i) => i % Math.max(1, Math.floor(rss.length / 20)) === 0).map((x) => `${Math.round(x.t)}s:${mb(x.bytes)}`).join(' '),
      };
      console.log(JSON.stringify(report, null, 2));
      expect(errors).toEqual([]);
      expect(stored).toBe(expected);
      expect(last, 'RSS trend: last third vs first third').toBeLessThan(first * 1.5);
    } finally {
      server.proc.kill('SIGTERM');
      await server.exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 3 * 3600_000);
});
