/** Shapes of `POST /api/v1/metrics/series` and the normalized tracks the charts draw. */
import type { SeriesBinaryAnswer, SeriesBinaryHead } from '@assay/contracts/ui-data-binary';

export type WireNumber = number | string | null;

export interface RawData {
  steps: number[];
  values: WireNumber[];
  timestamps: number[];
}

export interface BucketData {
  step_start: number[];
  step_end: number[];
  min: WireNumber[];
  max: WireNumber[];
  last: WireNumber[];
  last_step: number[];
  last_timestamp: number[];
  count: number[];
}

/**
 * One series of the answer: the contracts' head (ids, totals, mode) with the arrays of its mode;
 * decoded from the binary form they hold numbers and null, from JSON also "NaN"/"Infinity".
 */
export type SeriesAnswer = SeriesBinaryHead & { data: RawData | BucketData };
export type SeriesAnswerBody = Omit<SeriesBinaryAnswer<WireNumber>, 'series'> & { series: SeriesAnswer[] };

/**
 * One run's metric as the chart sees it, whatever the server's mode: a point per step (raw) or per
 * bucket (x = the bucket's last step, y = its last value, lo/hi = its min/max). Values keep
 * NaN/±Infinity so CSV export is exact; the plot turns them into gaps.
 */
export interface Track {
  mode: 'raw' | 'buckets';
  steps: number[];
  ts: number[];
  y: number[];
  lo: (number | null)[];
  hi: (number | null)[];
  /** Points the server holds for the whole range asked (not what is drawn). */
  total: number;
  firstStep: number | null;
  lastStep: number | null;
}

export type SeriesKey = string;
export const seriesKey = (experimentId: string, metric: string): SeriesKey => `${experimentId}\u0000${metric}`;
export const splitKey = (k: SeriesKey): [string, string] => {
  const i = k.indexOf('\u0000');
  return [k.slice(0, i), k.slice(i + 1)];
};

/** A step range the user zoomed to; null = the whole run. */
export interface StepRange {
  min: number;
  max: number;
}
