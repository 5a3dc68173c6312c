/**
 * The crash-safety scenario (crash-safety.test.ts, and longer in soak/): `assay serve` as a child
 * process, killed with SIGKILL at random moments — while starting (migrations, recovery) or while
 * batches are in flight — and restarted at once on the same port and data dir, while two writers
 * keep sending:
 *
 * - the TS SDK (memory buffer, retries, spool + replay). Its acknowledgement is `stats().acked`
 *   and `finish()` returning true: every point logged was answered 200 by the server. Those
 *   points must be stored exactly once with their values: timeseries and summary counts.
 * - a raw HTTP client with batch_ids that does not retry half of its unanswered batches: an
 *   acknowledged batch is stored exactly once; an abandoned one is stored whole or not at all, and
 *   the summary (aggregates) agrees with the timeseries — no batch half-written.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { AssayClient, Experiment, silentLogger } from '../../sdk/src/index.ts';
import { listSegments } from '../../sdk/src/spool.ts';
import { ChildServer, createTeam, freePort } from './child-server.ts';

export interface CrashScenario {
  kills: number;
  /** Steps per metric the SDK writer logs every 20 ms. */
  stepsPerTick: number;
  seed?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RAW_POINTS = 100;

/** mulberry32: the kill moments are reproducible from the printed seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runCrashScenario(o: CrashScenario): Promise<string> {
  const t0 = Date.now();
  const progress = (what: string) => process.stderr.write(`crash scenario +${((Date.now() - t0) / 1000).toFixed(0)} s: ${what}\n`);
  const seed = o.seed ?? Number(process.env.ASSAY_CRASH_SEED ?? Date.now() % 1e9);
  const random = rng(seed);
  progress(`seed ${seed} (ASSAY_CRASH_SEED), ${o.kills} kills`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-crash-'));
  const spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-crash-spool-'));
  const port = await freePort();
  const servers: ChildServer[] = [];
  const start = () => {
    const s = new ChildServer(dataDir, port);
    servers.push(s);
    return s;
  };
  try {
    let s = await start().ready();
    const key = await createTeam(s, 'crash-lab');
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const post = (p: string, body: unknown) => fetch(`${s.url}/api/v1${p}`, { method: 'POST', headers, body: JSON.stringify(body) });
    expect((await post('/projects', { name: 'crash' })).status).toBe(201);
    const rawExp = (await (await post('/projects/crash/experiments', { name: 'raw' })).json()) as { id: string; project_id: string };

    const exp = await Experiment.create({
      project: 'crash',
      name: 'sdk',
      apiUrl: s.url,
      apiKey: key,
      spoolDir,
      systemMetrics: false,
      heartbeatIntervalMs: 0,
      // the SDK's default batching: a spooled record is one flush, and the replay sends records
      // one request each (tiny records made the replay crawl: 42k points at ~100 points/s)
      backoff: { baseMs: 100, maxMs: 1000 },
      offlineGraceMs: 3000, // a restart takes longer: outages go to the spool and are replayed
      logger: silentLogger,
    });

    let stop = false;
    let steps = 0;
    const trainer = (async () => {
      while (!stop) {
        for (let i = 0; i < o.stepsPerTick; i++, steps++) {
          exp.logMetric('loss', steps * 2);
          exp.logMetric('acc', steps * 2);
        }
        await sleep(20);
      }
    })();

    // Raw batch b holds steps b*100 … b*100+99 of `raw`, value = step * 3.
    const acked = new Set<number>();
    const abandoned = new Set<number>();
    const retry: number[] = [];
    const statuses = new Map<string, number>();
    const sendRaw = async (b: number): Promise<boolean> => {
      const metrics = Array.from({ length: RAW_POINTS }, (_, i) => ({ metric_name: 'raw', step: b * RAW_POINTS + i, metric_value: (b * RAW_POINTS + i) * 3 }));
      try {
        const r = await fetch(`http://127.0.0.1:${port}/api/v1/metrics/batch/crash/raw`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ batch_id: `raw-${b}`, metrics }),
          signal: AbortSignal.timeout(15_000),
        });
        const text = await r.text();
        const what = r.status === 200 ? '200' : `${r.status} ${text.slice(0, 120)}`;
        statuses.set(what, (statuses.get(what) ?? 0) + 1);
        return r.status === 200;
      } catch (e) {
        const what = (e as Error).name === 'TimeoutError' ? 'timeout' : 'no connection';
        statuses.set(what, (statuses.get(what) ?? 0) + 1);
        return false;
      }
    };
    let nextRaw = 0;
    const rawWriter = (async () => {
      while (!stop) {
        const b = retry.length && random() < 0.5 ? retry.shift()! : nextRaw++;
        const ok = await sendRaw(b);
        if (ok) acked.add(b);
        else if (b % 2 === 0) retry.push(b);
        else abandoned.add(b);
        await sleep(ok ? 20 : 500); // a client backs off while the server is down
      }
    })();

    let duringStartup = 0;
    for (let k = 0; k < o.kills; k++) {
      if (random() < 0.25) {
        duringStartup++;
        await sleep(200 + random() * 4000); // may be migrating, recovering, or just listening
      } else {
        await s.ready();
        await sleep(100 + random() * 2500);
      }
      s.crash();
      s = start(); // at once, same port and data dir
      progress(`kill ${k + 1}/${o.kills}`);
    }
    await s.ready();
    progress('last restart ready');
    stop = true;
    await Promise.all([trainer, rawWriter]);
    progress(`${retry.length} raw batches to re-send`);
    const drain = async () => {
      for (let attempts = 0; retry.length && attempts < 20; ) {
        const b = retry.shift()!;
        if (await sendRaw(b)) acked.add(b);
        else {
          retry.push(b);
          attempts++;
          await sleep(500);
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, drain));
    expect(retry, `raw batches never acknowledged; answers: ${JSON.stringify([...statuses])}`).toEqual([]);
    progress('raw batches drained');

    // Bounded generously: on a loaded 2-core machine the replay of what was spooled during 20
    // outages takes minutes; nothing here waits for it unless it is still going.
    const ticker = setInterval(() => {
      const x = exp.stats();
      progress(`SDK finishing: ${x.acked}/${x.logged} acked, ${x.pending} in memory, ${x.spooled} spooled so far, ${x.retries} retries`);
    }, 30_000);
    const finished = await exp.finish('complete', { timeoutMs: 600_000 }).finally(() => clearInterval(ticker));
    expect(finished, JSON.stringify({ stats: exp.stats(), undelivered: exp.undelivered })).toBe(true);
    progress('SDK finished');
    const st = exp.stats();
    expect(st).toMatchObject({ logged: 2 * steps, acked: 2 * steps, dropped: 0 });
    expect(listSegments(spoolDir)).toEqual([]);

    const client = new AssayClient({ apiUrl: s.url, apiKey: key });
    const sum = await client.summary('crash', 'sdk');
    for (const m of ['loss', 'acc']) {
      const pts = (await client.getMetric('crash', 'sdk', m)).points;
      expect(pts.map((p) => p.step), `${m} steps`).toEqual(Array.from({ length: steps }, (_, i) => i));
      expect(pts.filter((p) => p.value !== p.step * 2), `${m} values`).toEqual([]);
      expect(sum.metrics[m]?.count, `${m} summary count`).toBe(steps);
    }

    const raw = (await client.getMetric(rawExp.project_id, rawExp.id, 'raw')).points;
    expect(raw.filter((p) => p.value !== p.step * 3), 'raw values').toEqual([]);
    const perBatch = new Map<number, number>();
    for (const p of raw) perBatch.set(Math.floor(p.step / RAW_POINTS), (perBatch.get(Math.floor(p.step / RAW_POINTS)) ?? 0) + 1);
    const missing = [...acked].filter((b) => perBatch.get(b) !== RAW_POINTS);
    expect(missing, 'acknowledged raw batches not stored whole').toEqual([]);
    const partial = [...perBatch].filter(([, n]) => n !== RAW_POINTS);
    expect(partial, 'raw batches stored in part').toEqual([]);
    const unknown = [...perBatch.keys()].filter((b) => !acked.has(b) && !abandoned.has(b));
    expect(unknown, 'stored raw batches never sent').toEqual([]);
    expect((await client.summary(rawExp.project_id, rawExp.id)).metrics.raw?.count, 'raw summary count = stored points').toBe(raw.length);

    const landedAbandoned = [...abandoned].filter((b) => perBatch.has(b)).length;
    return (
      `seed ${seed}: ${o.kills} kills (${duringStartup} while starting); SDK ${steps} steps × 2 metrics acked, ` +
      `${st.retries} retries, ${st.spooled} points spooled, ${st.duplicateBatches} duplicate batches; raw ${acked.size} batches acked, ` +
      `${abandoned.size} abandoned (${landedAbandoned} of them landed whole); raw answers ${JSON.stringify([...statuses])}; ${((Date.now() - t0) / 1000).toFixed(0)} s`
    );
  } finally {
    for (const s of servers) s.crash();
    await Promise.all(servers.map((s) => s.exited));
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(spoolDir, { recursive: true, force: true });
  }
}
