import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorResponse, Name } from '@assay/contracts';
import type { AppContext } from '../context.ts';
import type { Authenticator } from '../services/auth.ts';

export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, ZodTypeProvider>;

export interface RouteDeps {
  ctx: AppContext;
  auth: Authenticator;
}

export const ProjectParams = z.object({ project_id: Name('project_id').describe('Project UUID or name') });
export const ExperimentParams = ProjectParams.extend({ experiment_id: Name('experiment_id').describe('Experiment UUID or name') });

/**
 * The error responses every authenticated route can give, for the OpenAPI document: 429 is the
 * per-key rate limit, 503 a store that is unavailable or a read stopped by its per-query limits.
 */
export const errors = (...codes: number[]) => Object.fromEntries([401, 404, 422, 429, 503, ...codes].map((c) => [c, ErrorResponse]));
