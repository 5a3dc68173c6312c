import { Api } from '../lib/http.ts';
import { createTeam, Server, settle } from '../lib/server.ts';
import { figure, note } from '../lib/report.ts';
import type { Ctx } from '../lib/context.ts';
import type { Params } from '../lib/args.ts';
import type { PeerResult } from '../lib/peer.ts';

const MB = 2 ** 20;

/**
 * Cold start: `assay serve` on an empty data dir (creates PGlite + chDB stores, runs migrations)
 * until GET /readyz is 200. Then the server is stopped, a team is created offline and the server
 * is started again on the same dir: warm start. Idle RSS = VmRSS of the server process tree 3 s
 * after the warm start, before any traffic.
 */
export async function coldStart(dataDir: string): Promise<number> {
  const cold = await Server.start(dataDir);
  await cold.server.stop();
  return cold.ms;
}

/** Runs after coldStart (done first, so a broken server fails before the long peer run). */
export async function startServer(params: Params, dataDir: string, coldMs: number, peer: PeerResult | undefined): Promise<Omit<Ctx, 'projectId' | 'format' | 'columnar'>> {
  figure({ name: 'startup_cold_ms', value: coldMs, unit: 'ms', higherIsBetter: false, peer: peer?.cold_start_ms });
  const team = await createTeam(dataDir);
  const warm = await Server.start(dataDir);
  const server = warm.server;
  figure({ name: 'startup_warm_ms', value: warm.ms, unit: 'ms', higherIsBetter: false, peer: peer?.warm_start_ms });
  const settledMs = await settle(server.pid);
  const mem = server.memory();
  figure({
    name: 'idle_rss_mb',
    value: mem.rss / MB,
    unit: 'MiB',
    higherIsBetter: false,
    peer: peer ? peer.idle_pss_bytes / MB : undefined,
    detail: { pids: mem.pids, vm_hwm_mb: mem.hwm / MB, settled_ms: settledMs },
  });
  if (peer) note(`idle memory peer = PSS summed over MLflow's ${peer.processes} processes (server, ${peer.workers} uvicorn workers, job runners)`);
  const api = new Api(server.base, team.api_key, Math.max(16, params.clients * 2));
  return { params, dataDir, server, team, api, peer, pointsWritten: 0, results: {} };
}

/** Warm restart of a server holding the run's data (graceful stop flushes first). */
export async function restartWithData(ctx: Ctx): Promise<void> {
  const tStop = Date.now();
  await ctx.server.stop();
  const stopMs = Date.now() - tStop;
  ctx.api.close();
  const warm = await Server.start(ctx.dataDir);
  ctx.server = warm.server;
  ctx.api = new Api(warm.server.base, ctx.team.api_key, Math.max(16, ctx.params.clients * 2));
  figure({ name: 'startup_warm_with_data_ms', value: warm.ms, unit: 'ms', higherIsBetter: false, detail: { points: ctx.pointsWritten, graceful_stop_ms: stopMs } });
  note(`warm start with ${ctx.pointsWritten.toLocaleString('en-US')} points stored; graceful stop took ${stopMs} ms`);
}
