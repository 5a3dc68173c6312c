import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runImport, type ImportKind } from '../../packages/server/src/importers/index.ts';
import { writeMlruns, writeTfevents, type FixtureShape } from '../lib/import-fixtures.ts';
import { figure, note } from '../lib/report.ts';
import { fmt } from '../lib/stats.ts';
import type { Ctx } from '../lib/context.ts';

const n = (x: number) => x.toLocaleString('en-US');

/**
 * `assay import` speed on --import-points (10M) points: an MLflow file store and a TensorBoard
 * logdir, each --import-runs runs × --import-metrics metrics, written straight in the formats
 * (bench/lib/import-fixtures.ts; the test suite checks them with mlflow and tensorboardX). Two
 * figures per source, same process as the CLI (runImport): `_parse_` = read, check and decode the
 * source with nothing sent (--dry-run), and end to end = into this run's server over HTTP
 * (100k-point binary columnar batches, DEFAULT_BATCH_POINTS, 8 in flight: DEFAULT_IN_FLIGHT), clock from start to the last acknowledged batch and
 * the experiments' status restored.
 */
export async function importPart(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  const per = p.importRuns * p.importMetrics;
  const shape: FixtureShape = { runs: p.importRuns, metrics: p.importMetrics, steps: Math.max(1, Math.round(p.importPoints / per)) };
  const total = shape.runs * shape.metrics * shape.steps;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-bench-import-'));
  try {
    const sources: [ImportKind, string, string, (d: string, s: FixtureShape) => number][] = [
      ['mlflow', 'mlflow_files', path.join(dir, 'mlruns'), writeMlruns],
      ['tensorboard', 'tfevents', path.join(dir, 'tb'), writeTfevents],
    ];
    for (const [kind, label, src, write] of sources) {
      let t = performance.now();
      write(src, shape);
      const bytes = du(src);
      note(`import ${label}: wrote ${n(total)} points (${shape.runs} runs × ${shape.metrics} metrics × ${n(shape.steps)} steps, ${fmt(bytes / 2 ** 20)} MiB) in ${fmt((performance.now() - t) / 1000)} s`);

      const dry = await runImport(kind, src, { url: ctx.server.base, apiKey: ctx.team.api_key, project: `import-${label}`, dryRun: true });
      if (dry.counts.points !== total) throw new Error(`${label}: parsed ${dry.counts.points} points, wrote ${total}`);
      figure({ name: `import_${label}_parse_points_per_s`, value: total / dry.seconds, unit: 'points/s', higherIsBetter: true, detail: { seconds: dry.seconds, points: total, bytes } });

      t = performance.now();
      const r = await runImport(kind, src, { url: ctx.server.base, apiKey: ctx.team.api_key, project: `import-${label}` });
      const s = (performance.now() - t) / 1000;
      if (r.counts.points !== total || r.warnings.length) throw new Error(`${label}: imported ${r.counts.points} of ${total} points, warnings ${r.warnings.slice(0, 3).join('; ')}`);
      ctx.pointsWritten += total;
      figure({ name: `import_${label}_points_per_s`, value: total / s, unit: 'points/s', higherIsBetter: true, detail: { seconds: s, points: total, counts: r.counts } });

      t = performance.now();
      const again = await runImport(kind, src, { url: ctx.server.base, apiKey: ctx.team.api_key, project: `import-${label}` });
      note(`import ${label}: re-run wrote ${again.counts.points} points (${n(again.counts.pointsExisting)} already there) in ${fmt((performance.now() - t) / 1000)} s`);
      fs.rmSync(src, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function du(p: string): number {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((s, e) => s + du(path.join(p, e)), 0);
}
