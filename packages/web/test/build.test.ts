/** buildPlot (charts/build.ts): the uPlot series a chart's lines and min/max bands become. */
import { describe, expect, it } from 'vitest';
import { buildPlot, PALETTE, type LineInput } from '../src/charts/build.ts';
import type { Track } from '../src/charts/types.ts';

const track = (n: number): Track => {
  const steps = Array.from({ length: n }, (_, i) => i * 10 + 9);
  return { mode: 'buckets', steps, ts: steps, y: steps.map((s) => 1 / (s + 1)), lo: steps.map((s) => 0.5 / (s + 1)), hi: steps.map((s) => 2 / (s + 1)), total: n * 10, firstStep: 0, lastStep: n * 10 - 1 };
};
const lines = (k: number): LineInput[] => Array.from({ length: k }, (_, i) => ({ label: `run-${i}`, color: PALETTE[i], track: track(50) }));
/** Widths of the runs' own lines (not the band edges, which are labelled "… min"/"… max"). */
const lineWidths = (k: number) =>
  buildPlot({ lines: lines(k), xAxis: 'step', logY: false, smoothing: { kind: 'none' } })
    .series.filter((s) => !/ (min|max)$/.test(String(s.label)))
    .map((s) => s.width);

describe('buildPlot', () => {
  it('draws a few runs 1.5 px wide and many 1 px (hairlines: a fraction of the raster time)', () => {
    expect(lineWidths(1)).toEqual([1.5]);
    expect(lineWidths(4)).toEqual([1.5, 1.5, 1.5, 1.5]);
    expect(lineWidths(10)).toEqual(Array(10).fill(1));
  });

  it('gives every bucketed run a min/max band under its line, all on one x', () => {
    const b = buildPlot({ lines: lines(3), xAxis: 'step', logY: false, smoothing: { kind: 'none' } });
    expect(b.series.map((s) => s.label)).toEqual(['run-0 min', 'run-0 max', 'run-0', 'run-1 min', 'run-1 max', 'run-1', 'run-2 min', 'run-2 max', 'run-2']);
    expect(b.bands.map((x) => x.series)).toEqual([
      [2, 1],
      [5, 4],
      [8, 7],
    ]);
    expect(b.data).toHaveLength(10);
    expect(b.data[0]).toEqual(track(50).steps);
  });
});
