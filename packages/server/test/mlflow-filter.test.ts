import { describe, expect, it } from 'vitest';
import { compareValues, likeMatches, parseFilter, parseOrderBy, test as matches } from '../src/services/mlflow/filter.ts';

/** MLflow's search syntax, parsed by hand (services/mlflow/filter.ts). */
describe('parseFilter', () => {
  it('parses entity.key comparisons joined by AND (any case)', () => {
    expect(parseFilter("metrics.loss < 0.5 and params.optimizer = 'adam' AND tags.team != \"x\"")).toEqual([
      { entity: 'metric', key: 'loss', op: '<', value: 0.5 },
      { entity: 'param', key: 'optimizer', op: '=', value: 'adam' },
      { entity: 'tag', key: 'team', op: '!=', value: 'x' },
    ]);
  });

  it('knows the entity aliases and bare attributes', () => {
    expect(parseFilter("attribute.status = 'FINISHED' AND run.run_name = 'a' AND metric.acc >= 1e-3 AND status = 'FAILED'")).toEqual([
      { entity: 'attribute', key: 'status', op: '=', value: 'FINISHED' },
      { entity: 'attribute', key: 'run_name', op: '=', value: 'a' },
      { entity: 'metric', key: 'acc', op: '>=', value: 0.001 },
      { entity: 'attribute', key: 'status', op: '=', value: 'FAILED' },
    ]);
  });

  it('takes quoted keys with spaces, dots and slashes', () => {
    expect(parseFilter('metrics."train loss" <= -1 AND tags.`mlflow.runName` = \'r\' AND params.a/b.c = \'1\'')).toEqual([
      { entity: 'metric', key: 'train loss', op: '<=', value: -1 },
      { entity: 'tag', key: 'mlflow.runName', op: '=', value: 'r' },
      { entity: 'param', key: 'a/b.c', op: '=', value: '1' },
    ]);
  });

  it('parses LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL', () => {
    expect(parseFilter("tags.t LIKE 'vi%' AND tags.t ILIKE '%ON' AND attributes.run_id IN ('a', 'b') AND params.p NOT IN ('x') AND tags.u IS NULL AND tags.v IS NOT NULL")).toEqual([
      { entity: 'tag', key: 't', op: 'LIKE', value: 'vi%' },
      { entity: 'tag', key: 't', op: 'ILIKE', value: '%ON' },
      { entity: 'attribute', key: 'run_id', op: 'IN', value: ['a', 'b'] },
      { entity: 'param', key: 'p', op: 'NOT IN', value: ['x'] },
      { entity: 'tag', key: 'u', op: 'IS NULL', value: null },
      { entity: 'tag', key: 'v', op: 'IS NOT NULL', value: null },
    ]);
  });

  it('keeps quotes inside strings (doubled or escaped) and numbers on numeric attributes', () => {
    expect(parseFilter("params.q = 'it''s' AND params.r = 'a\\'b' AND attributes.start_time > 1700000000000")).toEqual([
      { entity: 'param', key: 'q', op: '=', value: "it's" },
      { entity: 'param', key: 'r', op: '=', value: "a'b" },
      { entity: 'attribute', key: 'start_time', op: '>', value: 1700000000000 },
    ]);
  });

  it('an empty filter is no clause', () => {
    expect(parseFilter('')).toEqual([]);
    expect(parseFilter('   ')).toEqual([]);
    expect(parseFilter(undefined)).toEqual([]);
  });

  it.each([
    ['metrics.loss <<< 3', /comparator|value/],
    ["metrics.loss = 'abc'", /numeric/],
    ['params.p = 3', /quoted string/],
    ["metrics.loss LIKE '1'", /Invalid comparator/],
    ["params.a = 'x' OR params.b = 'y'", /only AND/],
    ["params.a = 'x' AND", /nothing after AND/],
    ["foo.bar = 'x'", /Invalid entity type 'foo'/],
    ["params.a = 'unterminated", /unterminated/],
    ["attributes.run_id IN 'a'", /expected '\('/],
    ['tags.x IS 3', /expected NULL/],
    ["params.a = 'x' # comment", /unexpected character/],
  ])('refuses %s as INVALID_PARAMETER_VALUE', (filter, msg) => {
    let err: { code?: string; message: string; statusCode?: number } | undefined;
    try {
      parseFilter(filter);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).toBe('INVALID_PARAMETER_VALUE');
    expect(err?.statusCode).toBe(400);
    expect(err?.message).toMatch(msg);
  });
});

