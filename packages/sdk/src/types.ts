/**
 * The SDK's own types: the wire types (./wire.ts, inferred from the contract schemas) re-exported,
 * and the decoded forms the read client returns (values as numbers, timestamps as Dates).
 * Browser-safe, types only.
 */
import type { ExperimentRecord, ExperimentStatus, MetricStats, TimeseriesResponse } from './wire.ts';

export type * from './wire.ts';

export type FinishStatus = Exclude<ExperimentStatus, 'running'>;

/** A list page (`GET /projects`, `GET /projects/{p}/experiments`). */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Nested configuration (hyper-parameters …) as stored on an experiment. */
export type Features = ExperimentRecord['features'];

/** A decoded timeseries point: `value` is a number (NaN/±Infinity restored), `timestamp` a Date. */
export interface TimeseriesPoint {
  step: number;
  value: number;
  timestamp: Date;
  host?: string;
}

/**
 * One metric's history, decoded. `truncated` says more points exist than were returned (the
 * caller's `limit` cut it); `next_step_min` is where to continue (`stepMin`) — null when complete.
 */
export type Timeseries = Omit<TimeseriesResponse, 'points'> & { points: TimeseriesPoint[] };

/** Per-metric aggregates with values decoded to numbers. */
export type MetricSummary = Omit<MetricStats, 'last' | 'min' | 'max' | 'avg' | 'last_timestamp'> & {
  last: number;
  min: number;
  max: number;
  avg: number;
  last_timestamp: Date | null;
};

export interface ExperimentSummary {
  experiment_id: string;
  metrics: Record<string, MetricSummary>;
}

/** experiment id → metric name → decoded stats. */
export interface CompareResult {
  project_id: string;
  experiments: Record<string, Record<string, MetricSummary>>;
}

/** A point the server refused (422) and the SDK dropped, counted per metric. */
export interface DroppedMetric {
  count: number;
  /** The server's message for the first dropped point of this metric. */
  reason: string;
}

/** Counters of a run's delivery (`exp.stats()`). */
export interface SenderStats {
  /** Points handed to add(). */
  logged: number;
  /** Points acknowledged by the server (directly or by spool replay). */
  acked: number;
  /** Points written to the spool. */
  spooled: number;
  /** Points the server refused and the SDK dropped (see droppedPoints). */
  dropped: number;
  /** Dropped points per metric, with the server's reason. */
  droppedPoints: Record<string, DroppedMetric>;
  batchesSent: number;
  duplicateBatches: number;
  retries: number;
  /** Points currently buffered or queued in memory. */
  pending: number;
  /** Points in the spool not yet acknowledged. */
  unsentOnDisk: number;
  spooling: boolean;
  spoolFile: string | null;
  /** Why sending stopped for good (the key was refused), or null. */
  authError: string | null;
}
