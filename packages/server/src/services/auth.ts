import type { AppContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import { findActiveKey, touchKey } from '../stores/postgres/repos/teams.ts';
import { roleAtLeast, type Tenant } from '../stores/postgres/tenant.ts';
import type { Role } from '../stores/postgres/schema.ts';
import { hashApiKey } from './keys.ts';

const CACHE_TTL_MS = 30_000;
const CACHE_MAX = 10_000;
const TOUCH_EVERY_MS = 60_000;

/**
 * Key → tenant, with a short cache so the hot ingest path doesn't hit Postgres per request.
 * Revocations in this process drop the cache at once; other replicas see them within the TTL.
 */
export class Authenticator {
  private cache = new Map<string, { tenant: Tenant; until: number }>();
  private touched = new Map<string, number>();

  constructor(private readonly ctx: Pick<AppContext, 'pg'>) {}

  invalidate(): void {
    this.cache.clear();
  }

  async authenticate(authorization: string | undefined): Promise<Tenant> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) throw new HttpError(401, 'Not authenticated: send Authorization: Bearer <api key>', { 'WWW-Authenticate': 'Bearer' });
    const hash = hashApiKey(m[1]);
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.tenant;
    const row = await findActiveKey(this.ctx.pg.db, hash);
    if (!row) {
      this.cache.delete(hash);
      throw new HttpError(401, 'Invalid or revoked API key', { 'WWW-Authenticate': 'Bearer' });
    }
    // A key never carries more power than its user currently has in the team.
    const role: Role = roleAtLeast(row.memberRole, row.keyRole) ? row.keyRole : row.memberRole;
    const tenant: Tenant = { teamId: row.teamId, userId: row.userId, role, keyId: row.keyId };
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { tenant, until: now + CACHE_TTL_MS });
    if ((this.touched.get(row.keyId) ?? 0) + TOUCH_EVERY_MS < now) {
      this.touched.set(row.keyId, now);
      void touchKey(this.ctx.pg.db, tenant, new Date(now)).catch(() => undefined);
    }
    return tenant;
  }
}

export function requireRole(tenant: Tenant, min: Role): void {
  if (!roleAtLeast(tenant.role, min)) throw new HttpError(403, `This needs the ${min} role; your key has ${tenant.role}`);
}
