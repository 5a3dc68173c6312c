import tCdf from '@stdlib/stats-base-dists-t-cdf';

/**
 * The statistics of hypothesis evaluation (DESIGN §8), pure. Checked against scipy in
 * test/stats.test.ts (fixture from scripts/gen-welch-fixtures.py).
 */

export type Alternative = 'greater' | 'less';

export interface WelchResult {
  /** (mean(x) − mean(y)) / sqrt(s²x/nx + s²y/ny); null when both samples have zero variance. */
  t: number | null;
  /** Welch–Satterthwaite degrees of freedom; null when both samples have zero variance. */
  df: number | null;
  /** One-sided p-value for the alternative (`greater`: mean(x) > mean(y)). */
  p_value: number;
}

export function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample variance (n − 1 in the denominator), two-pass like numpy's var(ddof=1). */
export function sampleVariance(xs: readonly number[]): number {
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return s / (xs.length - 1);
}

/**
 * One-sided Welch t-test of x against y — the convention of
 * `scipy.stats.ttest_ind(x, y, equal_var=False, alternative=…)`. Needs n ≥ 2 in both samples.
 *
 * The tail is read directly from the CDF on the side where it is small (cdf(−t) for `greater`),
 * so p-values like 1e-12 keep their relative precision instead of being 1 − (1 − p).
 *
 * Both samples without variance (every run gave the same number, e.g. deterministic training):
 * t and df are undefined (0/0). We then judge the means as given — equal means → p = 0.5
 * (no evidence either way); a difference in the alternative's direction → p = 0; against it → p = 1.
 * scipy returns NaN there; a run-level comparison of deterministic runs has no noise to test.
 */
export function welchTTest(x: readonly number[], y: readonly number[], alternative: Alternative): WelchResult {
  if (x.length < 2 || y.length < 2) throw new RangeError('the Welch t-test needs at least two values in each sample');
  const mx = mean(x);
  const my = mean(y);
  const vx = sampleVariance(x) / x.length;
  const vy = sampleVariance(y) / y.length;
  const se2 = vx + vy;
  if (se2 === 0) {
    const diff = mx - my;
    const p = diff === 0 ? 0.5 : (diff > 0) === (alternative === 'greater') ? 0 : 1;
    return { t: null, df: null, p_value: p };
  }
  const t = (mx - my) / Math.sqrt(se2);
  const df = (se2 * se2) / ((vx * vx) / (x.length - 1) + (vy * vy) / (y.length - 1));
  const p = alternative === 'greater' ? tCdf(-t, df) : tCdf(t, df);
  return { t, df, p_value: p };
}
