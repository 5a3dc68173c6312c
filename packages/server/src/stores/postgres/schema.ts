import { sql } from 'drizzle-orm';
import {
  bigint,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';

/**
 * Every table but `users` carries `team_id`: the tenant predicate is always available locally,
 * so a repository never needs a join to prove ownership.
 */
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const createdAt = () => ts('created_at').notNull().defaultNow();
const updatedAt = () => ts('updated_at').notNull().defaultNow();

export const teams = pgTable('teams', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: varchar('name', { length: 255 }).notNull().unique(),
  createdAt: createdAt(),
});

export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  email: varchar('email', { length: 320 }).notNull().unique(),
  name: varchar('name', { length: 255 }),
  /** argon2id PHC string (`$argon2id$v=19$m=…`); null until the user sets a password (API keys only). */
  passwordHash: text('password_hash'),
  createdAt: createdAt(),
});

export const ROLES = ['admin', 'researcher', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const teamMembers = pgTable(
  'team_members',
  {
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    role: varchar('role', { length: 16 }).$type<Role>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.teamId, t.userId] })],
);

export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    name: varchar('name', { length: 255 }).notNull(),
    /** First characters of the key, shown in listings so a user can tell keys apart. */
    prefix: varchar('prefix', { length: 32 }).notNull(),
    /** SHA-256 of the full key. Keys are 190-bit random strings, so a fast hash is the right one. */
    keyHash: varchar('key_hash', { length: 64 }).notNull().unique(),
    role: varchar('role', { length: 16 }).$type<Role>().notNull(),
    createdAt: createdAt(),
    lastUsedAt: ts('last_used_at'),
    revokedAt: ts('revoked_at'),
  },
  (t) => [index('api_keys_team_idx').on(t.teamId)],
);

/**
 * Browser sign-ins. The cookie carries a 256-bit random token; only its SHA-256 is stored, so a
 * leaked table signs nobody in. A session is bound to one team (like a key); its role is read from
 * team_members on every request, so a role change or a removal applies at once.
 */
export const sessions = pgTable(
  'sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: varchar('token_hash', { length: 64 }).notNull().unique(),
    /** Synchronizer token for X-CSRF-Token; not a credential on its own (useless without the cookie). */
    csrfToken: varchar('csrf_token', { length: 64 }).notNull(),
    createdAt: createdAt(),
    lastSeenAt: ts('last_seen_at').notNull().defaultNow(),
    /** Absolute end; the idle limit is checked against last_seen_at. */
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [index('sessions_user_idx').on(t.userId), index('sessions_team_user_idx').on(t.teamId, t.userId)],
);

export const SIGN_IN_TOKEN_KINDS = ['sign_in', 'invite'] as const;
export type SignInTokenKind = (typeof SIGN_IN_TOKEN_KINDS)[number];

/** One-time sign-in links (CLI) and invites (POST /members): SHA-256 of the token, single use. */
export const signInTokens = pgTable(
  'sign_in_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: varchar('token_hash', { length: 64 }).notNull().unique(),
    kind: varchar('kind', { length: 16 }).$type<SignInTokenKind>().notNull(),
    createdAt: createdAt(),
    expiresAt: ts('expires_at').notNull(),
    usedAt: ts('used_at'),
  },
  (t) => [index('sign_in_tokens_team_user_idx').on(t.teamId, t.userId)],
);

export const projects = pgTable(
  'projects',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    name: varchar('name', { length: 255 }).notNull(),
    description: text('description'),
    retentionDays: integer('retention_days').notNull().default(730),
    /** MLflow experiment tags (key → value; mlflow.note.content is the description instead). */
    tags: jsonb('tags').$type<Record<string, string>>().notNull().default(sql`'{}'::jsonb`),
    /** Soft delete (MLflow delete_experiment): hidden from lists, its routes 404, the name stays taken; restorable. */
    deletedAt: ts('deleted_at'),
    /** MLflow create_experiment's artifact_location, resolved as MLflow does (null: Assay's mlflow-artifacts: proxy). */
    artifactLocation: text('artifact_location'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('projects_team_name_uq').on(t.teamId, t.name)],
);

export const projectMetrics = pgTable(
  'project_metrics',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
    name: varchar('name', { length: 255 }).notNull(),
    description: text('description'),
    direction: varchar('direction', { length: 10 }).$type<'minimize' | 'maximize'>(),
    aggregation: varchar('aggregation', { length: 20 }).$type<'last' | 'best' | 'average'>(),
    sourceType: varchar('source_type', { length: 50 }).$type<'scalar' | 'derived'>(),
    /** For source_type 'derived': the expression as the user wrote it (parsed and checked on write). */
    expression: text('expression'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('project_metrics_project_name_uq').on(t.projectId, t.name)],
);

