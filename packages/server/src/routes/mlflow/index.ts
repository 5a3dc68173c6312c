import type { FastifyInstance } from 'fastify';
import { registerAuth } from '../../plugins/auth.ts';
import { registerRequestDecompression } from '../../plugins/gzip.ts';
import type { Api, RouteDeps } from '../types.ts';
import { mlflowArtifactRoutes } from './artifacts.ts';
import { mlflowResponses } from './common.ts';
import { registerMlflowErrors } from './errors.ts';
import { mlflowExperimentRoutes } from './experiments.ts';
import { mlflowModelRoutes } from './models.ts';
import { mlflowRunRoutes } from './runs.ts';

/**
 * MLflow's REST tracking API (docs/mlflow.md), outside /api/v1. The real `mlflow` client authenticates
 * with MLFLOW_TRACKING_TOKEN (Bearer = an Assay API key) or MLFLOW_TRACKING_USERNAME/PASSWORD
 * (Basic: until web-UI users exist the username is ignored and the password must be an API key).
 */
function basicToBearer(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const m = /^Basic\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (!m) return;
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    request.headers.authorization = colon >= 0 ? `Bearer ${decoded.slice(colon + 1)}` : '';
  });
}

export async function mlflowRoutes(app: Api, deps: RouteDeps): Promise<void> {
  const scoped = (register: (api: Api) => void) => async (api: FastifyInstance) => {
    registerMlflowErrors(api);
    registerRequestDecompression(api);
    basicToBearer(api);
    registerAuth(api, deps.auth);
    register(api as unknown as Api);
  };
  // /ajax-api is what MLflow's own web UI calls; the same handlers answer there
  for (const root of ['/api/2.0/mlflow', '/ajax-api/2.0/mlflow']) {
    await app.register(scoped((api) => {
      mlflowExperimentRoutes(api, deps);
      mlflowRunRoutes(api, deps);
      mlflowModelRoutes(api, deps);
    }), { prefix: root });
  }
  await app.register(scoped((api) => mlflowArtifactRoutes(api, deps)), { prefix: '/api/2.0/mlflow-artifacts' });
  await app.register(scoped((api) => {
    api.get('/server-info', {
      schema: { tags: ['mlflow'], summary: 'MLflow 3 capability probe', description: 'What the MLflow client asks before artifact uploads: no multipart or presigned transfers, no workspaces.', response: mlflowResponses },
    }, async () => ({ store_type: 'SqlStore', workspaces_enabled: false, multipart_uploads_enabled: false, multipart_downloads_enabled: false, trace_archival_enabled: false }));
  }), { prefix: '/api/3.0/mlflow' });
}
