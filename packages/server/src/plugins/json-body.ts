import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../errors.ts';

/**
 * JSON bodies must be UTF-8 (RFC 8259). Fastify's own parser decodes bytes that are not with
 * U+FFFD replacement characters, so a name would be stored altered rather than refused; this one
 * refuses them with a 422 and otherwise hands over to Fastify's parser (prototype-poisoning checks
 * included). Duplicate keys: the last one wins, as in JSON.parse (docs/api.md).
 */
export function registerJsonBody(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) {
      done(new HttpError(422, [{ loc: ['body'], msg: 'request body is not valid UTF-8', type: 'utf8_invalid' }]), undefined);
      return;
    }
    parse(request, bytes.toString('utf8'), done);
  });
}
