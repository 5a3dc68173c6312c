import type { FastifyInstance } from 'fastify';
import type { Authenticator } from '../services/auth.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';

declare module 'fastify' {
  interface FastifyRequest {
    tenant: Tenant;
  }
  interface FastifyContextConfig {
    /** Route authenticates itself (e.g. the local admin token); the API-key hook skips it. */
    public?: boolean;
  }
}

/** Resolves the bearer key to `request.tenant` before anything else runs on an API route. */
export function registerAuth(app: FastifyInstance, auth: Authenticator): void {
  app.decorateRequest('tenant', null as unknown as Tenant);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.public) return;
    request.tenant = await auth.authenticate(request.headers.authorization);
  });
}