export const EXPERIMENT_STATUSES = ['running', 'complete', 'failed', 'crashed'] as const;
export type ExperimentStatus = (typeof EXPERIMENT_STATUSES)[number];

export const experiments = pgTable(
  'experiments',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
    name: varchar('name', { length: 255 }).notNull(),
    status: varchar('status', { length: 16 }).$type<ExperimentStatus>().notNull().default('running'),
    description: text('description'),
    features: jsonb('features').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    tags: jsonb('tags').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    host: varchar('host', { length: 255 }),
    git: jsonb('git').$type<Record<string, unknown> | null>(),
    parentId: uuid('parent_id'),
    startedAt: ts('started_at').notNull().defaultNow(),
    finishedAt: ts('finished_at'),
    heartbeatAt: ts('heartbeat_at'),
    /** Soft delete (MLflow's lifecycle "deleted"): hidden from lists and reads, restorable. */
    deletedAt: ts('deleted_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('experiments_project_name_uq').on(t.projectId, t.name),
    index('experiments_team_project_idx').on(t.teamId, t.projectId),
    index('experiments_running_heartbeat_idx').on(t.status, t.heartbeatAt),
    // MLflow search_runs' default order (migration 0012)
    index('experiments_search_order_idx').on(t.teamId, t.projectId, t.startedAt.desc(), t.id),
  ],
);

/** The experiment DAG ("derived from"); parent_id on experiments is the primary edge, this holds all. */
export const experimentReferences = pgTable(
  'experiment_references',
  {
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    experimentId: uuid('experiment_id').notNull().references(() => experiments.id, { onDelete: 'cascade' }),
    parentId: uuid('parent_id').notNull().references(() => experiments.id, { onDelete: 'cascade' }),
    kind: varchar('kind', { length: 32 }).notNull().default('derived_from'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.experimentId, t.parentId, t.kind] }), index('experiment_references_parent_idx').on(t.parentId)],
);

export const HYPOTHESIS_STATUSES = ['Testing', 'Supported', 'Refuted'] as const;
export type HypothesisStatus = (typeof HYPOTHESIS_STATUSES)[number];

/**
 * A claim judged by evidence (DESIGN §8). The baseline and candidates are kept as the caller wrote
 * them (names or ids): no experiment needs to exist until the hypothesis is evaluated.
 */
export const hypotheses = pgTable(
  'hypotheses',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
    key: varchar('key', { length: 255 }).notNull(),
    statement: text('statement'),
    baselineExperiment: varchar('baseline_experiment', { length: 255 }).notNull(),
    targetMetrics: jsonb('target_metrics').$type<string[]>().notNull(),
    candidateExperiments: jsonb('candidate_experiments').$type<string[] | null>(),
    candidateFilter: jsonb('candidate_filter').$type<Record<string, unknown[]> | null>(),
    confidenceThreshold: doublePrecision('confidence_threshold').notNull().default(0.95),
    minEffect: doublePrecision('min_effect').notNull().default(0),
    status: varchar('status', { length: 16 }).$type<HypothesisStatus>().notNull().default('Testing'),
    evidenceScore: doublePrecision('evidence_score'),
    confidence: doublePrecision('confidence'),
    lastEvaluatedAt: ts('last_evaluated_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('hypotheses_project_key_uq').on(t.projectId, t.key), index('hypotheses_team_project_idx').on(t.teamId, t.projectId)],
);

/** Every evaluation of a hypothesis, whole (the API's evaluation document), newest read first. */
export const hypothesisEvaluations = pgTable(
  'hypothesis_evaluations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    hypothesisId: uuid('hypothesis_id').notNull().references(() => hypotheses.id, { onDelete: 'cascade' }),
    status: varchar('status', { length: 16 }).$type<HypothesisStatus>().notNull(),
    evidenceScore: doublePrecision('evidence_score').notNull(),
    confidence: doublePrecision('confidence').notNull(),
    result: jsonb('result').$type<Record<string, unknown>>().notNull(),
    evaluatedAt: ts('evaluated_at').notNull().defaultNow(),
  },
  (t) => [index('hypothesis_evaluations_hyp_idx').on(t.hypothesisId, t.evaluatedAt)],
);

/** The seed's table: per experiment and metric, how many points and when the last arrived. */
export const metricWriteLogs = pgTable(
  'metric_write_logs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    experimentId: uuid('experiment_id').notNull().references(() => experiments.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
    metricName: varchar('metric_name', { length: 255 }).notNull(),
    lastLoggedAt: ts('last_logged_at'),
    totalPoints: bigint('total_points', { mode: 'number' }).notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('metric_write_logs_exp_metric_uq').on(t.experimentId, t.metricName)],
);

