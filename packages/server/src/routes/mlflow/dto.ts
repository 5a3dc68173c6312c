import { hex, metaOf, mlflowStatus, paramsOf, runDeleted, runName, tagsOf, type RunRow } from '../../services/mlflow/model.ts';
import type { LatestMetric } from '../../services/mlflow/runs.ts';
import { experimentArtifactLocation, runArtifactUri } from '../../services/mlflow/artifact-location.ts';
import { experimentTags } from '../../services/mlflow/experiments.ts';
import { toWire } from '../../services/metric-values.ts';
import type { ProjectRow } from '../../stores/postgres/repos/projects.ts';

/* Assay rows → MLflow's protobuf JSON (int64 as numbers, NaN/±Inf as the strings protobuf uses). */


export const experimentJson = (p: ProjectRow) => ({
  experiment_id: hex(p.id),
  name: p.name,
  artifact_location: experimentArtifactLocation(p),
  lifecycle_stage: p.deletedAt ? 'deleted' : 'active',
  last_update_time: p.updatedAt.getTime(),
  creation_time: p.createdAt.getTime(),
  tags: experimentTags(p).map(([key, value]) => ({ key, value })),
});

export const runInfoJson = (e: RunRow) => ({
  run_id: hex(e.id),
  run_uuid: hex(e.id),
  run_name: runName(e),
  experiment_id: hex(e.projectId),
  user_id: metaOf(e).tags?.['mlflow.user'] ?? '',
  status: mlflowStatus(e.status),
  start_time: e.startedAt.getTime(),
  ...(e.finishedAt ? { end_time: e.finishedAt.getTime() } : {}),
  artifact_uri: runArtifactUri(e),
  lifecycle_stage: runDeleted(e) ? 'deleted' : 'active',
});

export const metricJson = (m: LatestMetric) => ({ key: m.key, value: toWire(m.value), timestamp: m.timestamp, step: m.step });

export const runJson = (e: RunRow, metrics: LatestMetric[] = []) => {
  const meta = metaOf(e);
  return {
    info: runInfoJson(e),
    data: {
      metrics: metrics.map(metricJson),
      params: [...paramsOf(e.features)].map(([key, value]) => ({ key, value })),
      tags: [...tagsOf(e)].map(([key, value]) => ({ key, value })),
    },
    inputs: { dataset_inputs: meta.inputs ?? [], model_inputs: [] },
    outputs: { model_outputs: meta.outputs ?? [] },
  };
};
