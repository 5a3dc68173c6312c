import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AppContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import { findLiveSession, findUserByEmail, listUserTeams, touchSession } from '../stores/postgres/repos/sessions.ts';
import { findActiveKey, touchKey } from '../stores/postgres/repos/teams.ts';
import { roleAtLeast, type Tenant } from '../stores/postgres/tenant.ts';
import type { Role } from '../stores/postgres/schema.ts';
import { hashApiKey } from './keys.ts';
import { dummyVerify, sha256Hex, verifyPassword } from './passwords.ts';

const CACHE_TTL_MS = 30_000;
const CACHE_MAX = 10_000;
const TOUCH_EVERY_MS = 60_000;
/** A verified HTTP Basic header is trusted this long, so argon2 does not run on every MLflow call. */
const BASIC_TTL_MS = 60_000;

export const SESSION_COOKIE = 'assay_session';
export const SESSION_IDLE_MS = 7 * 24 * 3600_000;
export const SESSION_MAX_MS = 30 * 24 * 3600_000;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Failed authentications per client IP in a one-minute window: past the limit, the client's next
 * attempts are a 429 before any lookup (no Postgres query, no argon2). With REDIS_URL the window is
 * a Redis counter every replica shares (a client spreading its guesses over replicas gets the same
 * budget); without it, or while Redis fails, this process counts on its own (a limiter outage must
 * not become an API outage, nor switch the limit off).
 */
class FailureWindow {
  private readonly byIp = new Map<string, { n: number; until: number }>();
  constructor(
    private readonly limit: () => number,
    private readonly what: string,
    private readonly redis: Redis | undefined,
    private readonly prefix: string,
  ) {}

  /** 429 once the client has used up its failures in this window. */
  async check(ip: string, now: number): Promise<void> {
    const limit = this.limit();
    if (limit <= 0) return;
    const f = (await this.shared(ip, false)) ?? this.byIp.get(ip);
    if (f && f.until > now && f.n >= limit) {
      const seconds = Math.max(1, Math.ceil((f.until - now) / 1000));
      throw new HttpError(429, `Too many ${this.what} from this client; retry in ${seconds} s`, { 'Retry-After': String(seconds) });
    }
  }

  async failed(ip: string, now: number): Promise<void> {
    if ((await this.shared(ip, true)) !== undefined) return;
    const f = this.byIp.get(ip);
    if (!f || f.until <= now) {
      if (this.byIp.size >= CACHE_MAX) this.byIp.clear();
      this.byIp.set(ip, { n: 1, until: now + 60_000 });
    } else f.n++;
  }

  /** The Redis window (counted up when `add`): a counter whose first failure sets its 60 s expiry. */
  private async shared(ip: string, add: boolean): Promise<{ n: number; until: number } | undefined> {
    if (!this.redis) return undefined;
    const key = `${this.prefix}${ip}`;
    try {
      const m = this.redis.multi();
      if (add) m.set(key, 0, 'PX', 60_000, 'NX').incr(key);
      else m.get(key);
      const r = await m.pttl(key).exec();
      if (!r || r.some(([err]) => err)) return undefined;
      const n = Number(r[r.length - 2][1] ?? 0);
      const ttl = Number(r[r.length - 1][1]);
      return { n, until: Date.now() + Math.max(0, ttl) };
    } catch {
      return undefined;
    }
  }
}

/**
 * Key and membership changes, password changes and revocations clear the caches of every replica:
 * a message on this Redis channel (the sender's id, which it ignores). Without Redis, or if a
 * message is lost while a replica is disconnected, the TTLs bound it (CACHE_TTL_MS, BASIC_TTL_MS).
 */
const INVALIDATE_CHANNEL = 'assay:auth-invalidate';

/**
 * The same message from a process that serves nothing (the CLI writing PostgreSQL itself): every
 * running replica drops its cached keys and sign-ins. Best effort, like the replicas' own.
 */
