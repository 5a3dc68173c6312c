import type { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { AppContext } from '../../context.ts';
import * as artifacts from '../../services/artifacts.ts';
import { invalid, missing } from '../../services/mlflow/errors.ts';
import { runOfModel } from '../../services/mlflow/models.ts';
import { modelArtifactUri, proxied, runArtifactUri } from '../../services/mlflow/artifact-location.ts';
import { hex, uuidOf } from '../../services/mlflow/model.ts';
import { findRun } from '../../services/mlflow/runs.ts';
import type { ExperimentRow } from '../../stores/postgres/repos/experiments.ts';
import type { Tenant } from '../../stores/postgres/tenant.ts';
import { contentDisposition } from '../artifacts.ts';
import type { Api, RouteDeps } from '../types.ts';
import { input, schema } from './common.ts';

/** Logged-model files are artifacts of the model's source run under this prefix. */
export const MODEL_PREFIX = '.mlflow/models';

/**
 * `<root>/<run>/artifacts/<path>` → the run and the Assay artifact path;
 * `<root>/models/<model_id>/artifacts/<path>` → the model's run and `.mlflow/models/<model_id>/<path>`.
 * `<root>` is the experiment id (the default location) or the path of a host-less
 * `mlflow-artifacts:` artifact_location; the run's own artifact URI must be exactly that prefix,
 * so a path can reach only a run of the caller's team, through the location the run was given.
 */
async function locate(ctx: AppContext, tenant: Tenant, full: string): Promise<{ run: ExperimentRow; rel: string }> {
  const parts = full.replace(/^\/+/, '').split('/');
  // the first `artifacts` segment preceded by a run id (or models/<id>) whose URI matches the prefix
  for (let i = 1; i < parts.length && i <= 64; i++) {
    if (parts[i] !== 'artifacts') continue;
    const isModel = i >= 2 && parts[i - 2] === 'models' && parts[i - 1].startsWith('m-');
    if (!isModel && !uuidOf(parts[i - 1])) continue;
    const run = await (isModel ? runOfModel(ctx, tenant, parts[i - 1]) : findRun(ctx, tenant, parts[i - 1])).catch(() => undefined);
    if (!run) continue;
    const uri = isModel ? modelArtifactUri(run, parts[i - 1]) : runArtifactUri(run);
    if (uri !== `mlflow-artifacts:/${parts.slice(0, i + 1).join('/')}`) continue;
    const rest = parts.slice(i + 1);
    // MLflow's proxy validates the path under the run the same way: `..`/absolute/NUL is "Invalid path", not a 404 or an empty listing
    if (!safeArtifactPath(rest.join('/'))) throw invalid('Invalid path');
    const rel = (isModel ? [MODEL_PREFIX, parts[i - 1], ...rest] : rest).join('/');
    return { run, rel: rel.replace(/\/+$/, '') };
  }
  // the path is not echoed: it may name another team's run
  throw missing('Artifact path not found: no run or model of your team at <artifact location>/<run_id>/artifacts/… or …/models/<model_id>/artifacts/…');
}

/**
 * MLflow's validate_path_is_safe: no `..` segment, no absolute or drive path, no backslash, also once
 * percent-decoded. Listing `../x` must be refused, not answered with an empty (or another) listing.
 * No NUL either: no Assay artifact path holds one (the upload refuses it).
 */
export function safeArtifactPath(path: string): boolean {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return false;
  }
  return [path, decoded].every((p) => !p.includes('\\') && !p.includes('\u0000') && !p.startsWith('/') && !/^[A-Za-z]:/.test(p) && !p.split('/').includes('..'));
}

/** One directory level, as MLflow lists it: base names, directories flagged, sizes of files. */
export async function listRunArtifacts(ctx: AppContext, tenant: Tenant, run: ExperimentRow, dir: string) {
  // the client wrote them to its own location (file:, s3:, …), which Assay never opens
  const uri = runArtifactUri(run);
  if (!proxied(uri)) return { root_uri: uri, files: [] };
  // MLflow lists the artifacts of a run whose experiment is deleted (reads only; uploads stay refused)
  const all = (await artifacts.listArtifacts(ctx, tenant, run.projectId, run.id, { includeDeleted: true })).items;
  const prefix = dir ? `${dir.replace(/\/+$/, '')}/` : '';
  const entries = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
  for (const a of all) {
    if (!a.path.startsWith(prefix)) continue;
    const rest = a.path.slice(prefix.length);
    const slash = rest.indexOf('/');
    const name = slash < 0 ? rest : rest.slice(0, slash);
    if (!prefix && name === '.mlflow') continue; // logged-model files are listed under their model
    if (slash < 0) entries.set(name, { path: name, is_dir: false, file_size: a.size });
    else if (!entries.has(name)) entries.set(name, { path: name, is_dir: true });
  }
  return { root_uri: '', files: [...entries.values()].sort((x, y) => x.path.localeCompare(y.path)) };
}

/** MLflow's artifact proxy (`mlflow-artifacts:` URIs): uploads, downloads and listings go to Assay's artifact store. */
export function mlflowArtifactRoutes(app: Api, { ctx }: RouteDeps): void {
  app.register(async (scoped: Api) => {
    // raw bodies streamed to the blob store, as Assay's own artifact upload does
    scoped.removeAllContentTypeParsers();
    scoped.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

    scoped.put('/artifacts/*', schema('MLflow artifact proxy: upload one file (raw body)'), async (req) => {
      const { run, rel } = await locate(ctx, req.tenant, (req.params as Record<string, string>)['*']);
      const encoded = String(req.headers['content-encoding'] ?? 'identity').toLowerCase() !== 'identity';
      const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
      await artifacts.uploadArtifact(ctx, req.tenant, run.projectId, run.id, {
        path: rel,
        body: req.body as Readable | undefined,
        contentLength: encoded || !Number.isSafeInteger(declared) ? undefined : declared,
        contentType: req.headers['content-type'],
      });
      return {};
    });

    scoped.get('/artifacts/*', schema('MLflow artifact proxy: download one file'), async (req, typedReply) => {
      const reply = typedReply as unknown as FastifyReply;
      const { run, rel } = await locate(ctx, req.tenant, (req.params as Record<string, string>)['*']);
      const found = (await artifacts.listArtifacts(ctx, req.tenant, run.projectId, run.id, { includeDeleted: true })).items.find((a) => a.path === rel);
      if (!found) throw missing(`Artifact '${rel}' not found in run ${hex(run.id)}`);
      const { artifact: a, open } = await artifacts.getArtifactContent(ctx, req.tenant, run.projectId, run.id, found.id, { includeDeleted: true });
      reply.headers({ 'content-type': a.contentType, 'content-disposition': contentDisposition(a.path), 'x-content-type-options': 'nosniff', 'content-length': String(a.size) });
      return reply.send(a.size === 0 ? '' : await open());
    });

    scoped.get('/artifacts', schema('MLflow artifact proxy: list one directory (`?path=<experiment>/<run>/artifacts/<dir>`)'), async (req) => {
      const path = String(input(req).path ?? '');
      const { run, rel } = await locate(ctx, req.tenant, path);
      return listRunArtifacts(ctx, req.tenant, run, rel);
    });
  });
}
