/**
 * Assay benchmark harness: `node --import tsx bench/run.ts <all|ingest|query|storage|sdk|hypotheses|import|ui-data> [--opt=value…]`.
 * Starts its own server on a fresh temp data dir, drives the public HTTP API, runs the MLflow
 * peer (bench/peers) side by side, prints one line per figure and writes bench/results/<ts>.json.
 * Options: see bench/README.md or `--help`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, PARAM_HELP } from './lib/args.ts';
import { note, writeSummary } from './lib/report.ts';
import { runPeer, type PeerResult } from './lib/peer.ts';
import type { Ctx } from './lib/context.ts';
import { ASSAY_BIN } from './lib/server.ts';
import { coldStart, restartWithData, startServer } from './parts/startup.ts';
import { ingestPart, probeColumnar } from './parts/ingest.ts';
import { historySmall, queryPart } from './parts/query.ts';
import { storagePart } from './parts/storage.ts';
import { sdkPart } from './parts/sdk.ts';
import { hypothesesPart } from './parts/hypotheses.ts';
import { importPart } from './parts/import.ts';
import { uiDataPart } from './parts/ui-data.ts';
import { load } from './lib/ingest.ts';
import { metricNames } from './lib/data.ts';
import { newExperiment } from './lib/context.ts';

const PARTS = ['all', 'ingest', 'query', 'storage', 'sdk', 'hypotheses', 'import', 'ui-data', 'ui'];

async function main(): Promise<number> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(`usage: bench/run.ts <${PARTS.join('|')}> [options]\noptions (or env BENCH_<NAME>):\n${PARAM_HELP}`);
    return 0;
  }
  const { part, params } = parseArgs(process.argv.slice(2));
  // the web UI in headless Chromium: its own server, data and table (bench/ui.ts)
  if (part === 'ui') return (await import('./ui.ts')).uiBench();
  if (!PARTS.includes(part)) throw new Error(`unknown part ${part}; one of ${PARTS.join(', ')}`);
  if (!fs.existsSync(ASSAY_BIN)) throw new Error(`${ASSAY_BIN} not found — the server package is not built yet`);
  const has = (p: string) => part === 'all' || part === p;
  note(`assay bench ${part} on ${os.cpus().length} cores (${os.cpus()[0]?.model}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  note(`params ${JSON.stringify(params)}`);
  loadNote('start');

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-bench-'));
  note(`assay data dir ${dataDir}`);
  let peer: PeerResult | undefined;
  let ctx: Ctx | undefined;
  let failure: unknown;
  try {
    const coldMs = await coldStart(dataDir);
    if (part !== 'sdk' && part !== 'hypotheses' && part !== 'import' && part !== 'ui-data') peer = await runPeer(params, { ingest: has('ingest'), query: has('query') || has('storage'), fullHistory: has('query') });
    const base = await startServer(params, dataDir, coldMs, peer);
    const project = await base.api.json<{ id: string }>('POST', '/api/v1/projects?if_exists=return', { name: 'bench' });
    ctx = { ...base, projectId: project.id, format: 'row', columnar: false };
    ctx.columnar = await probeColumnar(ctx);
    ctx.format = ctx.columnar ? 'columnar' : 'row';
    note(`columnar batch format ${ctx.columnar ? 'accepted' : 'NOT accepted'}; untimed data loading uses the ${ctx.format} format`);

    const probe = has('query') ? await historySmall(ctx) : undefined;
    if (has('ingest')) await ingestPart(ctx);
    if (has('query')) await queryPart(ctx, probe);
    if (part === 'storage') {
      const runs = [];
      for (let i = 0; i < params.ingestRuns; i++) runs.push({ experimentId: await newExperiment(ctx, 'storage'), seed: 1000 + i, metrics: metricNames(params.ingestMetrics), steps: params.ingestSteps });
      ctx.pointsWritten += await load(ctx.api, ctx.projectId, runs, params.batchPoints, ctx.format);
    }
    if (has('storage')) {
      await storagePart(ctx);
      await restartWithData(ctx);
    }
    if (has('sdk')) await sdkPart(ctx);
    if (part === 'hypotheses') await hypothesesPart(ctx);
    if (part === 'import') await importPart(ctx);
    if (part === 'ui-data') await uiDataPart(ctx);
  } catch (e) {
    failure = e;
    console.error(`bench failed: ${(e as Error).stack ?? e}`);
    if (ctx) console.error(`server log tail:\n${ctx.server.tail(40)}`);
  } finally {
    ctx?.api.close();
    await ctx?.server.stop();
    if (!params.keep) fs.rmSync(dataDir, { recursive: true, force: true });
    else note(`kept data dir ${dataDir}`);
  }
  loadNote('end');
  const file = writeSummary(path.resolve(import.meta.dirname, 'results'), {
    part,
    params,
    columnar_supported: ctx?.columnar,
    points_written: ctx?.pointsWritten,
    results: ctx?.results,
    peer: peer ?? null,
    error: failure ? String((failure as Error).message ?? failure) : undefined,
  });
  console.log(`# summary written to ${path.relative(process.cwd(), file)}`);
  return failure ? 1 : 0;
}

/** Other work on the machine skews every figure: say so. */
function loadNote(when: string): void {
  const [l1, l5] = os.loadavg();
  const busy = l1 > os.cpus().length * 0.75 ? ' — WARNING: machine busy with other work, figures are pessimistic' : '';
  note(`load average at ${when}: ${l1.toFixed(2)} (1 min), ${l5.toFixed(2)} (5 min) on ${os.cpus().length} cores${busy}`);
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
