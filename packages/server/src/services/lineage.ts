import type { REFERENCE_KINDS } from '@assay/contracts/lineage';
import type { AppContext } from '../context.ts';
import { conflict, notFound } from '../errors.ts';
import * as refs from '../stores/postgres/repos/references.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { requireRole } from './auth.ts';
import { resolveExperiment } from './resolve.ts';
import * as expRepo from '../stores/postgres/repos/experiments.ts';

type Kind = (typeof REFERENCE_KINDS)[number];

/** Typed references between runs of one project, and walks over them (the experiment DAG). */

export async function addReference(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string, body: { to_experiment: string; kind: Kind }) {
  requireRole(tenant, 'researcher');
  const { project, experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName);
  // Resolved inside the same project: a run of another project or team is simply not found.
  const target = await expRepo.findExperiment(ctx.pg.db, tenant, project.id, body.to_experiment);
  if (!target) throw notFound(`Experiment "${body.to_experiment}"`);
  const r = await refs.addReference(ctx.pg.db, tenant, experiment.id, target.id, body.kind);
  if (r === 'cycle') {
    throw conflict(
      experiment.id === target.id
        ? 'An experiment cannot refer to itself'
        : `"${target.name}" already descends from "${experiment.name}": this reference would make a cycle`,
    );
  }
  return { status: r === 'added' ? (201 as const) : (200 as const), edge: { from: experiment.id, to: target.id, kind: body.kind } };
}

export async function removeReference(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string, toIdOrName: string, kind?: string) {
  requireRole(tenant, 'researcher');
  const { project, experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName);
  const target = await expRepo.findExperiment(ctx.pg.db, tenant, project.id, toIdOrName);
  if (!target) throw notFound(`Experiment "${toIdOrName}"`);
  const n = await refs.removeReferences(ctx.pg.db, tenant, experiment.id, target.id, kind);
  if (!n) throw notFound('Reference');
}

export async function lineage(
  ctx: AppContext,
  tenant: Tenant,
  projectIdOrName: string,
  experimentIdOrName: string,
  q: { direction: 'up' | 'down' | 'both'; depth: number; kind?: Kind[] },
) {
  const { experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName);
  const directions: ('up' | 'down')[] = q.direction === 'both' ? ['up', 'down'] : [q.direction];
  const edges = new Map<string, refs.EdgeRow>();
  const depthOf = new Map<string, number>([[experiment.id, 0]]);
  let truncated = false;
  for (const dir of directions) {
    for (const e of await refs.walk(ctx.pg.db, tenant, experiment.id, dir, q.depth, q.kind)) {
      if (e.depth > q.depth) {
        truncated = true;
        continue;
      }
      const key = `${e.from}|${e.to}|${e.kind}`;
      const seen = edges.get(key);
      if (!seen || seen.depth > e.depth) edges.set(key, e);
      const node = dir === 'up' ? e.to : e.from;
      depthOf.set(node, Math.min(depthOf.get(node) ?? Infinity, e.depth));
    }
  }
  const rows = await refs.experimentsByIds(ctx.pg.db, tenant, [...depthOf.keys()]);
  const nodes = rows
    .map((r) => ({ id: r.id, name: r.name, status: r.status, depth: depthOf.get(r.id)! }))
    .sort((a, b) => a.depth - b.depth || a.name.localeCompare(b.name));
  const ordered = [...edges.values()].sort((a, b) => a.depth - b.depth || a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
  return { root: experiment.id, nodes, edges: ordered.map(({ from, to, kind }) => ({ from, to, kind: kind as Kind })), truncated };
}
