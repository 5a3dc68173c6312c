import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';

const LOOPBACK_BINDS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/**
 * The Host names this server answers to, or undefined for any. A server bound to loopback is
 * reachable only from this machine, yet a web page can still reach it through DNS rebinding (its
 * own name re-resolved to 127.0.0.1 — MLflow's CVE-2025-14279): the browser then sends the
 * attacker's name as Host, so only loopback names (and those listed in ASSAY_ALLOWED_HOSTS) pass.
 * A server bound to every interface checks Host only when ASSAY_ALLOWED_HOSTS lists names.
 */
export function allowedHosts(config: Pick<Config, 'HOST' | 'ASSAY_ALLOWED_HOSTS'>): Set<string> | undefined {
  const listed = config.ASSAY_ALLOWED_HOSTS;
  if (LOOPBACK_BINDS.has(config.HOST)) return new Set([...LOOPBACK_NAMES, ...listed]);
  return listed.length ? new Set(listed) : undefined;
}

/** `Host: name:port`, `[::1]:8000`, `NAME.` → the bare lower-case name. */
export function hostName(header: string | undefined): string {
  const h = (header ?? '').trim().toLowerCase();
  const name = h.startsWith('[') ? h.slice(1, h.indexOf(']') >>> 0) : h.replace(/:\d*$/, '');
  return name.replace(/\.$/, '');
}

/**
 * HTTP hardening for every route: security headers (helmet), a CORS policy that is closed unless
 * ASSAY_CORS_ORIGINS names origins, and the Host allow-list above.
 */
export async function registerSecurity(app: FastifyInstance, config: Config): Promise<void> {
  const hosts = allowedHosts(config);
  if (hosts) {
    app.addHook('onRequest', async (request, reply) => {
      if (!hosts.has(hostName(request.headers.host))) {
        return reply.code(421).send({
          detail: `Host "${request.headers.host ?? ''}" is not served here (allowed: ${[...hosts].join(', ')}); set ASSAY_ALLOWED_HOSTS to add a name`,
        });
      }
    });
  }
  await app.register(helmet, {
    // The API answers JSON and the docs page loads its scripts from /docs/static: nothing inline,
    // nothing from other origins, never framed.
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    // Artifacts are downloaded by other tools (curl, the SDKs, notebooks on other origins).
    crossOriginResourcePolicy: { policy: 'same-site' },
    // Plain http on localhost is the default deployment; HSTS belongs to the TLS terminator.
    strictTransportSecurity: false,
  });
  // Closed by default: browsers on other origins cannot read responses. Listed origins may call
  // the API with a bearer key (no cookies: credentials stay off, so the session cookie only ever
  // works from our own origin).
  const origins = config.ASSAY_CORS_ORIGINS;
  await app.register(cors, {
    origin: origins.length ? origins : false,
    credentials: false,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Content-Encoding', 'X-Content-SHA256', 'Range', 'If-None-Match', 'X-CSRF-Token'],
    exposedHeaders: ['Retry-After', 'Server-Timing', 'ETag', 'Content-Range'],
    maxAge: 600,
  });
}
