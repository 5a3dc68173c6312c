import { assayStatus, RESERVED_KEY } from '../services/mlflow/model.ts';
import type { RunSpec, Sink } from './sink.ts';
import { clip, uniqueNames } from './sink.ts';

/*
 * An MLflow run as an Assay experiment, by the same mapping the MLflow REST routes use
 * (services/mlflow/model.ts, docs/mlflow.md): experiment → project, run → experiment named by
 * mlflow.runName, params → flat string features, key/value tags → features["mlflow"].tags,
 * mlflow.note.content → description, RUNNING/FINISHED/FAILED/KILLED → running/complete/failed/crashed.
 * The source run id is kept as the tag `assay.import.run_id`. Experiment tags → project tags,
 * lifecycle deleted → the soft delete MLflow's delete_experiment / delete_run make on Assay (a deleted
 * run is imported, then deleted; a deleted experiment's project likewise, after all its runs).
 */

export interface MlflowRun {
  runId: string;
  experimentName: string;
  runName?: string;
  status: string | number;
  startTime?: number | null;
  endTime?: number | null;
  params: Record<string, string>;
  tags: Record<string, string>;
  /** The run's lifecycle_stage is deleted. */
  deleted?: boolean;
  experimentTags?: Record<string, string>;
  experimentDeleted?: boolean;
}

/** Experiment specs of the runs, names unique per target project and stable across imports. */
export function runSpecs(sink: Sink, runs: MlflowRun[], project?: string): Map<MlflowRun, RunSpec> {
  const byProject = new Map<string, MlflowRun[]>();
  for (const r of runs) {
    const p = project ?? r.experimentName;
    byProject.set(p, [...(byProject.get(p) ?? []), r]);
  }
  const out = new Map<MlflowRun, RunSpec>();
  for (const [p, list] of byProject) {
    const names = uniqueNames(list, (r) => clip(r.runName || r.tags['mlflow.runName'] || r.runId, 255), (r) => r.runId);
    // into one --project, a deleted experiment can only be carried by its runs
    for (const r of list) out.set(r, spec(sink, r, p, names.get(r)!, Boolean(r.deleted || (project !== undefined && r.experimentDeleted))));
  }
  return out;
}

function spec(sink: Sink, r: MlflowRun, project: string, name: string, deleted: boolean): RunSpec {
  const features: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.params)) {
    if (k === RESERVED_KEY) sink.warn(`run ${r.runId}: param '${RESERVED_KEY}' skipped (the feature key is reserved for MLflow metadata)`);
    else features[k] = v;
  }
  const tags = { ...r.tags, 'mlflow.runName': r.runName || r.tags['mlflow.runName'] || r.runId, 'assay.import.run_id': r.runId };
  features[RESERVED_KEY] = { tags };
  let status: RunSpec['status'] = 'complete';
  try {
    status = assayStatus(r.status);
  } catch {
    sink.warn(`run ${r.runId}: unknown status ${JSON.stringify(r.status)}, imported as complete`);
  }
  sink.counts.params += Object.keys(r.params).length;
  return {
    project,
    name,
    sourceKey: `mlflow:${r.runId}`,
    description: r.tags['mlflow.note.content'] ?? null,
    features,
    status,
    startedAt: r.startTime ?? undefined,
    finishedAt: r.endTime ?? (status === 'running' ? undefined : null),
    deleted,
  };
}

/** A run whose target project is deleted on the server is left out (Sink.projectState says why). */
export async function deletedTarget(sink: Sink, spec: RunSpec): Promise<boolean> {
  if (!(await sink.projectState(spec.project)).deleted) return false;
  sink.counts.experimentsExisting++;
  return true;
}

/**
 * Once every run is in: experiment tags and the deleted state onto each target project. Into one
 * --project the tags of every source experiment are merged (sorted by experiment name, so a key two
 * of them set resolves the same way each time) and the project is never deleted.
 */
export async function finishProjects(sink: Sink, runs: MlflowRun[], project?: string): Promise<void> {
  const byProject = new Map<string, { tags: Record<string, string>; deleted: boolean; sources: Set<string> }>();
  for (const r of [...runs].sort((a, b) => (a.experimentName < b.experimentName ? -1 : 1))) {
    const p = project ?? r.experimentName;
    let t = byProject.get(p);
    if (!t) byProject.set(p, (t = { tags: {}, deleted: project === undefined && Boolean(r.experimentDeleted), sources: new Set() }));
    if (!t.sources.has(r.experimentName)) Object.assign(t.tags, r.experimentTags ?? {});
    t.sources.add(r.experimentName);
  }
  for (const [p, t] of byProject) await sink.finishProject(p, { tags: t.tags, deleted: t.deleted });
}
