import type { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { Artifact, ArtifactList, ArtifactUploadQuery, Sha256Hex } from '@assay/contracts';
import { HttpError } from '../errors.ts';
import * as svc from '../services/artifacts.ts';
import { errors, ExperimentParams, type Api, type RouteDeps } from './types.ts';

/**
 * Artifacts of an experiment. Uploads are raw bodies streamed to disk: inside this plugin every
 * Content-Type is handed to the handler as the unread request stream (no JSON/text parsing, no
 * in-memory body limit — ASSAY_ARTIFACT_MAX_BYTES is enforced while streaming).
 */
export function artifactRoutes(app: Api, { ctx }: RouteDeps): void {
  const tags = ['artifacts'];
  const base = '/projects/:project_id/experiments/:experiment_id/artifacts';

  app.register(async (scoped: Api) => {
    scoped.removeAllContentTypeParsers();
    scoped.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

    scoped.put(base, {
      schema: {
        tags,
        summary: 'Upload an artifact (raw body, streamed)',
        description:
          'Send the file as the raw request body (`Content-Type: application/octet-stream`, or the file\'s own media type, which is kept). ' +
          'Optional `X-Content-SHA256` is verified (422 on mismatch). 201 for a new path or new content at the path (replaces it, new id); ' +
          `200 with the existing artifact when the path already holds the same sha256. Over ${ctx.config.ASSAY_ARTIFACT_MAX_BYTES} bytes: 413.`,
        params: ExperimentParams,
        querystring: ArtifactUploadQuery,
        headers: z.looseObject({ 'x-content-sha256': Sha256Hex.optional() }),
        // declared so /openapi.json shows (and fuzzers send) a raw-bytes body; the stream itself is not validated
        consumes: ['application/octet-stream'],
        body: z.any().meta({ type: 'string', format: 'binary' }),
        response: { 201: Artifact, 200: Artifact, ...errors(403, 413) },
      },
    }, async (req, reply) => {
      const encoded = String(req.headers['content-encoding'] ?? 'identity').toLowerCase() !== 'identity';
      const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
      const r = await svc.uploadArtifact(ctx, req.tenant, req.params.project_id, req.params.experiment_id, {
        path: req.query.path,
        body: req.body as Readable | undefined,
        contentLength: encoded || !Number.isSafeInteger(declared) ? undefined : declared,
        expectedSha256: req.headers['x-content-sha256'],
        contentType: req.headers['content-type'],
      });
      return reply.code(r.status).send(r.artifact);
    });

    scoped.get(base, {
      schema: { tags, summary: 'List the artifacts of an experiment (by path)', params: ExperimentParams, response: { 200: ArtifactList, ...errors() } },
    }, (req) => svc.listArtifacts(ctx, req.tenant, req.params.project_id, req.params.experiment_id));

    scoped.get(`${base}/:artifact_id`, {
      schema: {
        tags,
        summary: 'Download an artifact',
        description: 'Streams the bytes as an attachment, with `Content-Length`, `ETag` (the sha256) and `X-Content-SHA256`. Supports a single `Range: bytes=…`.',
        params: ExperimentParams.extend({ artifact_id: z.string().min(1).max(255).describe('Artifact UUID') }),
        response: {
          200: z.any().meta({ type: 'string', format: 'binary' }).describe('The artifact bytes'),
          206: z.any().meta({ type: 'string', format: 'binary' }).describe('The requested byte range'),
          ...errors(410, 416),
        },
      },
    }, async (req, typedReply) => {
      const reply = typedReply as unknown as FastifyReply; // bytes, not a JSON schema
      const { artifact: a, open } = await svc.getArtifactContent(ctx, req.tenant, req.params.project_id, req.params.experiment_id, req.params.artifact_id);
      const etag = `"${a.sha256}"`;
      reply.headers({
        'content-type': a.contentType,
        'content-disposition': contentDisposition(a.path),
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
        'cache-control': 'private, max-age=0, must-revalidate',
        'accept-ranges': 'bytes',
        etag,
        'x-content-sha256': a.sha256,
      });
      if (req.headers['if-none-match'] === etag) return reply.code(304).send('');
      const ifRange = req.headers['if-range'];
      const range = parseRange(req.headers.range, a.size, Array.isArray(ifRange) ? ifRange[0] : ifRange, etag);
      if (range === 'unsatisfiable') {
        throw new HttpError(416, `Range not satisfiable for ${a.size} bytes`, { 'content-range': `bytes */${a.size}` });
      }
      if (range) {
        const stream = await open(range);
        return reply
          .code(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${a.size}`)
          .header('content-length', String(range.end - range.start + 1))
          .send(stream);
      }
      if (a.size === 0) return reply.header('content-length', '0').send('');
      const stream = await open();
      return reply.header('content-length', String(a.size)).send(stream);
    });
  });
}

/** `attachment` with the file's base name: an ASCII fallback plus the exact name as RFC 5987 `filename*`. */
export function contentDisposition(artifactPath: string): string {
  const base = artifactPath.slice(artifactPath.lastIndexOf('/') + 1) || 'artifact';
  const ascii = base.replace(/[^A-Za-z0-9._ +()-]/g, '_');
  const encoded = encodeURIComponent(base).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * One `bytes=` range (first-last, first-, or -suffix) → inclusive offsets; undefined to send the
 * whole body (no/unsupported/multi-range header, or If-Range not matching).
 */
export function parseRange(header: string | undefined, size: number, ifRange: string | undefined, etag: string): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header || (ifRange !== undefined && ifRange !== etag)) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size || size === 0) return 'unsatisfiable';
  return { start, end };
}
