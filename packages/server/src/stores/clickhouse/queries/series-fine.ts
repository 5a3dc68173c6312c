import { FINE_ROLLUP_STEPS } from '../partials.ts';
import type { ClickHouseStore, Tenant } from '../query.ts';
import { RowBinaryReader } from '../row-binary.ts';
import { PAIR_FILTER, pairParams, seriesKey, type SeriesPair } from './series-params.ts';

/**
 * Whole-history chart buckets from the fine rollup (metrics_rollup_fine, FINE_ROLLUP_STEPS steps per
 * row): output bucket b of a series merges its fine buckets first + b·per … first + (b+1)·per − 1, so
 * 10 runs × 10 metrics × 10k steps read ~125k pre-aggregated rows instead of 1M points.
 *
 * ClickHouse only collects each series' fine rows into plain parallel arrays (RowBinary: the numbers'
 * bytes); the merge into output buckets is a loop here. Measured on the compare case (100 series,
 * 125k rows, load 4-5): the same merge as two GROUP BY levels with tuple aggregates in SQL cost
 * 370-490 ms before any output, this query 50-110 ms including its RowBinary output. The rows are
 * not merged by the query (no FINAL, no GROUP BY per bucket), so rows of one (host, bucket) from
 * parts not merged yet are merged here too. Hosts travel as 32-bit hashes, not strings (~10% of the
 * query's CPU): they only keep hosts apart in the re-logged-step check, and two hosts sharing a hash
 * can only fail that check (their points, merged, outnumber their distinct steps unless each host
 * passes alone), which scans the series instead — never trust one that should not be.
 */
export const SQL_SERIES_FINE = `SELECT toUInt16(indexOf({experiment_ids:Array(UUID)}, experiment_id)) AS run,
  toUInt16(indexOf({metric_names:Array(String)}, metric_name)) AS metric,
  groupArray(xxHash32(host)), groupArray(toFloat64(bucket)), groupArray(min_value), groupArray(max_value),
  groupArray(toUInt8(last_point.1 - bucket * ${FINE_ROLLUP_STEPS})), groupArray(toFloat64(last_point.2)), groupArray(last_point.3),
  groupArray(toUInt32(point_count)), groupArray(step_mask)
FROM metrics_rollup_fine
WHERE team_id = {team_id:UUID} AND project_id = {project_id:UUID}
  AND ${PAIR_FILTER}
GROUP BY experiment_id, metric_name`;

export interface FineRequest extends SeriesPair {
  /** The series' first fine bucket (its first step / FINE_ROLLUP_STEPS). */
  first: number;
  /** Fine buckets per output bucket. */
  per: number;
}

/** A series' output buckets, in step order (empty ones left out); NaN min/max = every point NaN. */
export interface FineBuckets {
  /** Points in the fine rows (to compare with the summary's count). */
  points: number;
  /** Every (host, fine bucket) has as many points as distinct steps: no re-logged step among them. */
  exact: boolean;
  index: number[];
  min: number[];
  max: number[];
  last: number[];
  lastStep: number[];
  lastTs: number[];
  count: number[];
}

const popcount16 = (m: number) => {
  m -= (m >> 1) & 0x5555;
  m = (m & 0x3333) + ((m >> 2) & 0x3333);
  m = (m + (m >> 4)) & 0x0f0f;
  return (m + (m >> 8)) & 0x1f;
};

/** One series' fine rows → its output buckets. */
function merge(f: FineRequest, r: RowBinaryReader): FineBuckets {
  const hosts = r.array(Uint32Array);
  const bucket = r.array(Float64Array);
  const lo = r.array(Float64Array);
  const hi = r.array(Float64Array);
  const lastOff = r.array(Uint8Array);
  const lastTs = r.array(Float64Array);
  const lastV = r.array(Float64Array);
  const cnt = r.array(Uint32Array);
  const mask = r.array(Uint16Array);
  const n = bucket.length;
  let minB = Infinity;
  let maxB = -Infinity;
  for (let i = 0; i < n; i++) {
    if (bucket[i] < minB) minB = bucket[i];
    if (bucket[i] > maxB) maxB = bucket[i];
  }
  const B = n ? Math.floor((maxB - f.first) / f.per) + 1 : 0;
  const min = new Float64Array(B).fill(NaN);
  const max = new Float64Array(B).fill(NaN);
  const count = new Float64Array(B);
  const ls = new Float64Array(B).fill(-1);
  const lt = new Float64Array(B);
  const lv = new Float64Array(B);
  // per host and fine bucket: points and the OR of step masks (rows of parts not merged yet add up)
  const span = n ? maxB - minB + 1 : 0;
  const hostIndex = new Map<number, number>();
  const cntAt: Uint32Array[] = [];
  const maskAt: Uint16Array[] = [];
  let points = 0;
  const { first, per } = f;
  let lastHost = -1;
  let h = 0;
  for (let i = 0; i < n; i++) {
    const b = Math.floor((bucket[i] - first) / per);
    const v = lo[i];
    if (v < min[b] || (Number.isNaN(min[b]) && !Number.isNaN(v))) min[b] = v;
    const w = hi[i];
    if (w > max[b] || (Number.isNaN(max[b]) && !Number.isNaN(w))) max[b] = w;
    count[b] += cnt[i];
    points += cnt[i];
    const step = bucket[i] * FINE_ROLLUP_STEPS + lastOff[i];
    // the last point: highest step, then (several hosts there) the later timestamp — one of theirs
    if (step > ls[b] || (step === ls[b] && lastTs[i] > lt[b])) {
      ls[b] = step;
      lt[b] = lastTs[i];
      lv[b] = lastV[i];
    }
    if (hosts[i] !== lastHost) {
      lastHost = hosts[i];
      const known = hostIndex.get(lastHost);
      if (known === undefined) {
        hostIndex.set(lastHost, (h = cntAt.length));
        cntAt.push(new Uint32Array(span));
        maskAt.push(new Uint16Array(span));
      } else h = known;
    }
    const k = bucket[i] - minB;
    cntAt[h][k] += cnt[i];
    maskAt[h][k] |= mask[i];
  }
  let exact = true;
  for (let h = 0; h < cntAt.length && exact; h++) for (let k = 0; k < span; k++) if (cntAt[h][k] !== popcount16(maskAt[h][k])) exact = false;
  const out: FineBuckets = { points, exact, index: [], min: [], max: [], last: [], lastStep: [], lastTs: [], count: [] };
  for (let b = 0; b < B; b++) {
    if (count[b] === 0) continue;
    out.index.push(b);
    out.min.push(min[b]);
    out.max.push(max[b]);
    out.last.push(lv[b]);
    out.lastStep.push(ls[b]);
    out.lastTs.push(lt[b]);
    out.count.push(count[b]);
  }
  return out;
}

/** Output buckets per requested series (by seriesKey); a series without fine rows is absent. */
export async function seriesFine(ch: ClickHouseStore, tenant: Tenant, projectId: string, series: FineRequest[]): Promise<Map<string, FineBuckets>> {
  const out = new Map<string, FineBuckets>();
  if (series.length === 0) return out;
  const p = pairParams(series);
  const r = new RowBinaryReader(await ch.binary(tenant, 'ui.series_fine', SQL_SERIES_FINE, { project_id: projectId, ...p.params }));
  while (!r.done) {
    const f = p.find(r.u16(), r.u16());
    if (!f) throw new Error('series_fine: a series that was not asked for');
    out.set(seriesKey(f), merge(f, r));
  }
  return out;
}
