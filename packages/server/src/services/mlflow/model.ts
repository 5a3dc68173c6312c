import type { ExperimentRow } from '../../stores/postgres/repos/experiments.ts';
import type { ExperimentStatus } from '../../stores/postgres/schema.ts';
import { invalid } from './errors.ts';

/*
 * How MLflow's tracking model maps onto Assay's (docs/mlflow.md is the user-facing version):
 *   MLflow experiment ↔ Assay project        experiment_id = the project's UUID without dashes ("0" = project "Default")
 *   MLflow run        ↔ Assay experiment     run_id        = the experiment's UUID without dashes
 *   params            ↔ features, flat keys  (nested Assay features read back as dotted keys)
 *   metrics           ↔ metric points        (timestamp, step; the later write of a step wins)
 *   status            ↔ status               RUNNING/FINISHED/FAILED/KILLED ↔ running/complete/failed/crashed
 *   lifecycle deleted ↔ experiments.deleted_at / projects.deleted_at (soft delete, restorable; hidden from Assay's lists)
 *   tags (key/value)  ↔ features["mlflow"].tags — Assay's own tags are plain strings, so MLflow's
 *                       key/value tags live under one reserved feature key; Assay string tags read
 *                       back as MLflow tags with an empty value. mlflow.runName ↔ the experiment name,
 *                       mlflow.note.content ↔ the description.
 */

/** The one reserved top-level feature key: MLflow-only metadata of a run (tags, logged models, inputs). */
export const RESERVED_KEY = 'mlflow';

export interface LoggedModelMeta {
  name: string;
  model_type?: string;
  status: string;
  created_ms: number;
  updated_ms: number;
  params: Record<string, string>;
  tags: Record<string, string>;
}
export interface MlflowMeta {
  tags?: Record<string, string>;
  models?: Record<string, LoggedModelMeta>;
  inputs?: unknown[];
  outputs?: { model_id: string; step: number }[];
  /** The experiment's custom artifact_location when the run was created (absent: Assay's proxy). */
  artifact_root?: string;
}

export const hex = (uuid: string) => uuid.replace(/-/g, '');

/**
 * A run as the MLflow routes see it: the Assay experiment plus its project's soft delete, since a
 * run of a deleted experiment is deleted for MLflow (derived, not written: a restore of the
 * experiment gives back exactly the runs that were active).
 */
export type RunRow = ExperimentRow & { projectDeletedAt?: Date | null; projectRetentionDays?: number };
export const runDeleted = (e: RunRow): boolean => Boolean(e.deletedAt ?? e.projectDeletedAt);

/** A 32-hex MLflow id (or a dashed UUID) → the UUID; undefined if it is neither. */
export function uuidOf(id: unknown): string | undefined {
  if (typeof id !== 'string') return undefined;
  const h = id.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(h)) return undefined;
  if (id.includes('-') && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return undefined;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function metaOf(e: Pick<ExperimentRow, 'features'>): MlflowMeta {
  const m = e.features?.[RESERVED_KEY];
  return m && typeof m === 'object' && !Array.isArray(m) ? (m as MlflowMeta) : {};
}

const STATUS_TO_ASSAY: Record<string, ExperimentStatus> = { RUNNING: 'running', SCHEDULED: 'running', FINISHED: 'complete', FAILED: 'failed', KILLED: 'crashed' };
const STATUS_NUM = ['', 'RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'];
const ASSAY_TO_STATUS: Record<ExperimentStatus, string> = { running: 'RUNNING', complete: 'FINISHED', failed: 'FAILED', crashed: 'KILLED' };

/** MLflow RunStatus (enum name or number) → Assay status. */
export function assayStatus(s: unknown): ExperimentStatus {
  const name = typeof s === 'number' ? STATUS_NUM[s] : typeof s === 'string' ? s.toUpperCase() : undefined;
  const st = name ? STATUS_TO_ASSAY[name] : undefined;
  if (!st) throw invalid(`Invalid run status '${String(s)}': expected RUNNING, SCHEDULED, FINISHED, FAILED or KILLED`);
  return st;
}
export const mlflowStatus = (s: ExperimentStatus) => ASSAY_TO_STATUS[s];

/** Assay features → MLflow params: flat keys, nested objects as dotted keys, values as strings. */
export function paramsOf(features: Record<string, unknown>): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (o: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(o)) {
      if (!prefix && k === RESERVED_KEY) continue;
      const key = prefix ? `${prefix}.${k}` : k;
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, key);
      else out.set(key, typeof v === 'string' ? v : JSON.stringify(v));
    }
  };
  walk(features ?? {}, '');
  return out;
}

/** MLflow tags of a run: the stored key/value tags, Assay's string tags (empty value), name and description. */
export function tagsOf(e: ExperimentRow): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of e.tags ?? []) out.set(t, '');
  for (const [k, v] of Object.entries(metaOf(e).tags ?? {})) out.set(k, String(v));
  if (!out.has('mlflow.runName')) out.set('mlflow.runName', e.name);
  if (e.description && !out.has('mlflow.note.content')) out.set('mlflow.note.content', e.description);
  return out;
}

export const runName = (e: ExperimentRow) => metaOf(e).tags?.['mlflow.runName'] ?? e.name;

const ADJ = ['amazing', 'bold', 'bright', 'calm', 'clever', 'crisp', 'gentle', 'keen', 'lucky', 'merry', 'nimble', 'quiet', 'rare', 'shy', 'swift', 'wise'];
const NOUN = ['ant', 'bass', 'crow', 'deer', 'eel', 'fox', 'gull', 'hare', 'ibis', 'jay', 'koi', 'lark', 'mole', 'newt', 'owl', 'pike'];
/** A readable name when the client gives none (MLflow's server does the same). */
export function randomRunName(): string {
  const r = (n: number) => Math.floor(Math.random() * n);
  return `${ADJ[r(ADJ.length)]}-${NOUN[r(NOUN.length)]}-${r(1000)}`;
}