/** The seed's table: per experiment, rows accepted but not yet in ClickHouse, and the last sync. */
export const clickhouseSyncState = pgTable('clickhouse_sync_state', {
  id: uuid('id').primaryKey().defaultRandom(),
  teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
  experimentId: uuid('experiment_id')
    .notNull()
    .unique()
    .references(() => experiments.id, { onDelete: 'cascade' }),
  lastSyncedAt: ts('last_synced_at'),
  pendingRows: bigint('pending_rows', { mode: 'number' }).notNull().default(0),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/**
 * Client batch ids: a retried batch (same batch_id) is acknowledged without a second insert, so
 * counts and averages in the summaries never inflate. A row is written *before* the ClickHouse
 * insert (pending, with the logged_at versions the batch's rows carry) and committed after it, so
 * a server killed between the two can still tell, on the client's retry, whether the rows landed.
 */
export const metricBatches = pgTable(
  'metric_batches',
  {
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    experimentId: uuid('experiment_id').notNull().references(() => experiments.id, { onDelete: 'cascade' }),
    batchId: varchar('batch_id', { length: 128 }).notNull(),
    points: integer('points').notNull(),
    /** First logged_at version (µs) of the batch's rows; they hold versionBase … versionBase+points-1. */
    versionBase: bigint('version_base', { mode: 'number' }).notNull().default(0),
    committedAt: ts('committed_at'),
    /**
     * While pending: the attempt whose version_base this is owns the batch until then (any replica,
     * services/ingest.ts); null = nobody does (released after a failed insert, or committed).
     */
    leaseUntil: ts('lease_until'),
    createdAt: createdAt(),
  },
  // the crash sweeper's pass looks for pending batches whose lease ran out, every interval
  (t) => [primaryKey({ columns: [t.experimentId, t.batchId] }), index('metric_batches_pending_idx').on(t.leaseUntil).where(sql`committed_at IS NULL`)],
);

/**
 * Experiments whose points are in `metrics` but whose aggregates may not be (services/ingest.ts):
 * the writer marks a flush's experiments before inserting its points, acknowledges once the points
 * are in, and writes their aggregates a moment later, coalesced across flushes; the mark goes once
 * they are. A mark left behind (the process died in between, or the aggregate insert failed) is
 * repaired by rebuilding the experiment's aggregates from its points — at start, or by the crash
 * sweeper once its lease ran out. One row per experiment and writing process (`writer`); `gen` is
 * the writer's flush number, so clearing after an older flush leaves a newer mark alone.
 */
export const aggregateBacklog = pgTable(
  'aggregate_backlog',
  {
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id').notNull(),
    experimentId: uuid('experiment_id').notNull().references(() => experiments.id, { onDelete: 'cascade' }),
    writer: varchar('writer', { length: 255 }).notNull(),
    gen: bigint('gen', { mode: 'number' }).notNull(),
    leaseUntil: ts('lease_until').notNull(),
  },
  (t) => [primaryKey({ columns: [t.experimentId, t.writer] }), index('aggregate_backlog_lease_idx').on(t.leaseUntil)],
);

/**
 * Coordination between API processes sharing one database (docs/architecture.md "Running several
 * replicas"): a named lease (`holder` until `expires_at`, e.g. the crash sweeper's) or a counter
 * (`counter`, e.g. the logged_at version clock). System state, no tenant data: no team_id.
 */
export const replicaCoordination = pgTable('replica_coordination', {
  name: varchar('name', { length: 64 }).primaryKey(),
  holder: varchar('holder', { length: 255 }),
  expiresAt: ts('expires_at'),
  counter: bigint('counter', { mode: 'number' }).notNull().default(0),
  updatedAt: updatedAt(),
});

/**
 * Files attached to an experiment. The bytes live content-addressed on disk
 * (`<artifact dir>/<team_id>/sha256/<aa>/<sha256>`, shared within a team); a row names them.
 * Re-uploading a path with new content replaces the row (new id), the same content is a no-op.
 */
export const artifacts = pgTable(
  'artifacts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    teamId: uuid('team_id').notNull().references(() => teams.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
    experimentId: uuid('experiment_id').notNull().references(() => experiments.id, { onDelete: 'cascade' }),
    path: varchar('path', { length: 1024 }).notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    sha256: varchar('sha256', { length: 64 }).notNull(),
    contentType: varchar('content_type', { length: 255 }).notNull().default('application/octet-stream'),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('artifacts_experiment_path_uq').on(t.experimentId, t.path),
    index('artifacts_team_sha256_idx').on(t.teamId, t.sha256),
  ],
);

export const schema = {
  teams,
  users,
  teamMembers,
  apiKeys,
  sessions,
  signInTokens,
  projects,
  projectMetrics,
  experiments,
  experimentReferences,
  hypotheses,
  hypothesisEvaluations,
  metricWriteLogs,
  clickhouseSyncState,
  metricBatches,
  aggregateBacklog,
  artifacts,
  replicaCoordination,
};
