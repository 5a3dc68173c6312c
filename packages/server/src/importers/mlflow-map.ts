import { assayStatus, RESERVED_KEY } from '../services/mlflow/model.ts';
import type { RunSpec, Sink } from './sink.ts';
import { uniqueNames } from './sink.ts';

/*
 * An MLflow run as an Assay experiment, by the same mapping the MLflow REST routes use
 * (services/mlflow/model.ts, docs/mlflow.md): experiment → project, run → experiment named by
 * mlflow.runName, params → flat string features, key/value tags → features["mlflow"].tags,
 * mlflow.note.content → description, RUNNING/FINISHED/FAILED/KILLED → running/complete/failed/crashed.
 * The source run id is kept as the tag `assay.import.run_id`.
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
    const names = uniqueNames(list, (r) => (r.runName || r.tags['mlflow.runName'] || r.runId).slice(0, 255), (r) => r.runId);
    for (const r of list) out.set(r, spec(sink, r, p, names.get(r)!));
  }
  return out;
}

function spec(sink: Sink, r: MlflowRun, project: string, name: string): RunSpec {
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
  };
}
