/**
 * Smoothing of a plotted line. Non-finite values (NaN/±Inf) stay gaps and do not poison the
 * average: they are skipped, and the smoothed value there is a gap too.
 */
export type Smoothing = { kind: 'none' } | { kind: 'ema' | 'twema'; weight: number } | { kind: 'avg'; window: number };

export function parseSmoothing(s: string | null): Smoothing {
  if (!s) return { kind: 'none' };
  const [kind, arg] = s.split(':');
  const n = Number(arg);
  if ((kind === 'ema' || kind === 'twema') && Number.isFinite(n) && n >= 0 && n < 1) return { kind, weight: n };
  if (kind === 'avg' && Number.isInteger(n) && n >= 1 && n <= 10_000) return { kind, window: n };
  return { kind: 'none' };
}

export function formatSmoothing(s: Smoothing): string | null {
  if (s.kind === 'none') return null;
  return s.kind === 'avg' ? `avg:${s.window}` : `${s.kind}:${s.weight}`;
}

/** TensorBoard's debiased EMA: early points are not pulled towards zero. */
export function ema(y: ArrayLike<number>, weight: number): number[] {
  const out = new Array<number>(y.length);
  let last = 0;
  let debias = 1;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (!Number.isFinite(v)) {
      out[i] = Number.NaN;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    debias *= weight;
    out[i] = last / (1 - debias);
  }
  return out;
}

/**
 * EMA whose decay follows the x distance between points, so unevenly logged steps (an eval every
 * 1,000 steps then every 10) are smoothed over the same x span. `weight` is the decay per average
 * x gap of the series.
 */
export function timeWeightedEma(x: ArrayLike<number>, y: ArrayLike<number>, weight: number): number[] {
  const out = new Array<number>(y.length);
  const span = x.length > 1 ? (x[x.length - 1] - x[0]) / (x.length - 1) : 1;
  const unit = span > 0 ? span : 1;
  let acc = 0;
  let norm = 0;
  let prevX: number | null = null;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (!Number.isFinite(v)) {
      out[i] = Number.NaN;
      continue;
    }
    const decay = prevX === null ? 0 : Math.pow(weight, Math.max(0, x[i] - prevX) / unit);
    acc = acc * decay + (1 - weight) * v;
    norm = norm * decay + (1 - weight);
    prevX = x[i];
    out[i] = norm > 0 ? acc / norm : v;
  }
  return out;
}

/** Trailing mean of the last `window` finite values. */
export function runningAverage(y: ArrayLike<number>, window: number): number[] {
  const out = new Array<number>(y.length);
  const seen: number[] = [];
  let sum = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (!Number.isFinite(v)) {
      out[i] = Number.NaN;
      continue;
    }
    seen.push(v);
    sum += v;
    if (seen.length > window) sum -= seen[seen.length - 1 - window];
    out[i] = sum / Math.min(seen.length, window);
  }
  return out;
}

export function smooth(s: Smoothing, x: ArrayLike<number>, y: ArrayLike<number>): number[] | null {
  switch (s.kind) {
    case 'none':
      return null;
    case 'ema':
      return ema(y, s.weight);
    case 'twema':
      return timeWeightedEma(x, y, s.weight);
    case 'avg':
      return runningAverage(y, s.window);
  }
}
