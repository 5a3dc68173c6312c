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
import { mlflowGetArtifactRoute, mlflowUiRoutes } from './ui.ts';

/**
 * MLflow's REST tracking API (docs/mlflow.md), outside /api/v1. The real `mlflow` client authenticates
 * with MLFLOW_TRACKING_TOKEN (Bearer = an Assay API key) or MLFLOW_TRACKING_USERNAME/PASSWORD
 * (Basic: a user's email and password, or any username with an API key as the password — both
 * resolved by services/auth.ts like on /api/v1).
 */
export async function mlflowRoutes(app: Api, deps: RouteDeps): Promise<void> {
  const scoped = (register: (api: Api) => void) => async (api: FastifyInstance) => {
    registerMlflowErrors(api);
    registerRequestDecompression(api);
    registerAuth(api, deps.auth);
    register(api as unknown as Api);
  };
  // /ajax-api is what MLflow's own web UI calls; the same handlers answer there
  for (const root of ['/api/2.0/mlflow', '/ajax-api/2.0/mlflow']) {
    await app.register(scoped((api) => {
      mlflowExperimentRoutes(api, deps);
      mlflowRunRoutes(api, deps);
      mlflowModelRoutes(api, deps);
      if (root.startsWith('/ajax-api')) mlflowUiRoutes(api, deps);
    }), { prefix: root });
  }
  // the web UI's file viewer, at the server root as in MLflow (its own prefix: the root's 404 handler is the web UI's)
  await app.register(scoped((api) => mlflowGetArtifactRoute(api, deps)), { prefix: '/get-artifact' });
  await app.register(scoped((api) => mlflowArtifactRoutes(api, deps)), { prefix: '/api/2.0/mlflow-artifacts' });
  await app.register(scoped((api) => {
    api.get('/server-info', {
      schema: { tags: ['mlflow'], summary: 'MLflow 3 capability probe', description: 'What the MLflow client asks before artifact uploads: no multipart or presigned transfers, no workspaces.', response: mlflowResponses },
    }, async () => ({ store_type: 'SqlStore', workspaces_enabled: false, multipart_uploads_enabled: false, multipart_downloads_enabled: false, trace_archival_enabled: false }));
  }), { prefix: '/api/3.0/mlflow' });
}
