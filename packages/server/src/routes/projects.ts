import { z } from 'zod';
import { IfExistsQuery, page, Project, ProjectCreate, ProjectListQuery, ProjectPatch } from '@assay/contracts';
import { projectDto } from '../services/dto.ts';
import * as svc from '../services/projects.ts';
import { resolveProject } from '../services/resolve.ts';
import { errors, ProjectParams, type Api, type RouteDeps } from './types.ts';

export function projectRoutes(app: Api, { ctx }: RouteDeps): void {
  const tags = ['projects'];
  app.get('/projects', {
    schema: { tags, summary: 'List projects', description: 'Newest first; filter by name substring; paginate with `cursor`. Soft-deleted projects (MLflow delete_experiment) only with `include_deleted=true`.', querystring: ProjectListQuery, response: { 200: page(Project), ...errors() } },
  }, (req) => svc.listProjects(ctx, req.tenant, req.query));

  app.post('/projects', {
    schema: {
      tags,
      summary: 'Create a project',
      description: 'Names are unique per team: 409 on a duplicate, unless `if_exists=return` (get-or-create, 200).',
      querystring: IfExistsQuery,
      body: ProjectCreate,
      response: { 201: Project, 200: Project, ...errors(403, 409) },
    },
  }, async (req, reply) => {
    const r = await svc.createProject(ctx, req.tenant, req.body, req.query.if_exists);
    return reply.code(r.status).send(r.project);
  });

  app.get('/projects/:project_id', {
    schema: { tags, summary: 'Get a project (by UUID or name)', description: 'A soft-deleted project is returned with `deleted_at` set; every other route under it answers 404 until it is restored.', params: ProjectParams, response: { 200: Project, ...errors() } },
  }, async (req) => projectDto(await resolveProject(ctx, req.tenant, req.params.project_id, { includeDeleted: true })));

  app.patch('/projects/:project_id', {
    schema: { tags, summary: 'Update a project', params: ProjectParams, body: ProjectPatch, response: { 200: Project, ...errors(403, 409) } },
  }, (req) => svc.updateProject(ctx, req.tenant, req.params.project_id, req.body));

  app.post('/projects/:project_id/restore', {
    schema: {
      tags,
      summary: 'Restore a soft-deleted project (researcher)',
      description: 'Undoes MLflow delete_experiment: the project is listed again and its routes answer; its runs come back exactly as they were before the delete (a run deleted earlier stays deleted). A no-op on an active project (200).',
      params: ProjectParams,
      response: { 200: Project, ...errors(403) },
    },
  }, (req) => svc.restoreProject(ctx, req.tenant, req.params.project_id));

  app.delete('/projects/:project_id', {
    schema: { tags, summary: 'Delete a project, its experiments and all their metrics (admin)', description: 'Permanent; also purges a soft-deleted project.', params: ProjectParams, response: { 204: z.null(), ...errors(403) } },
  }, async (req, reply) => {
    await svc.deleteProject(ctx, req.tenant, req.params.project_id);
    return reply.code(204).send(null);
  });
}
