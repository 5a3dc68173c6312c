import { z } from 'zod';
import { ApiKey, ApiKeyCreate, ApiKeyCreated, Me, Member, MemberAdd, MemberAdded } from '@assay/contracts';
import * as svc from '../services/teams.ts';
import { errors, type Api, type RouteDeps } from './types.ts';

export function teamRoutes(app: Api, { ctx, auth }: RouteDeps): void {
  const tags = ['team'];
  app.get('/me', {
    schema: { tags, summary: 'The team, user and role behind this API key or session', response: { 200: Me, ...errors() } },
  }, (req) => svc.me(ctx, req.tenant));

  app.get('/api-keys', {
    schema: { tags, summary: 'List API keys (admins: all of the team; others: their own)', response: { 200: z.object({ items: z.array(ApiKey) }), ...errors() } },
  }, (req) => svc.listKeys(ctx, req.tenant));

  app.post('/api-keys', {
    schema: {
      tags,
      summary: 'Create an API key',
      description: 'The key is returned once; only its SHA-256 is stored. A key never carries more than its user\'s role.',
      body: ApiKeyCreate,
      response: { 201: ApiKeyCreated, ...errors(403) },
    },
  }, async (req, reply) => reply.code(201).send(await svc.createKey(ctx, req.tenant, req.body)));

  app.delete('/api-keys/:key_id', {
    schema: { tags, summary: 'Revoke an API key', params: z.object({ key_id: z.string().uuid() }), response: { 200: ApiKey, ...errors(403) } },
  }, (req) => svc.revokeKey(ctx, auth, req.tenant, req.params.key_id));

  app.get('/members', {
    schema: { tags, summary: 'List team members', response: { 200: z.object({ items: z.array(Member) }), ...errors() } },
  }, (req) => svc.listMembers(ctx, req.tenant));

  app.post('/members', {
    schema: {
      tags,
      summary: 'Add a member or change their role (admin)',
      description: 'For a user without a password the answer carries `invite_url`, a one-time link (7 days) to set one and sign in; send it to them.',
      body: MemberAdd,
      response: { 201: MemberAdded, ...errors(403) },
    },
  }, async (req, reply) => reply.code(201).send(await svc.addMember(ctx, auth, req.tenant, req.body)));

  app.delete('/members/:user_id', {
    schema: { tags, summary: 'Remove a member: their keys, sessions and links for this team stop working (admin)', params: z.object({ user_id: z.string().uuid() }), response: { 204: z.null(), ...errors(403, 409) } },
  }, async (req, reply) => {
    await svc.removeMember(ctx, auth, req.tenant, req.params.user_id);
    return reply.code(204).send(null);
  });
}
