/**
 * Benchmark parameters. Each can be set as `--name=value` on the command line or as the
 * environment variable BENCH_<NAME> (upper case, dashes → underscores). CLI wins.
 */
export interface Params {
  clients: number; // concurrent HTTP clients for ingest
  ingestRuns: number; // experiments written by the ingest benchmark
  ingestMetrics: number; // metrics per ingest experiment
  ingestSteps: number; // steps per metric in the ingest benchmark
  batchPoints: number; // points per HTTP batch request
  seriesPoints: number; // points of the big single series (timeseries figure)
  maxPoints: number; // max_points for the downsampled timeseries query
  summaryMetrics: number; // metrics of the summary experiment
  summaryPoints: number; // points per metric of the summary experiment
  compareExperiments: number;
  compareMetrics: number;
  compareSteps: number; // points per metric of each compare experiment
  probeMetrics: number; // history-vs-table-size probe experiment: metrics …
  probeSteps: number; // … × steps (each read is one full metric, no downsampling)
  bigTablePoints: number; // filler points in the table before the "big table" probe read
  reps: number; // timed repetitions per query figure (after warmup)
  gzip: boolean; // also ingest row bodies gzip-compressed (Content-Encoding: gzip, compressed before the clock)
  peer: boolean; // run the MLflow peer when installed
  peerIngestSeconds: number; // MLflow ingest is time-boxed (its rate is the figure)
  peerSeriesPoints: number; // points of the MLflow copy of the big series (0 = same as seriesPoints)
  hypRuns: number; // hypotheses: runs in the project …
  hypMetrics: number; // … target metrics per run …
  hypSteps: number; // … points per metric of each run
  hypSeeds: number; // replicates per arm (runs hypSeeds apart share features but the seed)
  hypReps: number; // timed evaluations (after one warmup)
  importPoints: number; // import: points in each generated source (MLflow file store, tfevents logdir) …
  importRuns: number; // … in this many runs …
  importMetrics: number; // … of this many metrics each
  uiChartRuns: number; // ui-data: the compare view's runs …
  uiChartMetrics: number; // … metrics per run …
  uiChartSteps: number; // … steps per metric (all series in one POST /metrics/series)
  uiTableRuns: number; // ui-data: runs in the runs-table project …
  uiTableMetrics: number; // … metrics per run …
  uiTableSteps: number; // … steps per metric
  keep: boolean; // keep the temp data dir
}

const DEFAULTS: Params = {
  clients: 8,
  ingestRuns: 8,
  ingestMetrics: 100,
  ingestSteps: 5_000,
  batchPoints: 10_000,
  seriesPoints: 1_000_000,
  maxPoints: 1000,
  summaryMetrics: 100,
  summaryPoints: 20_000,
  compareExperiments: 100,
  compareMetrics: 10,
  compareSteps: 100,
  probeMetrics: 10,
  probeSteps: 10_000,
  bigTablePoints: 10_000_000,
  reps: 30,
  gzip: false,
  peer: true,
  peerIngestSeconds: 20,
  peerSeriesPoints: 0,
  hypRuns: 100,
  hypMetrics: 10,
  hypSteps: 1_000,
  hypSeeds: 5,
  hypReps: 10,
  importPoints: 10_000_000,
  importRuns: 10,
  importMetrics: 10,
  uiChartRuns: 10,
  uiChartMetrics: 10,
  uiChartSteps: 10_000,
  uiTableRuns: 1000,
  uiTableMetrics: 20,
  uiTableSteps: 100,
  keep: false,
};

export const PARAM_HELP = Object.keys(DEFAULTS)
  .map((k) => `  --${kebab(k)}=${(DEFAULTS as unknown as Record<string, unknown>)[k]}`)
  .join('\n');

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

function coerce(def: unknown, raw: string, name: string): unknown {
  if (typeof def === 'boolean') return !['0', 'false', 'no', 'off'].includes(raw.toLowerCase());
  const n = Number(raw.replace(/_/g, '').replace(/k$/i, 'e3').replace(/m$/i, 'e6'));
  if (!Number.isFinite(n) || n < 0) throw new Error(`bad value for ${name}: ${raw}`);
  return Math.round(n);
}

export function parseArgs(argv: string[], env = process.env): { part: string; params: Params } {
  const params = { ...DEFAULTS } as unknown as Record<string, unknown>;
  for (const key of Object.keys(DEFAULTS)) {
    const envName = 'BENCH_' + kebab(key).replace(/-/g, '_').toUpperCase();
    const v = env[envName];
    if (v !== undefined && v !== '') params[key] = coerce(params[key], v, envName);
  }
  let part = 'all';
  for (const a of argv) {
    if (!a.startsWith('--')) {
      part = a;
      continue;
    }
    const [rawName, ...rest] = a.slice(2).split('=');
    const noPrefixed = rawName.startsWith('no-');
    const camel = (noPrefixed ? rawName.slice(3) : rawName).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(camel in DEFAULTS)) throw new Error(`unknown option --${rawName}\n${PARAM_HELP}`);
    if (noPrefixed) params[camel] = false;
    else params[camel] = rest.length ? coerce(params[camel], rest.join('='), rawName) : true;
  }
  return { part, params: params as unknown as Params };
}
