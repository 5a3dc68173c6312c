import { createGunzip, createInflate } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../errors.ts';

/**
 * Accepts `Content-Encoding: gzip|deflate` request bodies. The body limit applies to the
 * decompressed stream, so a small bomb still stops at the limit with 413.
 */
export function registerRequestDecompression(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    const enc = String(request.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (enc === 'identity') return payload;
    if (enc !== 'gzip' && enc !== 'deflate') throw new HttpError(415, `Unsupported Content-Encoding: ${enc}`);
    const inflater = enc === 'gzip' ? createGunzip() : createInflate();
    let encoded = 0;
    payload.on('data', (chunk: Buffer) => {
      encoded += chunk.length;
    });
    const out = payload.pipe(inflater) as typeof inflater & { receivedEncodedLength: number };
    // Fastify compares this with Content-Length; the decoded length differs by design.
    Object.defineProperty(out, 'receivedEncodedLength', { get: () => encoded });
    inflater.on('error', (e) => out.destroy(new HttpError(422, [{ loc: ['body'], msg: `invalid ${enc} body: ${e.message}`, type: 'decode_error' }])));
    return out;
  });
}
