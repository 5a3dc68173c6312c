import { and, eq, lt, or, type AnyColumn, type SQL } from 'drizzle-orm';
import type { Role } from './schema.ts';

/**
 * Who is calling: resolved by the auth plugin from an API key, a browser session or HTTP Basic; the
 * first argument of every store call. Exactly one of keyId / sessionId is set for keys and sessions;
 * both are null for HTTP Basic (the user's password, no stored credential of its own).
 */
export interface Tenant {
  teamId: string;
  userId: string;
  role: Role;
  keyId: string | null;
  sessionId: string | null;
}

const RANK: Record<Role, number> = { viewer: 0, researcher: 1, admin: 2 };
export const roleAtLeast = (role: Role, min: Role) => RANK[role] >= RANK[min];

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID_RE.test(s);

/** Opaque keyset cursor over (created_at, id). */
export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');
}
export function decodeCursor(cursor: string | undefined): { createdAt: Date; id: string } | undefined {
  if (!cursor) return undefined;
  const [iso, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const createdAt = new Date(iso ?? '');
  if (!id || !isUuid(id) || Number.isNaN(createdAt.getTime())) return undefined;
  return { createdAt, id };
}

/** Rows after the cursor in (created_at DESC, id DESC) order; undefined without a valid cursor. */
export function afterCursor(cols: { createdAt: AnyColumn; id: AnyColumn }, cursor: string | undefined): SQL | undefined {
  const c = decodeCursor(cursor);
  if (!c) return undefined;
  return or(lt(cols.createdAt, c.createdAt), and(eq(cols.createdAt, c.createdAt), lt(cols.id, c.id)));
}

/** Escape LIKE wildcards so a user's filter is matched literally. */
export const likeLiteral = (s: string) => `%${s.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
