import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ExpressionError, metricRefs, parseExpression } from '../src/services/expression.ts';
import { derivedSteps, renderExpression } from '../src/stores/clickhouse/queries/derived.ts';
import { runAggregatesSql, stepBucketsSql, stepExtentSql, stepPointsSql, stepSummarySql } from '../src/stores/clickhouse/queries/steps.ts';

const goldenDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden', 'derived');

/** Compare with the committed file; UPDATE_GOLDEN=1 writes it (review it, then commit). A missing file fails. */
function golden(name: string, text: string) {
  const file = path.join(goldenDir, name);
  if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, text);
  if (!fs.existsSync(file)) throw new Error(`golden file derived/${name} is missing; write it with UPDATE_GOLDEN=1`);
  expect(text).toBe(fs.readFileSync(file, 'utf8'));
}

const errorOf = (src: string): ExpressionError => {
  try {
    parseExpression(src);
  } catch (e) {
    if (e instanceof ExpressionError) return e;
    throw e;
  }
  throw new Error(`parsed: ${src}`);
};

describe('expression parser', () => {
  it('precedence, associativity, unary minus, functions, quoted names', () => {
    expect(parseExpression('a - b - c')).toEqual({
      kind: 'binary', op: '-',
      left: { kind: 'binary', op: '-', left: { kind: 'metric', name: 'a' }, right: { kind: 'metric', name: 'b' } },
      right: { kind: 'metric', name: 'c' },
    });
    expect(parseExpression('-x * 2')).toEqual({ kind: 'binary', op: '*', left: { kind: 'negate', arg: { kind: 'metric', name: 'x' } }, right: { kind: 'number', value: 2 } });
    expect(parseExpression('1 + 2 * 3')).toMatchObject({ op: '+', right: { op: '*' } });
    expect(parseExpression('(1 + 2) * 3')).toMatchObject({ op: '*', left: { op: '+' } });
    expect(parseExpression('1e-3 + .5 + 2.')).toMatchObject({ left: { left: { value: 0.001 }, right: { value: 0.5 } }, right: { value: 2 } });
    expect(parseExpression('max(a, b, `c d`)')).toEqual({ kind: 'call', fn: 'max', args: [{ kind: 'metric', name: 'a' }, { kind: 'metric', name: 'b' }, { kind: 'metric', name: 'c d' }] });
    expect(parseExpression('`a``b`')).toEqual({ kind: 'metric', name: 'a`b' });
    expect(parseExpression('`log`')).toEqual({ kind: 'metric', name: 'log' });
    expect(parseExpression('log')).toEqual({ kind: 'metric', name: 'log' });
    expect(parseExpression('eval.acc_top5')).toEqual({ kind: 'metric', name: 'eval.acc_top5' });
    expect(parseExpression('--x')).toEqual({ kind: 'negate', arg: { kind: 'negate', arg: { kind: 'metric', name: 'x' } } });
    expect(metricRefs(parseExpression('`val/loss` - `train/loss` + abs(`val/loss`)'))).toEqual(['val/loss', 'train/loss']);
  });

  it('errors name the 1-based position and what was expected', () => {
    expect(errorOf('a +')).toMatchObject({ position: 4, reason: "expected a number, a metric name, a function call or '(', found the end of the expression" });
    expect(errorOf('(a + b')).toMatchObject({ position: 7, reason: "expected ')', found the end of the expression" });
    expect(errorOf('a b')).toMatchObject({ position: 3, reason: 'expected an operator or the end of the expression, found "b"' });
    expect(errorOf('sleep(1)')).toMatchObject({ position: 1, reason: 'unknown function "sleep"; expected one of abs, log, exp, sqrt, min, max' });
    expect(errorOf("x + file('x')")).toMatchObject({ position: 5, reason: 'unknown function "file"; expected one of abs, log, exp, sqrt, min, max' });
    expect(errorOf("x + 'x'")).toMatchObject({ position: 5, reason: 'unexpected character "\'"; metric names other than plain identifiers go in backticks' });
    expect(errorOf('x + file(x)')).toMatchObject({ position: 5, reason: 'unknown function "file"; expected one of abs, log, exp, sqrt, min, max' });
    expect(errorOf('1); DROP TABLE metrics; --')).toMatchObject({ position: 2, reason: "expected an operator or the end of the expression, found ')'" });
    expect(errorOf('loss UNION SELECT 1')).toMatchObject({ position: 6 });
    expect(errorOf('{team_id:UUID}')).toMatchObject({ position: 1, reason: 'unexpected character "{"; metric names other than plain identifiers go in backticks' });
    expect(errorOf('`val/loss - 1')).toMatchObject({ position: 1, reason: 'unterminated quoted name: expected a closing backtick (write a backtick inside a name as ``)' });
    expect(errorOf('a\u0000b')).toMatchObject({ position: 2, reason: 'NUL characters are not allowed' });
    expect(errorOf('`a\u0000`')).toMatchObject({ position: 3 });
    expect(errorOf('x'.repeat(5000))).toMatchObject({ position: 1001, reason: 'expression longer than 1000 characters' });
    expect(errorOf('min(a)')).toMatchObject({ position: 1, reason: 'min takes at least 2 arguments, got 1' });
    expect(errorOf('abs(a, b)')).toMatchObject({ position: 1, reason: 'abs takes exactly 1 argument, got 2' });
    expect(errorOf('2x')).toMatchObject({ position: 2 });
    expect(errorOf('1e999')).toMatchObject({ position: 1, reason: 'number 1e999 is out of range' });
    expect(errorOf('``')).toMatchObject({ position: 1, reason: 'empty quoted name' });
    expect(errorOf('   ')).toMatchObject({ position: 1 });
    expect(errorOf('a;b')).toMatchObject({ position: 2 });
  });

  it('limits nesting depth and size', () => {
    expect(() => parseExpression('('.repeat(33) + 'a' + ')'.repeat(33))).toThrow(/nested too deeply/);
    expect(() => parseExpression('('.repeat(32) + 'a' + ')'.repeat(32))).not.toThrow();
    expect(() => parseExpression('-'.repeat(40) + 'a')).toThrow(/nested too deeply/);
    expect(() => parseExpression(Array.from({ length: 101 }, (_, i) => `m${i}`).join('+'))).toThrow(/more than 200 nodes/);
  });
});

