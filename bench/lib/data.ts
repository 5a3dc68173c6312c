/**
 * Synthetic training curves: deterministic, noisy, decaying (loss-like) or saturating
 * (accuracy-like) Float64 series with heavy-tailed noise and the odd spike — the kind of data
 * Gorilla/ZSTD cannot squeeze to nothing. Same seed ⇒ same points (the Python peer uses the
 * same formulas in bench/peers/curves.py).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KINDS = ['loss', 'acc', 'grad_norm', 'perplexity'] as const;
const SPLITS = ['train', 'val'];

export function metricName(i: number): string {
  const kind = KINDS[i % KINDS.length];
  const split = SPLITS[Math.floor(i / KINDS.length) % SPLITS.length];
  const group = Math.floor(i / (KINDS.length * SPLITS.length));
  return group === 0 ? `${split}/${kind}` : `${split}/layer_${String(group).padStart(2, '0')}/${kind}`;
}

export function metricNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => metricName(i));
}

/** One curve: value(step) for steps [from, from+count). */
export class Curve {
  private rnd: () => number;
  private kind: (typeof KINDS)[number];
  private a: number;
  private tau: number;
  private floor: number;
  private noise: number;
  constructor(seed: number, metricIndex: number, totalSteps: number) {
    this.rnd = mulberry32(seed * 1_000_003 + metricIndex * 7919 + 1);
    this.kind = KINDS[metricIndex % KINDS.length];
    this.a = 1 + this.rnd() * 3;
    this.tau = Math.max(10, totalSteps * (0.05 + this.rnd() * 0.3));
    this.floor = 0.05 + this.rnd() * 0.3;
    this.noise = 0.01 + this.rnd() * 0.05;
  }
  private gauss(): number {
    const u = this.rnd() || 1e-12;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.rnd());
  }
  value(step: number): number {
    const decay = Math.exp(-step / this.tau);
    const eps = this.gauss() * this.noise;
    const spike = this.rnd() < 0.001 ? this.rnd() * 5 : 0;
    switch (this.kind) {
      case 'loss':
        return (this.floor + this.a * decay) * (1 + eps) + spike;
      case 'acc':
        return Math.min(1, Math.max(0, (1 - this.floor) * (1 - decay) + eps * 0.2));
      case 'grad_norm':
        return this.a * (0.2 + decay) * Math.exp(eps * 4) + spike;
      default:
        return Math.exp(this.floor + this.a * decay) * (1 + eps);
    }
  }
}

export const T0 = Date.UTC(2025, 0, 6, 0, 0, 0); // fixed: one month partition for ~27 h of steps
export const STEP_MS = 100;

export interface RunSpec {
  experimentId: string;
  seed: number;
  metrics: string[];
  steps: number;
  firstStep?: number;
}

/**
 * Splits a run into request bodies of ≈batchPoints points, step-major (every metric of a step,
 * then the next step — how an SDK flushes), each as a ready-to-send Buffer.
 */
export function* runBatches(run: RunSpec, batchPoints: number, format: 'row' | 'columnar'): Generator<{ body: Buffer; points: number }> {
  const curves = run.metrics.map((_, i) => new Curve(run.seed, i, run.steps));
  const nm = run.metrics.length;
  const stepsPerBatch = Math.max(1, Math.floor(batchPoints / nm));
  const first = run.firstStep ?? 0;
  const names = run.metrics.map((m) => JSON.stringify(m));
  let batchNo = 0;
  for (let s0 = first; s0 < first + run.steps; s0 += stepsPerBatch) {
    const s1 = Math.min(first + run.steps, s0 + stepsPerBatch);
    const batchId = JSON.stringify(`${run.experimentId}:${batchNo++}`);
    let json: string;
    if (format === 'row') {
      const parts: string[] = [];
      for (let s = s0; s < s1; s++) {
        const ts = T0 + s * STEP_MS;
        for (let m = 0; m < nm; m++) {
          parts.push(`{"metric_name":${names[m]},"metric_value":${num(curves[m].value(s))},"step":${s},"timestamp":${ts}}`);
        }
      }
      json = `{"batch_id":${batchId},"metrics":[${parts.join(',')}]}`;
    } else {
      const steps: number[] = [];
      const tss: number[] = [];
      for (let s = s0; s < s1; s++) {
        steps.push(s);
        tss.push(T0 + s * STEP_MS);
      }
      const stepsJson = steps.join(',');
      const tsJson = tss.join(',');
      const series: string[] = [];
      for (let m = 0; m < nm; m++) {
        const vals: string[] = [];
        for (let s = s0; s < s1; s++) vals.push(num(curves[m].value(s)));
        series.push(`{"metric_name":${names[m]},"steps":[${stepsJson}],"values":[${vals.join(',')}],"timestamps":[${tsJson}]}`);
      }
      json = `{"batch_id":${batchId},"series":[${series.join(',')}]}`;
    }
    yield { body: Buffer.from(json), points: (s1 - s0) * nm };
  }
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"';
}
