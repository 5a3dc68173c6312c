import { RUNS_TABLE_MAX } from '@assay/contracts/ui-data';
import type { MetricValue } from '@assay/contracts';
import type { AppContext } from '../context.ts';
import { runsTableMetrics } from '../stores/clickhouse/queries/ui-data.ts';
import { listTableRuns, projectParentEdges } from '../stores/postgres/repos/runs-table.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { derivedConfigs, derivedStats } from './derived-series.ts';
import { metricConfigs, type MetricConfig } from './metric-config.ts';
import { chToWire, toWire } from './metric-values.ts';
import { statsDto } from './metrics.ts';
import { resolveProject } from './resolve.ts';
import { aggregateRuns } from './run-aggregates.ts';

interface Cell {
  last: MetricValue;
  min: MetricValue | null;
  max: MetricValue | null;
  best: MetricValue | null;
  count: number;
  last_step: number;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const cellOf = (s: ReturnType<typeof statsDto>): Cell => ({ last: s.last, min: s.min, max: s.max, best: null, count: s.count, last_step: s.last_step });

/**
 * Everything the runs table shows, for up to RUNS_TABLE_MAX runs (newest first): the rows from
 * Postgres, lineage parents, and per run and metric last/min/max/count/last_step exactly as
 * GET /metrics/summary and `best` exactly as compare's include=best — from one ClickHouse query over
 * pre-aggregated rows for every logged metric (see SQL_RUNS_TABLE_METRICS), plus, as compare does,
 * one per derived metric and one per metric with runs whose best those rows cannot give exactly.
 */
export async function runsTable(ctx: AppContext, tenant: Tenant, projectIdOrName: string, q: { include_deleted: boolean; since?: string }) {
  const project = await resolveProject(ctx, tenant, projectIdOrName);
  const rows = await listTableRuns(ctx.pg.db, tenant, project.id, {
    includeDeleted: q.include_deleted,
    since: q.since === undefined ? undefined : new Date(q.since),
    limit: RUNS_TABLE_MAX + 1,
  });
  const runs = rows.slice(0, RUNS_TABLE_MAX);
  const ids = runs.map((r) => r.id);
  const cells = new Map<string, Map<string, Cell>>(ids.map((id) => [id, new Map()]));

  const derived = await derivedStats(ctx, tenant, project.id, ids);
  const derivedNames = new Set((await derivedConfigs(ctx, tenant, project.id)).map((c) => c.name));
  const metricRows = await runsTableMetrics(ctx.ch, tenant, project.id, ids);
  const names = [...new Set([...metricRows.map((r) => r[1]), ...derived.map(([, r]) => r[0])])].sort();
  const configs = await metricConfigs(ctx, tenant, project.id, names);

  // runs whose best the fine rollup cannot give (re-logged steps, several hosts: their mean per
  // step, rows missing) or that is derived: computed exactly by run-aggregates, by metric
  const perStep = new Map<string, string[]>();
  const needsPerStep = (name: string, id: string) => {
    const list = perStep.get(name) ?? [];
    list.push(id);
    perStep.set(name, list);
  };
  for (const [id, ...rest] of metricRows) {
    const summary = rest.slice(0, 10) as Parameters<typeof statsDto>[0];
    const [fineMin, fineMax, , trusted] = rest.slice(10) as [string | number | null, string | number | null, number | null, number | boolean | null];
    const name = summary[0];
    const cell = cellOf(statsDto(summary));
    // A derived metric's best comes from its expression, whatever was logged under its name (compare's rule).
    if (Number(trusted) === 1 && !derivedNames.has(name)) {
      cell.best = chToWire((configs.get(name)!.direction === 'minimize' ? fineMin : fineMax)!);
    } else {
      needsPerStep(name, id);
    }
    cells.get(id)!.set(name, cell);
  }
  // derived stats shadow points logged under the same name (as in the summary and compare reads)
  for (const [id, r] of derived) {
    cells.get(id)!.set(r[0], cellOf(statsDto(r)));
    if (!perStep.get(r[0])?.includes(id)) needsPerStep(r[0], id);
  }
  for (const [name, runIds] of perStep) {
    const config: MetricConfig = configs.get(name)!;
    const best = await aggregateRuns(ctx, tenant, project.id, runIds, { ...config, aggregation: 'best' });
    for (const id of runIds) {
      const b = best.get(id);
      cells.get(id)!.get(name)!.best = b == null ? null : toWire(b);
    }
  }

  const parents = new Map<string, string[]>();
  for (const { child, parent } of await projectParentEdges(ctx.pg.db, tenant, project.id)) {
    const list = parents.get(child) ?? [];
    if (!list.includes(parent)) list.push(parent);
    parents.set(child, list);
  }

  return {
    items: runs.map((e) => ({
      id: e.id,
      name: e.name,
      status: e.status,
      host: e.host,
      tags: e.tags,
      description: e.description,
      created_at: e.createdAt.toISOString(),
      started_at: e.startedAt.toISOString(),
      finished_at: iso(e.finishedAt),
      last_heartbeat_at: iso(e.heartbeatAt),
      parent_ids: parents.get(e.id) ?? [],
      features: e.features,
      metrics: Object.fromEntries(cells.get(e.id)!),
    })),
    metrics: names.map((n) => {
      const c = configs.get(n)!;
      return { name: n, direction: c.direction, aggregation: c.aggregation, configured: c.configured };
    }),
    truncated: rows.length > RUNS_TABLE_MAX,
  };
}
