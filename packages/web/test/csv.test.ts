import { describe, expect, it } from 'vitest';
import { tracksCsv } from '../src/charts/csv.ts';
import type { Track } from '../src/charts/types.ts';

/**
 * A chart's CSV quotes like the runs table's: run and metric names are user text, and a cell that
 * starts with = + - @ would run as a formula in a spreadsheet (the chart export once lacked this).
 */
describe('chart CSV', () => {
  const track: Track = { mode: 'raw', steps: [0, 1], ts: [0, NaN], y: [-1.5, NaN], lo: [-1.5, null], hi: [-1.5, null], total: 2, firstStep: 0, lastStep: 1 };

  it('neutralises formulas in names, quotes separators, keeps numbers and NaN as they are', () => {
    const csv = tracksCsv([{ run: '=HYPERLINK("http://x","y")', metric: 'loss,val', track }], null);
    expect(csv).toBe(
      [
        'run,metric,step,timestamp,value,min,max,mode',
        `"'=HYPERLINK(""http://x"",""y"")","loss,val",0,1970-01-01T00:00:00.000Z,-1.5,-1.5,-1.5,raw`,
        `"'=HYPERLINK(""http://x"",""y"")","loss,val",1,,NaN,,,raw`,
        '',
      ].join('\n'),
    );
  });

  it('keeps only the points in the zoomed range', () => {
    expect(tracksCsv([{ run: '@r', metric: '+m', track }], { min: 1, max: 1 }).split('\n')).toEqual([
      'run,metric,step,timestamp,value,min,max,mode',
      "'@r,'+m,1,,NaN,,,raw",
      '',
    ]);
  });
});
