import { randomBytes } from 'node:crypto';
import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { AppContext } from './context.ts';
import { registerAuth } from './plugins/auth.ts';
import { frameworkErrors, registerErrorHandling, registerNotFound } from './plugins/errors.ts';
import { registerRequestDecompression } from './plugins/gzip.ts';
import { registerOpenApi } from './plugins/openapi.ts';
import { registerRateLimit } from './plugins/rate-limit.ts';
import { registerSecurity } from './plugins/security.ts';
import { registerWebUi } from './plugins/web-ui.ts';
import { adminRoutes } from './routes/admin.ts';
import { artifactRoutes } from './routes/artifacts.ts';
import { authRoutes } from './routes/auth.ts';
import { experimentRoutes } from './routes/experiments.ts';
import { healthRoutes } from './routes/health.ts';
import { hypothesisRoutes } from './routes/hypotheses.ts';
import { lineageRoutes } from './routes/lineage.ts';
import { metricRoutes } from './routes/metrics.ts';
import { mlflowRoutes } from './routes/mlflow/index.ts';
import { projectMetricRoutes } from './routes/project-metrics.ts';
import { projectRoutes } from './routes/projects.ts';
import { teamRoutes } from './routes/team.ts';
import { uiDataRoutes } from './routes/ui-data.ts';
import type { Api, RouteDeps } from './routes/types.ts';
import { Authenticator } from './services/auth.ts';

export interface BuiltApp {
  app: FastifyInstance;
  /** Every registered route, for the tenant-isolation suite. */
  routes: { method: string; url: string }[];
  adminToken: string;
}

export interface AppOptions {
  logger?: boolean;
  adminToken?: string;
}

/** The Fastify app over already-open stores; no listen(). Tests drive it with app.inject(). */
export async function buildApp(ctx: AppContext, opts: AppOptions = {}): Promise<BuiltApp> {
  const app = Fastify({
    // Per-request lines are info-level in Fastify; at the default level we only want warnings and
    // errors from it (our banner says where we listen). debug/trace turn request logs on.
    logger: opts.logger ? { level: ctx.config.LOG_LEVEL === 'info' ? 'warn' : ctx.config.LOG_LEVEL } : false,
    bodyLimit: ctx.config.ASSAY_BODY_LIMIT,
    // Metric batches can be big; keep-alive clients send many.
    keepAliveTimeout: 65_000,
    // Metric names are up to 250 Unicode characters; percent-encoded that can reach ~3 kB.
    routerOptions: { maxParamLength: 4096 },
    frameworkErrors,
    // request.ip (per-IP rate limits, sign-in throttling) is the client's behind a trusted proxy
    trustProxy: ctx.config.ASSAY_TRUST_PROXY.length ? ctx.config.ASSAY_TRUST_PROXY : false,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  // Responses are built by our own DTO functions; re-validating 100k points per response would
  // cost more than the query. The zod response schemas still document the API.
  void serializerCompiler;
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  const routes: BuiltApp['routes'] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push({ method, url: r.url });
  });

  // Server-side time per request, for clients and benchmarks that want it without network noise.
  app.addHook('onSend', async (_request, reply) => {
    reply.header('Server-Timing', `app;dur=${reply.elapsedTime.toFixed(2)}`);
  });
  registerErrorHandling(app);
  await registerSecurity(app, ctx.config);
  // the session cookie (routes/auth.ts sets it, plugins/auth.ts reads it); nothing is signed: the value is a random token
  await app.register(cookie);
  registerNotFound(app, await registerWebUi(app));
  const redis = await registerRateLimit(app, ctx.config);
  await registerOpenApi(app);
  const auth = new Authenticator(ctx, redis);
  app.addHook('onClose', () => auth.close());
  const deps: RouteDeps = { ctx, auth };
  const adminToken = opts.adminToken ?? randomBytes(32).toString('base64url');
  healthRoutes(app as Api, deps);

  await app.register(
    async (api) => {
      registerRequestDecompression(api);
      registerAuth(api, auth);
      const a = api as unknown as Api;
      projectRoutes(a, deps);
      projectMetricRoutes(a, deps);
      experimentRoutes(a, deps);
      hypothesisRoutes(a, deps);
      lineageRoutes(a, deps);
      artifactRoutes(a, deps);
      metricRoutes(a, deps);
      uiDataRoutes(a, deps);
      teamRoutes(a, deps);
      authRoutes(a, deps);
      adminRoutes(a, deps, adminToken);
    },
    { prefix: '/api/v1' },
  );
  // MLflow's REST API at MLflow's paths (not under /api/v1), errors in MLflow's shape: docs/mlflow.md
  await mlflowRoutes(app as Api, deps);
  await app.ready();
  return { app, routes: routes.filter((r) => r.url.startsWith('/api/')), adminToken };
}
