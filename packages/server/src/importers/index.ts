import type { Command } from 'commander';
import { importMlflowFiles } from './mlflow-files.ts';
import { importMlflowRest } from './mlflow-rest.ts';
import { silentProgress, terminalProgress, type Progress } from './progress.ts';
import { Sink, type Counts } from './sink.ts';
import { importTable } from './table.ts';
import { importTensorboard } from './tensorboard.ts';
import { importWandb } from './wandb.ts';

export type ImportKind = 'mlflow' | 'tensorboard' | 'wandb' | 'csv' | 'jsonl';

export interface ImportOptions {
  url: string;
  apiKey: string;
  project?: string;
  experiment?: string;
  artifacts?: boolean;
  batchPoints?: number;
  concurrency?: number;
  /** Source runs imported at once (default 4). */
  jobs?: number;
  progress?: Progress;
  dryRun?: boolean;
  /** Seconds a request may wait for the server's answer before the import stops (default 120). */
  timeoutSeconds?: number;
  /** Environment for the MLflow REST source's credentials (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ImportResult {
  counts: Counts;
  warnings: string[];
  seconds: number;
}

/** One import, end to end: the CLI's commands, the tests and the benchmark all come through here. */
export async function runImport(kind: ImportKind, source: string, o: ImportOptions): Promise<ImportResult> {
  const progress = o.progress ?? silentProgress;
  const sink = new Sink({ url: o.url, apiKey: o.apiKey, batchPoints: o.batchPoints, concurrency: o.concurrency, dryRun: o.dryRun, timeoutSeconds: o.timeoutSeconds, onPoints: (n) => progress.points(n) });
  const t0 = performance.now();
  try {
    if (kind === 'mlflow') {
      if (/^https?:\/\//i.test(source)) await importMlflowRest(source, sink, progress, o);
      else await importMlflowFiles(source.replace(/^file:(\/\/)?/, ''), sink, progress, o);
    } else if (kind === 'tensorboard') await importTensorboard(source, sink, progress, o);
    else if (kind === 'wandb') await importWandb(source, sink, progress, o);
    else {
      if (!o.project || !o.experiment) throw new Error(`assay import ${kind} needs --project and --experiment`);
      await importTable(source, kind, sink, progress, { project: o.project, experiment: o.experiment });
    }
  } finally {
    progress.stop();
  }
  return { counts: sink.counts, warnings: sink.warnings, seconds: (performance.now() - t0) / 1000 };
}

export function summaryLines(r: ImportResult): string[] {
  const c = r.counts;
  const lines = [
    `projects     ${c.projects} created`,
    `experiments  ${c.experiments} created, ${c.experimentsExisting} already there`,
    `params       ${c.params}`,
    `points       ${c.points} written, ${c.pointsExisting} already there (${Math.round((c.points + c.pointsExisting) / Math.max(r.seconds, 1e-9))} points/s)`,
    `artifacts    ${c.artifacts} uploaded, ${c.artifactsExisting} already there`,
    `deleted      ${c.deleted} experiments/runs imported as deleted (restorable soft delete, as in the source)`,
    `warnings     ${c.warnings}`,
  ];
  const shown = r.warnings.slice(0, 50).map((w) => `  warning: ${w}`);
  if (r.warnings.length > shown.length) shown.push(`  … ${r.warnings.length - shown.length} more`);
  return [...lines, ...shown, `done in ${r.seconds.toFixed(1)} s`];
}

const SOURCES: [ImportKind, string, string][] = [
  ['mlflow', '<source>', 'an MLflow file store (mlruns directory) or a running MLflow server (http(s):// tracking URI; MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD for its auth): experiments → projects, runs → experiments with params, tags, statuses, start/end times and full metric histories'],
  ['tensorboard', '<logdir>', 'every events.out.tfevents.* under logdir, one experiment per run directory (its path relative to logdir): scalars (simple_value and TF2 scalar tensors) and hparams; corrupted or truncated records are warnings with file and byte offset'],
  ['wandb', '<export-dir>', 'W&B history files: every directory holding wandb-history.jsonl (+ config.yaml → features, wandb-metadata.json) is one experiment'],
  ['csv', '<file>', 'a CSV table, wide (step, timestamp, one column per metric) or long (metric, step, value[, timestamp]), detected from the header'],
  ['jsonl', '<file>', 'a JSON-lines table, wide or long as for csv, detected from the first record'],
];

const PROJECT_HELP: Record<ImportKind, string> = {
  mlflow: 'put every run into this project (default: one project per MLflow experiment, by its name)',
  tensorboard: 'target project (default: the logdir\'s directory name)',
  wandb: 'target project (default: the export dir\'s directory name)',
  csv: 'target project (required)',
  jsonl: 'target project (required)',
};

/** `assay import <kind> …`: writes through a running server's HTTP API; re-running it changes nothing. */
export function registerImportCommands(program: Command): void {
  const imp = program
    .command('import')
    .description('bring runs from MLflow, TensorBoard, W&B or CSV/JSONL tables into a running Assay server through its HTTP API. ' +
      'Idempotent and resumable: batch ids derive from the source, so running the same import again (or after an interruption) adds nothing twice.');
  for (const [kind, arg, help] of SOURCES) {
    const cmd = imp
      .command(`${kind} ${arg}`)
      .description(help)
      .option('--url <url>', 'Assay server URL (ASSAY_API_URL, default http://127.0.0.1:8000)')
      .option('--api-key <key>', 'an API key of the target team (ASSAY_API_KEY)')
      .option('--project <name>', PROJECT_HELP[kind])
      .option('--batch-points <n>', 'points per batch request (default 100000; keep it the same when importing the same source again: batch ids derive from the chunks)', (v) => Number(v))
      .option('--jobs <n>', 'source runs imported at once (default 4)', (v) => Number(v))
      .option('--timeout <s>', 'seconds a request may wait for the server\'s answer before the import stops (default 120)', (v) => Number(v))
      .option('--dry-run', 'read and count the source, write nothing')
      .option('--no-progress', 'no progress bar (it is off anyway when stdout is not a terminal)');
    if (kind === 'csv' || kind === 'jsonl') cmd.option('--experiment <name>', 'target experiment (required)');
    if (kind === 'mlflow') cmd.option('--artifacts', 'also copy each run\'s artifacts');
    cmd.action(async (source: string, opts: { url?: string; apiKey?: string; project?: string; experiment?: string; artifacts?: boolean; batchPoints?: number; jobs?: number; timeout?: number; dryRun?: boolean; progress: boolean }) => {
      const apiKey = opts.apiKey ?? process.env.ASSAY_API_KEY;
      if (!apiKey) throw new Error('an API key is needed: --api-key or ASSAY_API_KEY');
      const r = await runImport(kind, source, {
        ...opts,
        timeoutSeconds: opts.timeout,
        url: opts.url ?? process.env.ASSAY_API_URL ?? 'http://127.0.0.1:8000',
        apiKey,
        progress: terminalProgress(opts.progress && Boolean(process.stdout.isTTY)),
      });
      for (const l of summaryLines(r)) console.log(l);
    });
  }
}
