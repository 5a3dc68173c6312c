import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { artifactPathProblem } from '@assay/contracts';
import type { AppContext } from '../context.ts';
import { HttpError, notFound, unprocessable } from '../errors.ts';
import { BlobTooLargeError, commitBlob, discardBlob, openBlob, receiveBlob } from '../stores/artifact-blobs.ts';
import * as repo from '../stores/postgres/repos/artifacts.ts';
import type { ArtifactRow } from '../stores/postgres/repos/artifacts.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { requireRole } from './auth.ts';
import { resolveExperiment } from './resolve.ts';

export const artifactDto = (a: ArtifactRow) => ({
  id: a.id,
  experiment_id: a.experimentId,
  path: a.path,
  size: a.size,
  sha256: a.sha256,
  content_type: a.contentType,
  created_at: a.createdAt.toISOString(),
});

const tooLarge = (max: number) =>
  // The rest of an oversized body is not worth reading: answer and close the connection.
  new HttpError(413, `Artifact too large: the limit is ${max} bytes (ASSAY_ARTIFACT_MAX_BYTES)`, { connection: 'close' });

/** A media type worth keeping (`type/subtype`, no parameters); anything else is stored as octet-stream. */
function mediaType(header: string | undefined): string {
  const t = header?.split(';')[0]?.trim().toLowerCase();
  return t && t.length <= 255 && /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(t) ? t : 'application/octet-stream';
}

export interface UploadInput {
  path: string;
  /** The raw request body; undefined for an empty body. */
  body: Readable | undefined;
  /** Declared size of the body as received (not set for a Content-Encoding'd body). */
  contentLength?: number;
  /** Hex sha256 the client claims (X-Content-SHA256); verified against the received bytes. */
  expectedSha256?: string;
  contentType?: string;
}

/**
 * Streams an upload into the team's content-addressed store and records it under `path`.
 * 201 for a new path or new content at an existing path (the row is replaced, new id);
 * 200 with the existing row when the same path already holds the same sha256.
 */
export async function uploadArtifact(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string, input: UploadInput) {
  requireRole(tenant, 'researcher');
  const problem = artifactPathProblem(input.path);
  if (problem) throw unprocessable(['query', 'path'], problem);
  const { project, experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName);
  const max = ctx.config.ASSAY_ARTIFACT_MAX_BYTES;
  if (input.contentLength !== undefined && input.contentLength > max) throw tooLarge(max);
  const expected = input.expectedSha256?.toLowerCase();

  if (expected) {
    // Same path, same content already stored: answer without writing anything. The unread body is
    // drained by Node, so the connection stays usable for the client's next request.
    const existing = await repo.findArtifactByPath(ctx.pg.db, tenant, experiment.id, input.path);
    if (existing && existing.sha256 === expected && (input.contentLength === undefined || input.contentLength === existing.size)) {
      return { status: 200 as const, artifact: artifactDto(existing) };
    }
  }

  const root = ctx.config.artifactDir;
  let blob;
  try {
    blob = await receiveBlob(root, tenant.teamId, input.body ?? Readable.from([]), max);
  } catch (e) {
    if (e instanceof BlobTooLargeError) {
      input.body?.resume(); // discard what is still in flight until the connection closes
      throw tooLarge(max);
    }
    throw e;
  }
  try {
    if (expected && blob.sha256 !== expected) {
      throw unprocessable(['header', 'x-content-sha256'], `sha256 mismatch: the received ${blob.size} bytes hash to ${blob.sha256}`, 'checksum_mismatch');
    }
    await commitBlob(root, tenant.teamId, blob);
  } finally {
    await discardBlob(blob);
  }
  const { row, created } = await repo.upsertArtifact(ctx.pg.db, tenant, {
    id: randomUUID(),
    projectId: project.id,
    experimentId: experiment.id,
    path: input.path,
    size: blob.size,
    sha256: blob.sha256,
    contentType: mediaType(input.contentType),
  });
  return { status: created ? (201 as const) : (200 as const), artifact: artifactDto(row) };
}

export async function listArtifacts(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string, o: { includeDeleted?: boolean } = {}) {
  const { experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName, o);
  return { items: (await repo.listArtifacts(ctx.pg.db, tenant, experiment.id)).map(artifactDto) };
}

/** The artifact row and a way to open its bytes (whole, or an inclusive byte range). */
export async function getArtifactContent(ctx: AppContext, tenant: Tenant, projectIdOrName: string, experimentIdOrName: string, artifactId: string, o: { includeDeleted?: boolean } = {}) {
  const { experiment } = await resolveExperiment(ctx, tenant, projectIdOrName, experimentIdOrName, o);
  const row = await repo.findArtifact(ctx.pg.db, tenant, experiment.id, artifactId);
  if (!row) throw notFound('Artifact');
  return {
    artifact: row,
    open: async (range?: { start: number; end: number }) => {
      const stream = await openBlob(ctx.config.artifactDir, tenant.teamId, row.sha256, range);
      if (!stream) throw new HttpError(410, 'The artifact is recorded but its content is missing from the artifact store');
      return stream;
    },
  };
}
