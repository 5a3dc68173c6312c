import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { welchTTest, type Alternative } from '../src/services/stats.ts';

/**
 * The Welch test against scipy. The fixture is written by scripts/gen-welch-fixtures.py (scipy's
 * ttest_ind(x, y, equal_var=False, alternative=…)) and committed; this test only reads it.
 * Tolerance: relative 1e-9 on t, df and p (|a − b| ≤ 1e-9 · |b|) — relative, so a p-value of
 * 5.6e-10 is checked to its own scale, not waved through by an absolute 1e-9.
 */
interface Case {
  name: string;
  x: number[];
  y: number[];
  alternative: Alternative;
  t: number;
  df: number;
  p_value: number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = JSON.parse(fs.readFileSync(path.join(here, 'fixtures', 'welch-scipy.json'), 'utf8')) as { cases: Case[] };

const relErr = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('one-sided Welch t-test vs scipy', () => {
  it('the fixture has the cases the issue asks for', () => {
    expect(fixture.cases.length).toBe(15);
    expect(fixture.cases.some((c) => c.x.length === 2 && c.y.length === 2)).toBe(true);
    expect(new Set(fixture.cases.map((c) => c.alternative))).toEqual(new Set(['greater', 'less']));
  });

  for (const c of fixture.cases) {
    it(c.name, () => {
      const r = welchTTest(c.x, c.y, c.alternative);
      expect(relErr(r.t!, c.t), `t ${r.t} vs ${c.t}`).toBeLessThanOrEqual(1e-9);
      expect(relErr(r.df!, c.df), `df ${r.df} vs ${c.df}`).toBeLessThanOrEqual(1e-9);
      expect(relErr(r.p_value, c.p_value), `p ${r.p_value} vs ${c.p_value}`).toBeLessThanOrEqual(1e-9);
    });
  }

  it('the two one-sided p-values of the same data add up to 1', () => {
    for (const c of fixture.cases) {
      const g = welchTTest(c.x, c.y, 'greater').p_value;
      const l = welchTTest(c.x, c.y, 'less').p_value;
      expect(g + l).toBeCloseTo(1, 12);
    }
  });

  it('both samples without variance: undefined t and df, p from the means as given', () => {
    expect(welchTTest([1, 1], [1, 1, 1], 'greater')).toEqual({ t: null, df: null, p_value: 0.5 });
    expect(welchTTest([2, 2], [1, 1], 'greater')).toEqual({ t: null, df: null, p_value: 0 });
    expect(welchTTest([2, 2], [1, 1], 'less')).toEqual({ t: null, df: null, p_value: 1 });
  });

  it('refuses fewer than two values in a sample', () => {
    expect(() => welchTTest([1], [1, 2], 'less')).toThrow(/at least two/);
  });
});
