/** normalize (charts/store.ts): a series answer → the track a chart draws, for both wire forms. */
import { describe, expect, it } from 'vitest';
import { buildPlot } from '../src/charts/build.ts';
import { normalize } from '../src/charts/store.ts';
import type { SeriesAnswer } from '../src/charts/types.ts';

const head = { experiment_id: 'e', metric_name: 'loss', total_points: 30, first_step: 0, last_step: 29, mode: 'buckets' as const };
const buckets = (last: (number | string)[], min: (number | string | null)[], max: (number | string | null)[]): SeriesAnswer => ({
  ...head,
  data: { step_start: [], step_end: [], count: [], last, min, max, last_step: [9, 19, 29], last_timestamp: [1, 2, 3] },
});

describe('normalize', () => {
  it("keeps the binary answer's arrays (numbers and null) as they are, and the plot draws them uncopied", () => {
    const a = buckets([3, 2, 1], [2.5, null, 0.5], [3.5, null, 1.5]);
    const t = normalize(a);
    const d = a.data as { last: number[]; min: (number | null)[]; max: (number | null)[] };
    expect(t.y).toBe(d.last);
    expect(t.lo).toBe(d.min);
    expect(t.hi).toBe(d.max);
    const b = buildPlot({ lines: [{ label: 'r', color: '#2f6fde', track: t }], xAxis: 'step', logY: false, smoothing: { kind: 'none' } });
    expect(b.data.slice(1)).toEqual([d.min, d.max, d.last]);
    expect(b.data[1]).toBe(d.min);
    expect(b.data[3]).toBe(d.last);
  });

  it("converts the JSON answer's NaN/Infinity strings; the plot turns them into gaps", () => {
    const t = normalize(buckets([3, 'NaN', 'Infinity'], [2.5, null, '-Infinity'], ['3.5', null, 'Infinity']));
    expect(t.y).toEqual([3, Number.NaN, Number.POSITIVE_INFINITY]);
    expect(t.lo).toEqual([2.5, null, Number.NEGATIVE_INFINITY]);
    expect(t.hi).toEqual([3.5, null, Number.POSITIVE_INFINITY]);
    const b = buildPlot({ lines: [{ label: 'r', color: '#2f6fde', track: t }], xAxis: 'step', logY: false, smoothing: { kind: 'none' } });
    expect(b.data.slice(1)).toEqual([
      [2.5, null, null],
      [3.5, null, null],
      [3, null, null],
    ]);
  });
});
