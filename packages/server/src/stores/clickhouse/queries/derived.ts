import type { BinaryOp, Expr, FunctionName } from '../../../services/expression.ts';
import type { QueryParams } from '../query.ts';
import { STEP_SCOPE, type StepSource } from './steps.ts';

/**
 * A derived metric's per-step source, rendered from its AST. Only three kinds of text reach the
 * SQL: the fixed fragments below, function names from the whitelist maps, and generated
 * identifiers (x0, x1…) and parameter names ({m0:String} for metric names, {c0:Float64} for
 * literals). Every metric name and every number travels as a typed parameter.
 *
 * Operators render as functions (plus, minus, …): no precedence to get wrong and no chance of two
 * minus signs forming a SQL comment.
 */
const BINARY: Record<BinaryOp, string> = { '+': 'plus', '-': 'minus', '*': 'multiply', '/': 'divide' };
// min/max ignore NaN arguments (NaN only when all are NaN): ClickHouse's least/greatest depend on
// argument order with NaN, arrayMin/arrayMax don't.
const FUNCTION: Record<FunctionName, string> = { abs: 'abs', log: 'log', exp: 'exp', sqrt: 'sqrt', min: 'arrayMin', max: 'arrayMax' };
const ARRAY_ARGS: ReadonlySet<FunctionName> = new Set(['min', 'max']);

export interface RenderedExpression {
  /** SQL over the columns x0…x(n-1), one per metric in `metrics`. */
  sql: string;
  metrics: string[];
  params: QueryParams;
}

export function renderExpression(e: Expr): RenderedExpression {
  const metrics: string[] = [];
  const params: QueryParams = {};
  let constants = 0;
  const walk = (n: Expr): string => {
    switch (n.kind) {
      case 'number': {
        const p = `c${constants++}`;
        params[p] = n.value;
        return `{${p}:Float64}`;
      }
      case 'metric': {
        let i = metrics.indexOf(n.name);
        if (i < 0) {
          i = metrics.push(n.name) - 1;
          params[`m${i}`] = n.name;
        }
        return `x${i}`;
      }
      case 'negate':
        return `negate(${walk(n.arg)})`;
      case 'binary':
        return `${BINARY[n.op]}(${walk(n.left)}, ${walk(n.right)})`;
      case 'call': {
        const args = n.args.map(walk).join(', ');
        return ARRAY_ARGS.has(n.fn) ? `${FUNCTION[n.fn]}([${args}])` : `${FUNCTION[n.fn]}(${args})`;
      }
    }
  };
  const sql = walk(e);
  return { sql, metrics, params };
}

/**
 * (experiment_id, step, ts, v) for a derived metric. Each referenced metric is first reduced to one
 * value per step (mean over hosts, re-logged steps once), then the expression combines the values
 * of one step; a step where any referenced metric has no point yields no row.
 */
export function derivedSteps(e: Expr): StepSource {
  const r = renderExpression(e);
  const names = r.metrics.map((_, i) => `{m${i}:String}`).join(', ');
  const columns = r.metrics.map((_, i) => `,\n    anyIf(mv, metric_name = {m${i}:String}) AS x${i}`).join('');
  const sql = `SELECT experiment_id, step, ts, ${r.sql} AS v
FROM (
  SELECT experiment_id, step, max(ts0) AS ts, uniqExact(metric_name) AS present${columns}
  FROM (
    SELECT experiment_id, step, metric_name, max(toUnixTimestamp64Milli(timestamp)) AS ts0, avg(metric_value) AS mv
    FROM metrics FINAL
    WHERE ${STEP_SCOPE}
      AND metric_name IN (${names})
    GROUP BY experiment_id, step, metric_name
    SETTINGS do_not_merge_across_partitions_select_final = 1
  )
  GROUP BY experiment_id, step
  HAVING present = {n_metrics:UInt64}
)`;
  return { sql, params: { ...r.params, n_metrics: r.metrics.length } };
}
