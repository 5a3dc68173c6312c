/** API resource types (the shapes in docs/api.md). Browser-safe, types only. */

export type ExperimentStatus = 'running' | 'complete' | 'failed' | 'crashed';
export type FinishStatus = Exclude<ExperimentStatus, 'running'>;
export type Role = 'admin' | 'researcher' | 'viewer';

export interface Me {
  team_id: string;
  team_name: string;
  user_id: string;
  email: string;
  role: Role;
  key_id: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Project {
  id: string;
  team_id: string;
  name: string;
  description: string | null;
  retention_days: number;
  created_at: string;
  updated_at: string;
}

export interface GitInfo {
  commit?: string | null;
  branch?: string | null;
  remote_url?: string | null;
  dirty?: boolean | null;
  diff?: string | null;
  untracked?: string[] | null;
}

export type Features = Record<string, unknown>;

export interface ExperimentRecord {
  id: string;
  team_id: string;
  project_id: string;
  name: string;
  status: ExperimentStatus;
  description?: string | null;
  features: Features;
  tags: string[];
  host: string | null;
  git: GitInfo | null;
  parent_id: string | null;
  started_at: string | null;
  finished_at: string | null;
  heartbeat_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface Artifact {
  id: string;
  path: string;
  size: number;
  sha256: string;
  created_at: string;
}

/** A decoded timeseries point: `value` is a number (NaN/±Infinity restored), `timestamp` a Date. */
export interface TimeseriesPoint {
  step: number;
  value: number;
  timestamp: Date;
}

export interface Timeseries {
  experiment_id: string;
  metric_name: string;
  points: TimeseriesPoint[];
  count: number;
  downsampled: boolean;
}

export interface MetricSummary {
  last: number;
  min: number;
  max: number;
  avg: number;
  count: number;
  first_step: number;
  last_step: number;
  last_timestamp: Date | null;
}

export interface ExperimentSummary {
  experiment_id: string;
  metrics: Record<string, MetricSummary>;
}

export interface CompareStats {
  last: number;
  min: number;
  max: number;
  avg: number;
  count: number;
}

export interface CompareResult {
  project_id: string;
  /** experiment id → metric name → stats */
  experiments: Record<string, Record<string, CompareStats>>;
}

export interface MetricName {
  metric_name: string;
  total_points: number;
  last_logged_at: string | null;
}

export interface BatchResponse {
  status: 'success';
  count: number;
  duplicate: boolean;
}
