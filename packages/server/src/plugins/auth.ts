import type { FastifyInstance } from 'fastify';
import { SESSION_COOKIE, type Authenticator } from '../services/auth.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';

declare module 'fastify' {
  interface FastifyRequest {
    tenant: Tenant;
  }
  interface FastifyContextConfig {
    /** Route authenticates itself (the local admin token, sign-in); the auth hook skips it. */
    public?: boolean;
  }
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/**
 * Resolves the caller — API key, HTTP Basic or the session cookie (cookies parsed by
 * @fastify/cookie, registered in app.ts) — to `request.tenant` before anything else runs on an API
 * route; a cookie write without the right X-CSRF-Token stops here, before its body is read.
 */
export function registerAuth(app: FastifyInstance, auth: Authenticator): void {
  app.decorateRequest('tenant', null as unknown as Tenant);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.public) return;
    request.tenant = await auth.authenticate({
      authorization: request.headers.authorization,
      sessionToken: request.cookies?.[SESSION_COOKIE],
      csrfToken: header(request.headers['x-csrf-token']),
      method: request.method,
      ip: request.ip,
    });
  });
}
