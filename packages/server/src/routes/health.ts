import { z } from 'zod';
import type { Api, RouteDeps } from './types.ts';

export function healthRoutes(app: Api, { ctx }: RouteDeps): void {
  app.get('/healthz', {
    config: { public: true },
    schema: { tags: ['health'], summary: 'The process is alive', security: [], response: { 200: z.object({ status: z.literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    config: { public: true },
    schema: {
      tags: ['health'],
      summary: 'Both stores answer',
      security: [],
      response: { 200: z.object({ status: z.string(), postgres: z.string(), clickhouse: z.string() }), 503: z.object({ status: z.string(), postgres: z.string(), clickhouse: z.string() }) },
    },
  }, async (req, reply) => {
    // A store's error text names hosts, users and databases: useful on a laptop, a map for anyone
    // probing a production server (this route is public). There it goes to the log only.
    const production = ctx.config.ENVIRONMENT === 'production';
    const check = (p: Promise<void>) =>
      p.then(() => 'ok', (e: Error) => {
        if (!production) return `error: ${e.message}`;
        req.log.error({ err: e }, 'readiness check failed');
        return 'error';
      });
    const [postgres, clickhouse] = await Promise.all([check(ctx.pg.ping()), check(ctx.ch.ping())]);
    const ok = postgres === 'ok' && clickhouse === 'ok';
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable', postgres, clickhouse });
  });
}
