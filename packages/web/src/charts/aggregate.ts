/**
 * Mean ± standard deviation across the runs of one group (seeds of one configuration), on aligned
 * steps: every run is linearly interpolated onto the union of the group's steps, within the step
 * range all of them cover (extrapolating would invent values).
 */
export interface Curve {
  x: number[];
  y: number[];
}

export interface GroupCurve {
  x: number[];
  mean: number[];
  lo: number[];
  hi: number[];
  n: number;
}

function finitePoints(c: Curve): Curve {
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < c.x.length; i++) {
    if (Number.isFinite(c.y[i])) {
      x.push(c.x[i]);
      y.push(c.y[i]);
    }
  }
  return { x, y };
}

function interpolate(c: Curve, at: number, from: number): [number, number] {
  let i = from;
  while (i < c.x.length - 1 && c.x[i + 1] < at) i++;
  if (c.x[i] === at || i === c.x.length - 1) return [c.y[i], i];
  const x0 = c.x[i];
  const x1 = c.x[i + 1];
  const t = x1 === x0 ? 0 : (at - x0) / (x1 - x0);
  return [c.y[i] + t * (c.y[i + 1] - c.y[i]), i];
}

export function groupMeanBand(curves: Curve[]): GroupCurve {
  const cs = curves.map(finitePoints).filter((c) => c.x.length > 0);
  if (cs.length === 0) return { x: [], mean: [], lo: [], hi: [], n: 0 };
  const start = Math.max(...cs.map((c) => c.x[0]));
  const end = Math.min(...cs.map((c) => c.x[c.x.length - 1]));
  const xs = new Set<number>();
  for (const c of cs) for (const x of c.x) if (x >= start && x <= end) xs.add(x);
  const x = [...xs].sort((a, b) => a - b);
  const cursor = cs.map(() => 0);
  const mean: number[] = [];
  const lo: number[] = [];
  const hi: number[] = [];
  for (const at of x) {
    let sum = 0;
    const vals: number[] = [];
    cs.forEach((c, k) => {
      const [v, i] = interpolate(c, at, cursor[k]);
      cursor[k] = i;
      vals.push(v);
      sum += v;
    });
    const m = sum / vals.length;
    const sd = vals.length > 1 ? Math.sqrt(vals.reduce((a, v) => a + (v - m) ** 2, 0) / (vals.length - 1)) : 0;
    mean.push(m);
    lo.push(m - sd);
    hi.push(m + sd);
  }
  return { x, mean, lo, hi, n: cs.length };
}