describe('derived SQL rendering (golden)', () => {
  const cases: [string, string][] = [
    ['difference', '`val/loss` - `train/loss`'],
    ['nesting', '(a + b) * (a - 2.5) / -c'],
    ['functions', 'abs(log(x)) + exp(-y) + sqrt(z) + min(x, y, 1e-3) - max(x, `y`)'],
    ['quoting', '`a``b` + `log` + `{team_id:UUID}` + `1); DROP TABLE metrics; --`'],
    ['unary', '--a - -(b)'],
  ];
  for (const [name, src] of cases) {
    it(name, () => {
      const { sql, params } = derivedSteps(parseExpression(src));
      golden(`${name}.sql`, `-- ${src}\n-- params: ${JSON.stringify(params)}\n${sql}\n`);
      // user text never reaches the SQL: no backtick, brace-parameter or statement separator of it
      expect(sql).not.toContain('`');
      expect(sql).not.toContain(';');
      expect(sql).not.toMatch(/DROP|team_id:UUID\}` /);
    });
  }

  it('reads over a derived source (points, extent, buckets, summary, aggregates)', () => {
    const src = derivedSteps(parseExpression('`val/loss` - `train/loss`')).sql;
    golden('reads.sql', [stepPointsSql(src), stepExtentSql(src), stepBucketsSql(src), stepSummarySql(src), runAggregatesSql(src)].join(';\n\n') + ';\n');
  });

  it('names and literals are numbered parameters', () => {
    expect(renderExpression(parseExpression('a * 2 + a / 3 - b'))).toEqual({
      sql: 'minus(plus(multiply(x0, {c0:Float64}), divide(x0, {c1:Float64})), x1)',
      metrics: ['a', 'b'],
      params: { c0: 2, m0: 'a', c1: 3, m1: 'b' },
    });
  });
});
