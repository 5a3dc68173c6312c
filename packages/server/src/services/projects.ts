import type { AppContext } from '../context.ts';
import { conflict, notFound } from '../errors.ts';
import { isUniqueViolation } from '../stores/postgres/errors.ts';
import * as repo from '../stores/postgres/repos/projects.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { requireRole } from './auth.ts';
import { pageOf, projectDto } from './dto.ts';
import { deleteProjectCascade } from './cascade.ts';
import { forgetIngestTargets, resolveProject } from './resolve.ts';
import { applyProjectRetention } from './retention.ts';

export async function listProjects(ctx: AppContext, tenant: Tenant, q: { limit: number; cursor?: string; name?: string; include_deleted?: boolean }) {
  return pageOf(await repo.listProjects(ctx.pg.db, tenant, { ...q, includeDeleted: q.include_deleted }), q.limit, projectDto);
}

export async function createProject(
  ctx: AppContext,
  tenant: Tenant,
  body: { name: string; description?: string | null; retention_days?: number },
  ifExists: 'error' | 'return',
) {
  requireRole(tenant, 'researcher');
  const created = await repo.insertProject(ctx.pg.db, tenant, { name: body.name, description: body.description, retentionDays: body.retention_days });
  if (created) return { status: 201 as const, project: projectDto(created) };
  const existing = await repo.findProject(ctx.pg.db, tenant, body.name);
  if (ifExists === 'return' && existing && !existing.deletedAt) return { status: 200 as const, project: projectDto(existing) };
  // a soft-deleted project keeps its name (as MLflow's deleted experiments do) until restored or purged
  if (existing?.deletedAt) throw conflict(`A project named "${body.name}" already exists and is deleted: restore it (MLflow restore_experiment) or delete it for good (DELETE /api/v1/projects/{id})`);
  throw conflict(`A project named "${body.name}" already exists`);
}

export async function updateProject(ctx: AppContext, tenant: Tenant, idOrName: string, body: { name?: string; description?: string | null; retention_days?: number }) {
  requireRole(tenant, 'researcher');
  const p = await resolveProject(ctx, tenant, idOrName);
  try {
    const u = await repo.updateProject(ctx.pg.db, tenant, p.id, { name: body.name, description: body.description, retentionDays: body.retention_days });
    if (!u) throw notFound('Project');
    if (body.name !== undefined || body.retention_days !== undefined) forgetIngestTargets(ctx);
    // Also when unchanged: a retry after a failed ClickHouse step finishes it (rows already right are not rewritten).
    if (body.retention_days !== undefined) await applyProjectRetention(ctx, tenant, p.id, body.retention_days);
    return projectDto(u);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`A project named "${body.name}" already exists`);
    throw e;
  }
}

export async function deleteProject(ctx: AppContext, tenant: Tenant, idOrName: string) {
  requireRole(tenant, 'admin');
  // also purges a soft-deleted one (emptying the trash, like `mlflow gc`)
  const p = await resolveProject(ctx, tenant, idOrName, { includeDeleted: true });
  await deleteProjectCascade(ctx, tenant, p.id);
}

/**
 * Undo the soft delete from Assay's own API (the web UI's Restore): runs come back as they were —
 * their lifecycle is derived from the project, so a run deleted before stays deleted. Restoring an
 * active project is a no-op, so a retried request answers like the first.
 */
export async function restoreProject(ctx: AppContext, tenant: Tenant, idOrName: string) {
  requireRole(tenant, 'researcher');
  const p = await resolveProject(ctx, tenant, idOrName, { includeDeleted: true });
  const restored = p.deletedAt ? await setProjectDeleted(ctx, tenant, p.id, false) : p;
  // undefined: a concurrent restore (or purge) got there first — answer with what is there now
  return projectDto(restored ?? (await resolveProject(ctx, tenant, p.id, { includeDeleted: true })));
}

/**
 * MLflow delete_experiment / restore_experiment: a restorable soft delete of the project.
 * Undefined when the project is missing or already in that state (a concurrent request won).
 */
export async function setProjectDeleted(ctx: AppContext, tenant: Tenant, id: string, deleted: boolean) {
  requireRole(tenant, 'researcher');
  const p = await repo.setProjectDeleted(ctx.pg.db, tenant, id, deleted ? new Date() : null);
  // ingest resolves its target through a short cache: a deleted project must stop taking points now
  if (p) forgetIngestTargets(ctx);
  return p;
}