describe('parseOrderBy', () => {
  it('defaults to ascending and reads ASC/DESC in any case', () => {
    expect(parseOrderBy(['metrics.loss DESC', 'params.lr', 'attributes.start_time asc', 'tags."a b" desc'])).toEqual([
      { entity: 'metric', key: 'loss', asc: false },
      { entity: 'param', key: 'lr', asc: true },
      { entity: 'attribute', key: 'start_time', asc: true },
      { entity: 'tag', key: 'a b', asc: false },
    ]);
  });
  it('refuses anything after the direction', () => {
    expect(() => parseOrderBy(['metrics.loss DESC extra'])).toThrow(/Invalid order_by/);
    expect(() => parseOrderBy(['metrics.loss sideways'])).toThrow(/Invalid order_by/);
  });
});

describe('evaluation', () => {
  const c = (s: string) => parseFilter(s)[0];
  it('compares numbers numerically and strings exactly', () => {
    expect(matches(c('metrics.m > 2'), 10)).toBe(true);
    expect(matches(c('metrics.m > 2'), 2)).toBe(false);
    expect(matches(c("params.p = '10'"), '10')).toBe(true);
    expect(matches(c("params.p = '10'"), '10.0')).toBe(false);
    expect(matches(c("params.p != '10'"), '9')).toBe(true);
  });
  it('a missing key matches nothing but IS NULL', () => {
    expect(matches(c("params.p != 'x'"), undefined)).toBe(false);
    expect(matches(c('metrics.m < 1'), undefined)).toBe(false);
    expect(matches(c('tags.t IS NULL'), undefined)).toBe(true);
    expect(matches(c('tags.t IS NOT NULL'), '')).toBe(true);
  });
  it('LIKE is case-sensitive with % and _; ILIKE is not', () => {
    expect(matches(c("tags.t LIKE 'vi_ion%'"), 'vision-2')).toBe(true);
    expect(matches(c("tags.t LIKE 'VI%'"), 'vision')).toBe(false);
    expect(matches(c("tags.t ILIKE 'VI%'"), 'vision')).toBe(true);
    expect(matches(c("tags.t LIKE 'a.b'"), 'axb')).toBe(false);
    expect(likeMatches('100\\%', '100%', false)).toBe(true);
    expect(likeMatches('100\\%', '1000', false)).toBe(false);
  });
  it('LIKE matches in time linear in the value: a pattern of many % cannot hold the server (was 78 s for `%a%a%b` over 6,000 characters)', () => {
    let started = performance.now();
    expect(likeMatches('%a%a%b', 'a'.repeat(3000), false)).toBe(false);
    // checked before the worse patterns below: the backtracking RegExp took seconds here, and hours on those
    expect(performance.now() - started).toBeLessThan(1000);
    started = performance.now();
    const value = 'a'.repeat(6000);
    expect(likeMatches(`${'%a'.repeat(40)}%b`, value, false)).toBe(false);
    expect(likeMatches(`${'%_'.repeat(40)}b`, value, false)).toBe(false);
    expect(likeMatches(`${'%a'.repeat(40)}%`, value, true)).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);
  });
  it('LIKE: % spans any text (also none), _ exactly one code point, \\ escapes; anchored at both ends', () => {
    const cases: [string, string, boolean][] = [
      ['%', '', true], ['_', '', false], ['a%c', 'ac', true], ['a%c', 'abcbc', true], ['a%c', 'abcb', false],
      ['%b%', 'abc', true], ['_b_', 'abc', true], ['_', '😀', true], ['__', '😀', false], ['a\\_c', 'abc', false],
      ['a\\_c', 'a_c', true], ['%a', 'ba', true], ['a', 'ab', false], ['%%x', 'yyx', true], ['x%', 'yx', false],
    ];
    for (const [pattern, value, want] of cases) expect(likeMatches(pattern, value, false), `${pattern} ~ ${value}`).toBe(want);
    expect([likeMatches('É%', 'école', true), likeMatches('É%', 'école', false)]).toEqual([true, false]);
  });
  it('NaN metrics only match !=', () => {
    expect(matches(c('metrics.m = 1'), NaN)).toBe(false);
    expect(matches(c('metrics.m != 1'), NaN)).toBe(true);
  });
  it('sorts missing values last in both directions', () => {
    const vals = [3, undefined, 1, 2];
    expect([...vals].sort((a, b) => compareValues(a, b, true))).toEqual([1, 2, 3, undefined]);
    expect([...vals].sort((a, b) => compareValues(a, b, false))).toEqual([3, 2, 1, undefined]);
  });
});
