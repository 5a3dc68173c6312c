import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** The web UI's production build (`npm run build -w packages/web`, run by `npm ci`'s prepare step). */
export const WEB_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../web/dist');

/** Paths that belong to the API, the docs or MLflow: an unknown one is a JSON 404, never the app. */
const NOT_THE_APP = /^\/(api|ajax-api|docs|openapi\.json|healthz|readyz)(\/|$|\?)/;

export type NotFoundFallback = (request: FastifyRequest, reply: FastifyReply) => FastifyReply | undefined;

/**
 * Serves the single-page app at `/`: hashed assets under `/assets/` cached for a year, everything
 * else the app routes itself (`/p/…`, `/signin`, …) answered with index.html, never cached, so a
 * new build reaches browsers at once. Returns the fallback the not-found handler consults.
 */
export async function registerWebUi(app: FastifyInstance, dist = WEB_DIST): Promise<NotFoundFallback> {
  const indexFile = path.join(dist, 'index.html');
  if (!fs.existsSync(indexFile)) {
    const missing = `The web UI is not built (${indexFile} is missing): run \`npm run build -w packages/web\`, or \`npm ci\` which builds it.`;
    return (request, reply) =>
      isAppPage(request) ? reply.status(503).type('text/plain; charset=utf-8').send(missing) : undefined;
  }
  const index = fs.readFileSync(indexFile);
  await app.register(fastifyStatic, {
    root: dist,
    prefix: '/',
    // Files are listed once at start (the build does not change under a running server).
    wildcard: false,
    index: false,
    // The build writes .br/.gz beside each asset; the browser gets them without per-request work.
    preCompressed: true,
    cacheControl: false,
    setHeaders(reply, file) {
      const immutable = file.includes(`${path.sep}assets${path.sep}`);
      reply.header('Cache-Control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  const sendIndex = (reply: FastifyReply) => reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-cache').send(index);
  app.get('/', { schema: { hide: true } }, (_req, reply) => sendIndex(reply));
  return (request, reply) => (isAppPage(request) ? sendIndex(reply) : undefined);
}

function isAppPage(request: FastifyRequest): boolean {
  return (request.method === 'GET' || request.method === 'HEAD') && !NOT_THE_APP.test(request.url);
}
