/**
 * Every limit of the wire contract, in one place. The server validates with these, the TypeScript
 * SDK imports them, and the Python SDK's `research_sdk/_limits.py` is generated from this file
 * (`npm run gen:python-limits`; a test fails when the two drift).
 *
 * Text lengths are counted in Unicode code points — what a researcher counts, and what
 * PostgreSQL's varchar(n) counts — never in UTF-16 units or UTF-8 bytes.
 */
export const LIMITS = {
  /** metric_name: 1–250 code points. */
  metricNameMax: 250,
  /** Project, experiment, tag, host, API-key and team names: 1–255 code points. */
  nameMax: 255,
  /** batch_id: 1–128 code points. */
  batchIdMax: 128,
  /** Points in one batch request (row form). */
  batchPointsMax: 1_000_000,
  /** Entries in one batch request's columnar `series`. */
  batchSeriesMax: 100_000,
  /** Steps are integers 0 … 2^53 − 1 (exact in a double, and in JSON). */
  stepMax: Number.MAX_SAFE_INTEGER,
  /** The latest storable point time: ClickHouse `DateTime` (the hourly aggregates) ends at 2106-02-07T06:28:15Z. */
  timestampMaxMs: 4_294_967_295_999,
  /** Timeseries reads: `limit` ≤ this many points per page. */
  timeseriesLimitMax: 100_000,
  timeseriesLimitDefault: 10_000,
  /** Tags on one experiment. */
  tagsMax: 1000,
  /** Project and experiment descriptions (notes): 0–10,000 code points. */
  descriptionMax: 10_000,
  /** Nesting levels of a stored JSON object (features, code snapshot): the object itself is level 1. */
  jsonDepthMax: 32,
  /**
   * A features object in one request (create, or a patch deep-merged into the stored ones), and a
   * run's stored features after any merge (MLflow params and tags included): at most this many code
   * points of compact JSON text (`JSON.stringify`). A million keys in one request held the server
   * 15 s; the largest real configs are a few hundred kB.
   */
  featuresJsonMax: 1_000_000,
} as const;

export type Limits = typeof LIMITS;

/** Length in Unicode code points (a lone surrogate counts as one). */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** True when the string holds an unpaired UTF-16 surrogate (not valid Unicode; cannot be stored as UTF-8). */
export function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) i++;
      else return true;
    } else if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

/** Why PostgreSQL cannot store this text (NUL, or an unpaired surrogate: not Unicode), or undefined. */
function storableTextProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain NUL (\\u0000)';
  if (hasLoneSurrogate(s)) return 'must be valid Unicode (no unpaired surrogates)';
  return undefined;
}

/**
 * Where in a JSON value there is text PostgreSQL's jsonb cannot store — NUL or an unpaired
 * surrogate, in a key or a string — or nesting deeper than LIMITS.jsonDepthMax, as the path to it
 * and the reason; undefined when there is none. Iterative, so a deeply nested body cannot overflow
 * the stack (PostgreSQL's jsonb input, recursive, would fail past its stack depth limit).
 */
export function jsonTextProblem(value: unknown): { path: (string | number)[]; message: string } | undefined {
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: value, path: [] }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const why = storableTextProblem(v);
      if (why) return { path, message: `text ${why}` };
    } else if (typeof v === 'object' && v !== null && path.length >= LIMITS.jsonDepthMax) {
      return { path, message: `nested deeper than ${LIMITS.jsonDepthMax} levels` };
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push({ v: x, path: [...path, i] }));
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        const why = storableTextProblem(k);
        if (why) return { path, message: `key ${JSON.stringify(k)} ${why}` };
        stack.push({ v: x, path: [...path, k] });
      }
    }
  }
  return undefined;
}

/**
 * Why `s` is not acceptable as a name of `min`…`max` code points, or undefined when it is. Names
 * are any Unicode text stored verbatim, except NUL (PostgreSQL cannot store it) and unpaired
 * surrogates (not Unicode at all).
 */
export function nameProblem(s: unknown, field: string, max: number, min = 1): string | undefined {
  if (typeof s !== 'string') return `${field} must be a string`;
  const text = storableTextProblem(s);
  if (text) return `${field} ${text}`;
  const n = codePointLength(s);
  if (n < min || n > max) return `${field} must be ${min}–${max} characters (Unicode code points), got ${n}`;
  return undefined;
}

/** ISO-8601 date and time with a zone (Z or ±hh:mm), as the server parses it. */
const ISO_TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

/**
 * A wire timestamp — integer epoch milliseconds or an ISO-8601 string with a zone — as epoch
 * milliseconds, or undefined when it is malformed or outside 1970-01-01 … LIMITS.timestampMaxMs.
 */
export function wireTimestampMs(t: unknown): number | undefined {
  let ms: number;
  if (typeof t === 'number') ms = Number.isInteger(t) ? t : NaN;
  else if (typeof t === 'string' && ISO_TIMESTAMP_RE.test(t)) ms = Date.parse(t);
  else return undefined;
  return ms >= 0 && ms <= LIMITS.timestampMaxMs ? ms : undefined;
}
