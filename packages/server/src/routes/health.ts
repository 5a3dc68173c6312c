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
  }, async (_req, reply) => {
    const check = (p: Promise<void>) => p.then(() => 'ok', (e: Error) => `error: ${e.message}`);
    const [postgres, clickhouse] = await Promise.all([check(ctx.pg.ping()), check(ctx.ch.ping())]);
    const ok = postgres === 'ok' && clickhouse === 'ok';
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable', postgres, clickhouse });
  });
}
