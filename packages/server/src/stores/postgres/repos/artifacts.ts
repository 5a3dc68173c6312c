import { and, asc, eq, ne, sql } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { artifacts } from '../schema.ts';
import { isUuid, type Tenant } from '../tenant.ts';

export type ArtifactRow = typeof artifacts.$inferSelect;

const scope = (tenant: Tenant, experimentId: string) => and(eq(artifacts.teamId, tenant.teamId), eq(artifacts.experimentId, experimentId));

export async function listArtifacts(db: Db, tenant: Tenant, experimentId: string): Promise<ArtifactRow[]> {
  return db.select().from(artifacts).where(scope(tenant, experimentId)).orderBy(asc(artifacts.path));
}

export async function findArtifact(db: Db, tenant: Tenant, experimentId: string, id: string): Promise<ArtifactRow | undefined> {
  if (!isUuid(id)) return undefined;
  const [a] = await db.select().from(artifacts).where(and(scope(tenant, experimentId), eq(artifacts.id, id)));
  return a;
}

export async function findArtifactByPath(db: Db, tenant: Tenant, experimentId: string, path: string): Promise<ArtifactRow | undefined> {
  const [a] = await db.select().from(artifacts).where(and(scope(tenant, experimentId), eq(artifacts.path, path)));
  return a;
}

/**
 * Records `path` → blob in one statement: a new path inserts; the same path with different content
 * replaces the row (new id, new created_at); the same path with the same sha256 changes nothing.
 * `created` tells which happened, so concurrent identical uploads agree on one row.
 */
export async function upsertArtifact(
  db: Db,
  tenant: Tenant,
  v: { id: string; projectId: string; experimentId: string; path: string; size: number; sha256: string; contentType: string },
): Promise<{ row: ArtifactRow; created: boolean }> {
  const [row] = await db
    .insert(artifacts)
    .values({ ...v, teamId: tenant.teamId })
    .onConflictDoUpdate({
      target: [artifacts.experimentId, artifacts.path],
      set: {
        id: sql`excluded.id`,
        size: sql`excluded.size`,
        sha256: sql`excluded.sha256`,
        contentType: sql`excluded.content_type`,
        createdAt: sql`excluded.created_at`,
      },
      // Never touch another team's row (the experiment is ours, so it can't be, but the predicate stays here).
      setWhere: and(eq(artifacts.teamId, tenant.teamId), ne(artifacts.sha256, sql`excluded.sha256`)),
    })
    .returning();
  if (row) return { row, created: true };
  const existing = await findArtifactByPath(db, tenant, v.experimentId, v.path);
  if (!existing) throw new Error(`artifact ${v.path} vanished during upsert`);
  return { row: existing, created: false };
}