export async function broadcastAuthInvalidation(redisUrl: string): Promise<void> {
  const redis = new Redis(redisUrl, { connectTimeout: 2000, maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.publish(INVALIDATE_CHANNEL, 'cli');
  } catch {
    /* no Redis: the replicas' cache TTLs bound it */
  } finally {
    redis.disconnect();
  }
}

/** What the auth plugin hands over from a request. */
export interface Credentials {
  authorization?: string;
  /** The assay_session cookie. */
  sessionToken?: string;
  csrfToken?: string;
  method: string;
  ip: string;
}

export const constantTimeEqual = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * Credentials → tenant: an API key (`Authorization: Bearer`), HTTP Basic with a user's email and
 * password (MLflow clients), or the browser session cookie. Keys and Basic headers are cached for a
 * short time so the hot ingest path doesn't hit Postgres (or argon2) per request; membership, key
 * and password changes drop the caches at once in this process and, through Redis, in the other
 * replicas (without Redis they see them within the TTL: 30 s for keys, 60 s for Basic).
 * Sessions are read per request (their role, expiry and sign-out apply at once).
 */
export class Authenticator {
  private cache = new Map<string, { tenant: Tenant; until: number }>();
  private basic = new Map<string, { tenant: Tenant; until: number }>();
  private touched = new Map<string, number>();
  /** Wrong Basic passwords (each costs an argon2 verify): the sign-in budget. */
  private readonly wrongPasswords: FailureWindow;
  /** Unknown or revoked API keys (each costs a Postgres lookup): the unauthenticated budget. */
  private readonly wrongKeys: FailureWindow;
  private readonly id = randomBytes(8).toString('hex');
  private readonly subscriber: Redis | undefined;

  constructor(
    private readonly ctx: Pick<AppContext, 'pg' | 'config'>,
    /** Shared with the rate limits (plugins/rate-limit.ts); REDIS_URL unset: undefined. */
    private readonly redis?: Redis,
  ) {
    this.wrongPasswords = new FailureWindow(() => ctx.config.ASSAY_LOGIN_RATE_LIMIT_PER_MINUTE, 'wrong passwords', redis, 'assay-auth-fail:password:');
    this.wrongKeys = new FailureWindow(() => ctx.config.ASSAY_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE, 'invalid API keys', redis, 'assay-auth-fail:key:');
    if (redis) {
      // a connection in subscriber mode takes no other commands: its own
      this.subscriber = redis.duplicate();
      this.subscriber.on('error', () => undefined);
      this.subscriber.on('message', (_channel: string, from: string) => {
        if (from !== this.id) this.clear();
      });
      this.subscriber.subscribe(INVALIDATE_CHANNEL).catch(() => undefined);
    }
  }

  /** Drops every cached key and Basic sign-in, here and (through Redis) in every other replica. */
  invalidate(): void {
    this.clear();
    this.redis?.publish(INVALIDATE_CHANNEL, this.id).catch(() => undefined);
  }

  private clear(): void {
    this.cache.clear();
    this.basic.clear();
  }

  /** Closes the invalidation subscription (with the app). */
  async close(): Promise<void> {
    await this.subscriber?.quit().catch(() => this.subscriber?.disconnect());
  }

  async authenticate(c: Credentials): Promise<Tenant> {
    const authorization = c.authorization?.trim();
    if (authorization) {
      if (/^Basic\s/i.test(authorization)) return this.fromBasic(authorization, c.ip);
      return this.fromKey(authorization, c.ip);
    }
    if (c.sessionToken) return this.fromSession(c);
    throw new HttpError(401, 'Not authenticated: send Authorization: Bearer <api key>, or sign in (POST /api/v1/auth/login)', { 'WWW-Authenticate': 'Bearer' });
  }

  private async fromKey(authorization: string, ip: string): Promise<Tenant> {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!m) throw new HttpError(401, 'Not authenticated: send Authorization: Bearer <api key>', { 'WWW-Authenticate': 'Bearer' });
    const hash = hashApiKey(m[1]);
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.tenant;
    const row = await findActiveKey(this.ctx.pg.db, hash);
    if (!row) {
      this.cache.delete(hash);
      // after the lookup: a flood of bad keys from one address never locks out a good key from it
      await this.wrongKeys.check(ip, now);
      await this.wrongKeys.failed(ip, now);
      throw new HttpError(401, 'Invalid or revoked API key', { 'WWW-Authenticate': 'Bearer' });
    }
    // A key never carries more power than its user currently has in the team.
    const role: Role = roleAtLeast(row.memberRole, row.keyRole) ? row.keyRole : row.memberRole;
    const tenant: Tenant = { teamId: row.teamId, userId: row.userId, role, keyId: row.keyId, sessionId: null };
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { tenant, until: now + CACHE_TTL_MS });
    if ((this.touched.get(row.keyId) ?? 0) + TOUCH_EVERY_MS < now) {
      this.touched.set(row.keyId, now);
      void touchKey(this.ctx.pg.db, tenant, new Date(now)).catch(() => undefined);
    }
    return tenant;
  }

  /**
   * `Basic base64(email:password)`: the user's oldest team, with their member role. A password that
   * is an API key (`assay_…`, any username) is that key — what MLflow clients sent before users had
   * passwords. We never answer with a Basic challenge, so browsers don't remember these credentials
   * and send them on their own (which would make them a CSRF vector like a cookie).
   */
  private async fromBasic(authorization: string, ip: string): Promise<Tenant> {
    const cacheKey = sha256Hex(authorization);
    const now = Date.now();
    const hit = this.basic.get(cacheKey);
    if (hit && hit.until > now) return hit.tenant;
    const decoded = Buffer.from(authorization.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const email = colon < 0 ? '' : decoded.slice(0, colon);
    const password = colon < 0 ? '' : decoded.slice(colon + 1);
    if (password.startsWith('assay_')) return this.fromKey(`Bearer ${password}`, ip);
    await this.wrongPasswords.check(ip, now);
    const tenant = email && password && email.length <= 320 && password.length <= 1024 ? await this.verifyBasic(email, password) : undefined;
    if (!tenant) {
      await this.wrongPasswords.failed(ip, now);
      throw new HttpError(401, 'wrong email or password');
    }
    if (this.basic.size >= CACHE_MAX) this.basic.clear();
    this.basic.set(cacheKey, { tenant, until: now + BASIC_TTL_MS });
    return tenant;
  }

  private async verifyBasic(email: string, password: string): Promise<Tenant | undefined> {
    const user = email.includes('\0') ? undefined : await findUserByEmail(this.ctx.pg.db, email);
    if (!user?.passwordHash) {
      await dummyVerify(password);
      return undefined;
    }
    if (!(await verifyPassword(user.passwordHash, password))) return undefined;
    const [team] = await listUserTeams(this.ctx.pg.db, user.id);
    if (!team) return undefined;
    return { teamId: team.teamId, userId: user.id, role: team.role, keyId: null, sessionId: null };
  }

  private async fromSession(c: Credentials): Promise<Tenant> {
    const now = new Date();
    const s = await findLiveSession(this.ctx.pg.db, sha256Hex(c.sessionToken!), now, SESSION_IDLE_MS);
    if (!s) throw new HttpError(401, 'Signed out or session expired: sign in again', { 'Set-Cookie': clearedSessionCookie() });
    // Synchronizer token: a cross-site form or fetch carries the cookie but cannot read the token.
    if (!SAFE_METHODS.has(c.method) && !(c.csrfToken && constantTimeEqual(c.csrfToken, s.csrfToken))) {
      throw new HttpError(403, 'missing or wrong X-CSRF-Token header: a signed-in browser sends the csrf_token from POST /api/v1/auth/login or GET /api/v1/auth/session with every write');
    }
    const tenant: Tenant = { teamId: s.teamId, userId: s.userId, role: s.role, keyId: null, sessionId: s.sessionId };
    if (now.getTime() - s.lastSeenAt.getTime() > TOUCH_EVERY_MS) void touchSession(this.ctx.pg.db, tenant, now).catch(() => undefined);
    return tenant;
  }
}

/** Set-Cookie value that removes the session cookie (same name, path and flags, expired). */
export const clearedSessionCookie = (): string => `${SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax`;

export function requireRole(tenant: Tenant, min: Role): void {
  if (!roleAtLeast(tenant.role, min)) throw new HttpError(403, `This needs the ${min} role; yours here is ${tenant.role}`);
}
