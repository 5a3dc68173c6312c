import { LIMITS, nameProblem } from '@assay/contracts';
import type { AppContext } from '../context.ts';
import { HttpError, notFound } from '../errors.ts';
import { projectMetricNames } from '../stores/clickhouse/queries/project-metrics.ts';
import * as repo from '../stores/postgres/repos/project-metrics.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { requireRole } from './auth.ts';
import { ExpressionError, metricRefs, parseExpression } from './expression.ts';
import { configOf, defaultConfig, type MetricConfig } from './metric-config.ts';
import { resolveProject } from './resolve.ts';

/**
 * Project metrics: the configuration of each metric name (direction, aggregation, derived
 * expression). Rule for derived metrics: an expression reads logged (scalar) metrics only — it may
 * not name itself or another derived metric, and a metric that a derived expression names cannot
 * become derived. One level, so no cycle can exist and every read is one query.
 */

type Put = {
  direction?: 'minimize' | 'maximize';
  aggregation?: 'last' | 'best' | 'average';
  source_type?: 'scalar' | 'derived';
  expression?: string | null;
  description?: string | null;
};

const invalid = (msg: string, position?: number) =>
  new HttpError(422, [{ loc: ['body', 'expression'], msg, type: 'value_error.expression', ...(position !== undefined ? { position } : {}) }]);

export async function listProjectMetrics(ctx: AppContext, tenant: Tenant, projectIdOrName: string) {
  const project = await resolveProject(ctx, tenant, projectIdOrName);
  const [logged, rows] = await Promise.all([projectMetricNames(ctx.ch, tenant, project.id), repo.listProjectMetrics(ctx.pg.db, tenant, project.id)]);
  const loggedSet = new Set(logged);
  const byName = new Map<string, MetricConfig>(logged.map((n) => [n, defaultConfig(n)]));
  for (const r of rows) byName.set(r.name, configOf(r));
  const items = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((c) => ({ ...c, logged: loggedSet.has(c.name) }));
  return { items };
}

/** Upsert: fields left out keep their stored value (or default); `source_type: scalar` clears the expression. */
export async function putProjectMetric(ctx: AppContext, tenant: Tenant, projectIdOrName: string, name: string, body: Put) {
  requireRole(tenant, 'researcher');
  const project = await resolveProject(ctx, tenant, projectIdOrName);
  const row = await repo.upsertProjectMetricChecked(ctx.pg.db, tenant, project.id, name, (rows) => {
    const old = rows.find((r) => r.name === name);
    const cur = old ? configOf(old) : defaultConfig(name);
    const sourceType = body.source_type ?? cur.source_type;
    let expression = body.expression !== undefined ? body.expression : body.source_type === 'scalar' ? null : cur.expression;
    if (sourceType === 'scalar' && expression !== null) throw invalid('an expression needs source_type "derived"');
    if (sourceType === 'derived') {
      if (expression === null || expression === undefined) throw invalid('source_type "derived" needs an expression');
      expression = checkExpression(expression, name, rows);
      const users = rows.filter((r) => r.sourceType === 'derived' && r.name !== name && r.expression && refsOf(r.expression).includes(name)).map((r) => r.name);
      if (users.length) throw new HttpError(409, `"${name}" is used by derived metric${users.length > 1 ? 's' : ''} ${users.map((u) => `"${u}"`).join(', ')}; a derived metric cannot read another derived metric`);
    }
    return {
      direction: body.direction ?? old?.direction ?? null,
      aggregation: body.aggregation ?? old?.aggregation ?? null,
      sourceType,
      expression: expression ?? null,
      description: body.description !== undefined ? body.description : (old?.description ?? null),
    };
  });
  return configOf(row);
}

export async function deleteProjectMetric(ctx: AppContext, tenant: Tenant, projectIdOrName: string, name: string) {
  requireRole(tenant, 'researcher');
  const project = await resolveProject(ctx, tenant, projectIdOrName);
  if (!(await repo.deleteProjectMetric(ctx.pg.db, tenant, project.id, name))) throw notFound(`Metric configuration "${name}"`);
}

function refsOf(expression: string): string[] {
  try {
    return metricRefs(parseExpression(expression));
  } catch {
    return [];
  }
}

/** Parses and checks a derived metric's expression; returns it as stored (verbatim). */
function checkExpression(expression: string, name: string, rows: repo.ProjectMetricRow[]): string {
  let refs: string[];
  try {
    refs = metricRefs(parseExpression(expression));
  } catch (e) {
    if (e instanceof ExpressionError) throw invalid(`invalid expression at position ${e.position}: ${e.reason}`, e.position);
    throw e;
  }
  if (refs.length === 0) throw invalid('the expression must read at least one metric');
  for (const r of refs) {
    const problem = nameProblem(r, 'a metric name in the expression', LIMITS.metricNameMax);
    if (problem) throw invalid(problem);
    if (r === name) throw invalid(`the expression of "${name}" cannot read "${name}" itself`);
    if (rows.some((row) => row.name === r && row.sourceType === 'derived')) throw invalid(`"${r}" is a derived metric; a derived metric can only read logged metrics`);
  }
  return expression;
}
