import type { AppContext } from '../context.ts';
import { listProjectMetrics, type ProjectMetricRow } from '../stores/postgres/repos/project-metrics.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';

/**
 * A metric's configuration in a project: the stored `project_metrics` row, or the defaults for a
 * metric nobody configured (`configured: false`). Hypotheses and the metrics API read it here.
 */
export interface MetricConfig {
  name: string;
  direction: 'minimize' | 'maximize';
  aggregation: 'last' | 'best' | 'average';
  source_type: 'scalar' | 'derived';
  expression: string | null;
  description: string | null;
  configured: boolean;
}

// Substrings that make a name "lower is better" by default (case-insensitive). `mae`/`wer`/`cer`
// also hit words like "answer" or "tracer": a default only; PUT a direction to override it.
const MINIMIZE_HINTS = ['loss', 'error', 'perplexity', 'mse', 'mae', 'wer', 'cer'];

export function defaultDirection(name: string): 'minimize' | 'maximize' {
  const n = name.toLowerCase();
  return MINIMIZE_HINTS.some((h) => n.includes(h)) ? 'minimize' : 'maximize';
}

export function defaultConfig(name: string): MetricConfig {
  return { name, direction: defaultDirection(name), aggregation: 'last', source_type: 'scalar', expression: null, description: null, configured: false };
}

/** A stored row; columns left NULL fall back to the defaults. */
export function configOf(row: ProjectMetricRow): MetricConfig {
  const d = defaultConfig(row.name);
  return {
    name: row.name,
    direction: row.direction ?? d.direction,
    aggregation: row.aggregation ?? d.aggregation,
    source_type: row.sourceType ?? d.source_type,
    expression: row.expression ?? null,
    description: row.description ?? null,
    configured: true,
  };
}

/** The configuration of every requested name: its row if configured, the defaults otherwise. */
export async function metricConfigs(ctx: AppContext, tenant: Tenant, projectId: string, names: string[]): Promise<Map<string, MetricConfig>> {
  const unique = [...new Set(names)];
  const rows = await listProjectMetrics(ctx.pg.db, tenant, projectId, unique);
  const byName = new Map(rows.map((r) => [r.name, configOf(r)]));
  return new Map(unique.map((n) => [n, byName.get(n) ?? defaultConfig(n)]));
}
