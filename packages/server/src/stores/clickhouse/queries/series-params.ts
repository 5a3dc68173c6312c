/**
 * How the series reads send their (experiment, metric) pairs: each distinct run and metric name once
 * ({experiment_ids}, {metric_names}), and the pairs as 1-based indexes into them ({pair_runs},
 * {pair_metrics}) — left empty when the pairs are every run × every name (a compare page's charts),
 * which PAIR_FILTER reads as "all of them". Over HTTP every parameter travels in the URL: 500 pairs
 * as two parallel arrays repeated each run id once per metric (~25 KiB, refused by proxies with an
 * 8 KiB limit); 2 runs × 250 metrics are now 2 ids and 250 names.
 */
export interface SeriesPair {
  experimentId: string;
  metricName: string;
}

/** A series' key in maps of answers (experimentId NUL metricName: neither a UUID nor a name holds NUL). */
export const seriesKey = (p: SeriesPair): string => `${p.experimentId}\u0000${p.metricName}`;

export function pairParams<P extends SeriesPair>(pairs: P[], opts: { explicit?: boolean } = {}) {
  const runs = new Map<string, number>();
  const metrics = new Map<string, number>();
  const at = <K>(m: Map<K, number>, k: K) => m.get(k) ?? m.set(k, m.size + 1).get(k)!;
  const pairRuns = pairs.map((p) => at(runs, p.experimentId));
  const pairMetrics = pairs.map((p) => at(metrics, p.metricName));
  const byIndex = new Map(pairs.map((p, i) => [pairRuns[i] * 65536 + pairMetrics[i], i]));
  const all = !opts.explicit && byIndex.size === runs.size * metrics.size;
  return {
    params: { experiment_ids: [...runs.keys()], metric_names: [...metrics.keys()], pair_runs: all ? [] : pairRuns, pair_metrics: all ? [] : pairMetrics },
    /** The pair a result row names by its 1-based (run, metric) indexes. */
    find: (run: number, metric: number): P | undefined => {
      const i = byIndex.get(run * 65536 + metric);
      return i === undefined ? undefined : pairs[i];
    },
  };
}

/** The filter on the sorting key (experiment_id, metric_name IN …), narrowed to the asked pairs unless they are all of them. */
export const PAIR_FILTER = `experiment_id IN {experiment_ids:Array(UUID)} AND metric_name IN {metric_names:Array(String)}
    AND (empty({pair_runs:Array(UInt16)}) OR (experiment_id, metric_name) IN (
      SELECT {experiment_ids:Array(UUID)}[p.1], {metric_names:Array(String)}[p.2]
      FROM (SELECT arrayJoin(arrayZip({pair_runs:Array(UInt16)}, {pair_metrics:Array(UInt16)})) AS p)))`;
