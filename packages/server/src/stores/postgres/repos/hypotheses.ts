import { and, asc, desc, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db.ts';
import { experiments, hypotheses, hypothesisEvaluations, type HypothesisStatus } from '../schema.ts';
import { isUuid, type Tenant } from '../tenant.ts';

export type HypothesisRow = typeof hypotheses.$inferSelect;
export type EvaluationRow = typeof hypothesisEvaluations.$inferSelect;
export type HypothesisValues = Pick<
  typeof hypotheses.$inferInsert,
  'key' | 'statement' | 'baselineExperiment' | 'targetMetrics' | 'candidateExperiments' | 'candidateFilter' | 'confidenceThreshold' | 'minEffect'
>;

const scope = (tenant: Tenant, projectId: string) => and(eq(hypotheses.teamId, tenant.teamId), eq(hypotheses.projectId, projectId));

/** By UUID first, then by key. */
export async function findHypothesis(db: Db, tenant: Tenant, projectId: string, idOrKey: string): Promise<HypothesisRow | undefined> {
  if (isUuid(idOrKey)) {
    const [h] = await db.select().from(hypotheses).where(and(scope(tenant, projectId), eq(hypotheses.id, idOrKey)));
    if (h) return h;
  }
  const [h] = await db.select().from(hypotheses).where(and(scope(tenant, projectId), eq(hypotheses.key, idOrKey)));
  return h;
}

export async function listHypotheses(db: Db, tenant: Tenant, projectId: string, status?: HypothesisStatus): Promise<HypothesisRow[]> {
  return db
    .select()
    .from(hypotheses)
    .where(and(scope(tenant, projectId), status ? eq(hypotheses.status, status) : undefined))
    .orderBy(asc(hypotheses.key));
}

/** undefined when the key is taken in this project. */
export async function insertHypothesis(db: Db, tenant: Tenant, projectId: string, v: HypothesisValues): Promise<HypothesisRow | undefined> {
  const [h] = await db
    .insert(hypotheses)
    .values({ ...v, teamId: tenant.teamId, projectId })
    .onConflictDoNothing()
    .returning();
  return h;
}

export async function updateHypothesis(db: Db, tenant: Tenant, projectId: string, id: string, v: Partial<HypothesisValues>): Promise<HypothesisRow | undefined> {
  const [h] = await db
    .update(hypotheses)
    .set({ ...v, updatedAt: new Date() })
    .where(and(scope(tenant, projectId), eq(hypotheses.id, id)))
    .returning();
  return h;
}

export async function deleteHypothesis(db: Db, tenant: Tenant, projectId: string, id: string): Promise<boolean> {
  const r = await db.delete(hypotheses).where(and(scope(tenant, projectId), eq(hypotheses.id, id))).returning({ id: hypotheses.id });
  return r.length > 0;
}

/** One evaluation: its row and the hypothesis' current status, in one transaction. */
export async function recordEvaluation(
  db: Db,
  tenant: Tenant,
  projectId: string,
  hypothesisId: string,
  e: { id: string; status: HypothesisStatus; evidenceScore: number; confidence: number; result: Record<string, unknown>; evaluatedAt: Date },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [h] = await tx
      .update(hypotheses)
      .set({ status: e.status, evidenceScore: e.evidenceScore, confidence: e.confidence, lastEvaluatedAt: e.evaluatedAt, updatedAt: new Date() })
      .where(and(scope(tenant, projectId), eq(hypotheses.id, hypothesisId)))
      .returning({ id: hypotheses.id });
    if (!h) return false; // deleted meanwhile
    await tx.insert(hypothesisEvaluations).values({ ...e, teamId: tenant.teamId, hypothesisId });
    return true;
  });
}

/** Newest first. */
export async function listEvaluations(db: Db, tenant: Tenant, hypothesisId: string, limit: number): Promise<EvaluationRow[]> {
  return db
    .select()
    .from(hypothesisEvaluations)
    .where(and(eq(hypothesisEvaluations.teamId, tenant.teamId), eq(hypothesisEvaluations.hypothesisId, hypothesisId)))
    .orderBy(desc(hypothesisEvaluations.evaluatedAt), desc(hypothesisEvaluations.id))
    .limit(limit);
}

/** Every live (not soft-deleted) run of a project with what evaluation needs: arms come from features. */
export async function projectRuns(db: Db, tenant: Tenant, projectId: string) {
  return db
    .select({ id: experiments.id, name: experiments.name, status: experiments.status, features: experiments.features })
    .from(experiments)
    .where(and(eq(experiments.teamId, tenant.teamId), eq(experiments.projectId, projectId), isNull(experiments.deletedAt)))
    .orderBy(asc(experiments.name));
}
