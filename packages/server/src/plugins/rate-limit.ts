import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { HttpError } from '../errors.ts';

/**
 * Per-key rate limits (OWASP API4) with @fastify/rate-limit: a fixed one-minute window per API key
 * (per client IP on routes that take no key), 429 + Retry-After beyond it. Counters live in this
 * process, or in Redis when REDIS_URL is set so replicas share them.
 *
 * The plugin's hook is route-level, so it runs after the API-key hook: the bucket is the key the
 * request authenticated with (its id), and a request with a bad key is a 401 that costs no count.
 */
/** The API (ours and MLflow's, with its web UI's /ajax-api alias); not probes or docs. */
const LIMITED = /^\/(?:api|ajax-api)\//;

/** Returns the Redis client (REDIS_URL set) for the other shared state (services/auth.ts); closed with the app. */
export async function registerRateLimit(app: FastifyInstance, config: Config): Promise<Redis | undefined> {
  const perKey = config.ASSAY_RATE_LIMIT_PER_MINUTE;
  const perIp = config.ASSAY_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE;
  let redis: Redis | undefined;
  if (config.REDIS_URL) {
    // Fail fast rather than queue: a request must not hang on an unreachable Redis (the plugin then
    // lets it through, skipOnError — a limiter outage must not become an API outage).
    redis = new Redis(config.REDIS_URL, { connectTimeout: 2000, maxRetriesPerRequest: 1, enableOfflineQueue: true, lazyConnect: false });
    redis.on('error', () => undefined); // reported by the failing command; don't crash on reconnect noise
    app.addHook('onClose', async () => {
      await redis!.quit().catch(() => redis!.disconnect());
    });
  }
  // a key's budget, a browser session's, or (HTTP Basic) the user's in that team; else the client IP
  const bucket = (request: FastifyRequest) => {
    const t = request.tenant;
    if (!t) return `ip:${request.ip}`;
    return t.keyId ? `key:${t.keyId}` : t.sessionId ? `session:${t.sessionId}` : `user:${t.teamId}:${t.userId}`;
  };
  await app.register(rateLimit, {
    global: true,
    timeWindow: 60_000,
    max: (_request, key) => (key.startsWith('ip:') ? perIp : perKey),
    keyGenerator: bucket,
    allowList: (request) => !LIMITED.test(request.url) || (request.tenant ? perKey === 0 : perIp === 0),
    redis,
    nameSpace: 'assay-rate-limit:',
    skipOnError: true,
    // only the 429 answer carries the limit headers: no per-response header noise for SDK traffic
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    errorResponseBuilder: (request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000));
      const b = bucket(request);
      const who = b.startsWith('key:') ? 'API key' : b.startsWith('ip:') ? 'client' : b.startsWith('session:') ? 'session' : 'user';
      return new HttpError(429, `Rate limit exceeded: ${context.max} requests per minute for this ${who}; retry in ${seconds} s`, { 'Retry-After': String(seconds) });
    },
  });
  return redis;
}
