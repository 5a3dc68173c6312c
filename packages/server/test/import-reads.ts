import { expect } from 'vitest';
import type { TestTeam } from './helpers.ts';

/** What an import left on the server, read through the API (the import tests' checks). */

/** A metric's points as [step, value] (NaN/±Inf as their JSON spellings). */
export async function points(team: TestTeam, project: string, experiment: string, metric: string) {
  const r = await team.api.get(`/metrics/timeseries/${encodeURIComponent(project)}/${encodeURIComponent(experiment)}/${encodeURIComponent(metric)}?limit=100000`);
  expect(r.status).toBe(200);
  return (r.body.points as { step: number; value: number | string }[]).map((p) => [p.step, p.value]);
}

/** Points stored per metric name, as the write log counts them. */
export async function metricTotals(team: TestTeam, project: string, experiment: string) {
  const r = await team.api.get(`/metrics/names/${encodeURIComponent(project)}/${encodeURIComponent(experiment)}`);
  expect(r.status).toBe(200);
  return Object.fromEntries((r.body.items as { metric_name: string; total_points: number }[]).map((m) => [m.metric_name, m.total_points]));
}
