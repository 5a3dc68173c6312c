import { z } from 'zod';
import { codePointLength, jsonTextProblem, LIMITS, nameProblem, wireTimestampMs } from './limits.ts';

export * from './limits.ts';

/**
 * Request/response schemas shared by the server (validation + OpenAPI), the TS SDK and the web UI.
 * Field names follow the seed's snake_case wire format.
 */

export const NON_FINITE = ['NaN', 'Infinity', '-Infinity'] as const;

/** NaN and ±Inf are legal ML data; JSON can't carry them as numbers, so they travel as strings. */
export const MetricValue = z
  .union([z.number(), z.enum(NON_FINITE)])
  .describe('A number, or one of the strings "NaN", "Infinity", "-Infinity"');
export type MetricValue = z.infer<typeof MetricValue>;

export const MAX_STEP = LIMITS.stepMax;
export const MAX_TIMESTAMP_MS = LIMITS.timestampMaxMs;

/**
 * A name of `min`…`max` Unicode code points: any text stored verbatim but NUL and unpaired
 * surrogates (see `nameProblem`). JSON Schema's maxLength counts code points too.
 */
export const Name = (field: string, max: number = LIMITS.nameMax, min = 1) =>
  z
    .string()
    .superRefine((s, ctx) => {
      const problem = nameProblem(s, field, max, min);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .meta({ minLength: min, maxLength: max });

export const MetricName = Name('metric_name', LIMITS.metricNameMax).describe('1–250 Unicode code points, any text but NUL, stored verbatim');
export const HostName = Name('host', LIMITS.nameMax, 0);
export const Step = z.number().int().min(0).max(MAX_STEP);
export const Timestamp = z
  .union([z.string().datetime({ offset: true }), z.number().int().min(0).max(MAX_TIMESTAMP_MS)])
  // The ISO pattern admits times no date can hold (a leap second "23:59:60", years before 1970):
  // the value must be an instant in the storable range, as the batch encoder requires.
  .refine((t) => wireTimestampMs(t) !== undefined, { message: 'must be a date-time from 1970-01-01 to 2106-02-07T06:28:15.999Z (ISO-8601 or epoch ms)' })
  .describe('ISO-8601 date-time or epoch milliseconds, 1970-01-01 … 2106-02-07T06:28:15.999Z; default = server time');

export const MetricLogRequest = z.object({
  metric_name: MetricName,
  metric_value: MetricValue,
  step: Step,
  timestamp: Timestamp.nullish(),
  host: HostName.nullish(),
});
export type MetricLogRequest = z.infer<typeof MetricLogRequest>;

export const BatchId = Name('batch_id', LIMITS.batchIdMax).describe('Client-chosen id; re-sending the same batch_id is a no-op');

export const MetricSeries = z.object({
  metric_name: MetricName,
  steps: z.array(Step),
  values: z.array(MetricValue),
  timestamps: z.array(Timestamp).nullish(),
  host: HostName.nullish(),
});

export const MetricBatchRequest = z
  .object({
    batch_id: BatchId.nullish(),
    metrics: z.array(MetricLogRequest).max(LIMITS.batchPointsMax).optional(),
    series: z.array(MetricSeries).max(LIMITS.batchSeriesMax).optional().describe('Columnar form: one entry per metric with parallel arrays'),
  })
  .refine((b) => b.metrics !== undefined || b.series !== undefined, { message: 'either metrics or series is required' });
export type MetricBatchRequest = z.infer<typeof MetricBatchRequest>;

export const LogResponse = z.object({
  status: z.literal('success'),
  count: z.number().int(),
  duplicate: z.boolean(),
  message: z.string(),
});

export const MetricPoint = z.object({
  timestamp: z.string(),
  step: z.number().int(),
  value: MetricValue,
  host: z.string().optional(),
});

export const TimeseriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.timeseriesLimitMax).default(LIMITS.timeseriesLimitDefault),
  max_points: z.coerce.number().int().min(10).max(100_000).optional().describe('Downsample to at most this many points (keeps first/last step and extremes)'),
  step_min: z.coerce.number().int().min(0).max(MAX_STEP).optional(),
  step_max: z.coerce.number().int().min(0).max(MAX_STEP).optional(),
  host: HostName.optional(),
});

export const TimeseriesResponse = z.object({
  experiment_id: z.string().uuid(),
  metric_name: z.string(),
  points: z.array(MetricPoint),
  count: z.number().int(),
  downsampled: z.boolean(),
  truncated: z.boolean().describe('More points exist after this page (`limit` cut it); never true for a downsampled answer'),
  next_step_min: z
    .number()
    .int()
    .nullable()
    .describe('When truncated: the `step_min` of the follow-up call (other parameters unchanged) that continues with no gap and no duplicate; else null'),
});

export const MetricStats = z.object({
  last: MetricValue,
  min: MetricValue.nullable(),
  max: MetricValue.nullable(),
  avg: MetricValue.nullable(),
  count: z.number().int(),
  first_step: z.number().int(),
  last_step: z.number().int(),
  last_timestamp: z.string(),
});

export const SummaryResponse = z.object({
  experiment_id: z.string().uuid(),
  metrics: z.record(z.string(), MetricStats),
});

const listParam = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));

export const CompareQuery = z.object({
  project_id: Name('project_id'),
  experiment_ids: listParam.pipe(z.array(Name('experiment_ids')).min(1).max(1000)),
  metric_names: listParam.pipe(z.array(MetricName).max(1000)).optional(),
  include: z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).filter(Boolean))
    .pipe(z.array(z.enum(['features', 'best'])))
    .optional()
    .describe('`features`: add the feature diff of the runs; `best`: add each metric\'s best value by its direction (comma-separated or repeated)'),
});

export const CompareResponse = z.object({
  project_id: z.string().uuid(),
  experiments: z
    .record(z.string(), z.record(z.string(), MetricStats.extend({ best: MetricValue.nullable().optional(), direction: z.enum(['minimize', 'maximize']).optional() })))
    .describe('Keyed by the experiment identifiers exactly as sent (names stay names, UUIDs stay UUIDs)'),
  features: z
    .array(z.object({ key: z.string(), change: z.enum(['added', 'removed', 'changed', 'same']), values: z.record(z.string(), z.unknown()) }))
    .optional()
    .describe('With include=features: keys whose values differ between the runs, relative to the first (see GET …/feature-diff)'),
});

export const MetricNamesResponse = z.object({
  items: z.array(z.object({ metric_name: z.string(), total_points: z.number().int(), last_logged_at: z.string().nullable() })),
  sync: z
    .object({ pending_rows: z.number().int(), last_synced_at: z.string().nullable() })
    .describe('From clickhouse_sync_state: points accepted but not yet written when the last flush ended, and when that was'),
});

// ---- resources ------------------------------------------------------------------------------

export const Pagination = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(200).optional(),
});

/** Free text (notes): newlines and any Unicode but NUL and unpaired surrogates, which PostgreSQL cannot store. */
export const Description = Name('description', LIMITS.descriptionMax, 0);

export const ProjectCreate = z.object({
  name: Name('name'),
  description: Description.nullish(),
  retention_days: z
    .number()
    .int()
    .min(1)
    .max(36500)
    .optional()
    .describe(
      'Days metric points are kept after the server received them (default 730). Enforced by ClickHouse TTL; changing it deletes points ' +
        'already past the new value before the answer and rebuilds the affected runs\' summaries.',
    ),
});
export const ProjectPatch = ProjectCreate.partial();
export const IfExistsQuery = z.object({ if_exists: z.enum(['error', 'return']).default('error') });

export const Project = z.object({
  id: z.string().uuid(),
  team_id: z.string().uuid(),
  name: z.string(),
  description: z.string().nullable(),
  retention_days: z.number().int(),
  deleted_at: z.string().nullable().describe('Set while the project is soft-deleted (MLflow delete_experiment); null otherwise'),
  created_at: z.string(),
  updated_at: z.string(),
});

export const ExperimentStatus = z.enum(['running', 'complete', 'failed', 'crashed']);
/** A JSON object stored as jsonb: any shape, but no NUL or unpaired surrogate in its keys or strings. */
export const StoredJson = <T extends z.ZodType>(schema: T) =>
  schema.superRefine((v, ctx) => {
    const problem = jsonTextProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path });
  });
const JsonObject = z.record(z.string(), z.unknown());
/**
 * At least how many code points `JSON.stringify(v)` has, counted until it passes `budget` (then
 * the walk stops): a lower bound that never builds the text. NaN when `v` nests deeper than
 * LIMITS.jsonDepthMax (StoredJson refuses that; serialising it could overflow the stack).
 */
function jsonLengthPast(v: unknown, budget: number): number {
  let n = 0;
  const walk = (x: unknown, depth: number): void => {
    if (n > budget) return;
    if (typeof x === 'string') n += x.length / 2 + 2; // a code point is one or two UTF-16 units
    else if (typeof x === 'object' && x !== null) {
      if (depth > LIMITS.jsonDepthMax) n = NaN;
      else if (Array.isArray(x)) {
        n += 1 + x.length;
        for (const e of x) if ((walk(e, depth + 1), !(n <= budget))) return;
      } else {
        n += 1;
        for (const k in x) {
          n += k.length / 2 + 4;
          if ((walk((x as Record<string, unknown>)[k], depth + 1), !(n <= budget))) return;
        }
      }
    } else n += 1;
  };
  walk(v, 1);
  return n;
}

/**
 * Code points of `JSON.stringify(v)` when at most LIMITS.featuresJsonMax, Infinity past it (found
 * without serialising a too-big object), NaN when it nests deeper than LIMITS.jsonDepthMax.
 */
export function featuresJsonSize(v: unknown): number {
  const max = LIMITS.featuresJsonMax;
  const atLeast = jsonLengthPast(v, max);
  if (Number.isNaN(atLeast)) return NaN;
  return atLeast > max ? Infinity : codePointLength(JSON.stringify(v) ?? '');
}
export const featuresTooLarge = (n: number, scope: string) =>
  `features hold ${Number.isFinite(n) ? n : 'more than ' + LIMITS.featuresJsonMax} code points of JSON text; at most ${LIMITS.featuresJsonMax} ${scope}`;

/**
 * Features in a request: stored JSON, at most LIMITS.featuresJsonMax code points of compact JSON
 * text. The size is checked first, and a too-big object is seen without serialising it: a million
 * keys took the server 23 s to refuse when the record was parsed key by key first. The same bound
 * holds for a run's stored features after a merge (the experiments repository checks it).
 */
const Features = z
  .unknown()
  .superRefine((v, ctx) => {
    const n = featuresJsonSize(v);
    if (n > LIMITS.featuresJsonMax) ctx.addIssue({ code: 'custom', message: featuresTooLarge(n, 'per request') });
  })
  .pipe(StoredJson(JsonObject));
const Tags = z.array(Name('tag')).max(LIMITS.tagsMax);

export const ExperimentCreate = z.object({
  name: Name('name'),
  description: Description.nullish().describe('Notes, 0–10,000 code points'),
  features: Features.optional().describe(`With if_exists=return on an existing run: deep-merged into the stored features. At most ${LIMITS.featuresJsonMax.toLocaleString('en-US')} code points of JSON text per request, and in the run's features after the merge (else 422, nothing stored)`),
  tags: Tags.optional().describe('With if_exists=return on an existing run: added to the stored tags (stored ones first, no duplicates)'),
  parent_id: Name('parent_id').nullish().describe('The run this one derives from (UUID or name, same project); recorded as its first derived_from reference'),
  host: HostName.nullish(),
  started_at: Timestamp.nullish().describe('When the run started (an importer keeps the source run\'s time); default = now. Used only when the run is created'),
});
export const ExperimentPatch = z.object({
  status: ExperimentStatus.optional(),
  description: Description.nullish().describe('null clears it'),
  features: Features.optional().describe(`Deep-merged into the stored features. At most ${LIMITS.featuresJsonMax.toLocaleString('en-US')} code points of JSON text per request, and in the run's features after the merge (else 422, nothing stored)`),
  tags: Tags.optional().describe('Replaces the stored tags'),
  name: Name('name').optional(),
  host: HostName.nullish(),
  started_at: Timestamp.optional().describe('Sets the start time (importers keep the source run\'s time)'),
  finished_at: Timestamp.nullish().describe('Sets the end time as given (null clears it) instead of the server time a terminal `status` would record'),
});
export const CodeSnapshot = StoredJson(z.object({
  commit: z.string().max(100).nullish(),
  branch: z.string().max(500).nullish(),
  remote_url: z.string().max(2000).nullish(),
  dirty: z.boolean().nullish(),
  diff: z.string().max(20_000_000).nullish(),
  untracked: z.array(z.string().max(4096)).max(100_000).nullish(),
}));

export const Experiment = z.object({
  id: z.string().uuid(),
  team_id: z.string().uuid(),
  project_id: z.string().uuid(),
  name: z.string(),
  description: z.string().nullable(),
  status: ExperimentStatus,
  features: JsonObject,
  tags: z.array(z.string()),
  host: z.string().nullable(),
  git: JsonObject.nullable(),
  parent_id: z.string().uuid().nullable(),
  started_at: z.string(),
  finished_at: z.string().nullable(),
  heartbeat_at: z.string().nullable(),
  deleted_at: z.string().nullable().describe('Set when the run was soft-deleted (MLflow delete_run); null otherwise'),
  created_at: z.string(),
  updated_at: z.string(),
});

export const ExperimentListQuery = Pagination.extend({
  name: Name('name', LIMITS.nameMax, 0).optional().describe('Substring match on the name'),
  ids: listParam
    .transform((v) => v.flatMap((s) => s.split(',')).filter(Boolean))
    .pipe(z.array(Name('ids')).max(1000))
    .optional()
    .describe('Only these runs, by UUID or name (comma-separated or repeated): one request for the runs a compare view shows'),
  status: ExperimentStatus.optional(),
  tag: Name('tag').optional(),
  include_deleted: z.stringbool().default(false).describe('Also list soft-deleted runs (deleted through the MLflow API, restorable there)'),
});
export const ProjectListQuery = Pagination.extend({
  name: Name('name', LIMITS.nameMax, 0).optional().describe('Substring match on the name'),
  include_deleted: z.stringbool().default(false).describe('Also list soft-deleted projects (deleted through the MLflow API, restorable there)'),
});

export const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next_cursor: z.string().nullable() });

export const Role = z.enum(['admin', 'researcher', 'viewer']);
export const Me = z.object({
  team_id: z.string().uuid(),
  team_name: z.string(),
  user_id: z.string().uuid(),
  email: z.string(),
  role: Role,
  key_id: z.string().uuid().nullable().describe('The API key of this request; null when signed in with a session or HTTP Basic'),
});
export const ApiKeyCreate = z.object({
  name: Name('name'),
  role: Role.optional().describe('Defaults to the creating user role; cannot exceed the user role in the team'),
  user_id: z.string().uuid().optional().describe('A member of the team the key is for (admin only); defaults to yourself'),
});
export const ApiKey = z.object({
  id: z.string().uuid(),
  name: z.string(),
  prefix: z.string(),
  role: Role,
  user_id: z.string().uuid(),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
export const ApiKeyCreated = ApiKey.extend({ api_key: z.string().describe('Shown once; only its hash is stored') });
export const MemberAdd = z.object({ email: z.string().email().max(320), role: Role, name: Name('name', LIMITS.nameMax, 0).optional() });
export const Member = z.object({ user_id: z.string().uuid(), email: z.string(), name: z.string().nullable(), role: Role, created_at: z.string() });
export const MemberAdded = Member.extend({
  invite_url: z.string().nullable().describe('One-time sign-in link (7 days) for a user without a password, to set one; null when the user has a password'),
});
export const TeamCreated = z.object({
  team_id: z.string().uuid(),
  user_id: z.string().uuid(),
  api_key: z.string(),
  sign_in_url: z.string().optional().describe('One-time sign-in link (24 h) for an admin created without a password'),
});

// ---- Sign-in (browser sessions) ---------------------------------------------------------------

/** Passwords are hashed, never stored; NUL and unpaired surrogates are refused (UTF-8 could not tell them apart). */
export const PASSWORD_MAX = 1024;
export const Password = (field: string, min = 8) => Name(field, PASSWORD_MAX, min);
export const TeamCreate = z.object({ name: Name('name'), email: z.string().email().max(320).optional(), password: Password('password').optional() });
export const BackupRequest = z.object({ dir: Name('dir', 4096).describe('Absolute path of a new or empty directory on the server machine') });
export const BackupSummary = z.object({
  dir: z.string(),
  created_at: z.string(),
  pause_ms: z.number().describe('How long metric inserts waited for the snapshot'),
  files: z.number().int(),
  bytes: z.number().int(),
  metric_rows: z.number().int(),
  committed_batches: z.number().int(),
  artifacts: z.number().int(),
});
export const LoginRequest = z.object({
  email: Name('email', 320),
  password: Password('password', 1),
  team: Name('team').optional().describe('Team name or id to sign in to; default: the oldest of your teams'),
});
export const SessionTeam = z.object({ team_id: z.string().uuid(), team_name: z.string(), role: Role });
export const SessionInfo = z.object({
  user_id: z.string().uuid(),
  email: z.string(),
  name: z.string().nullable(),
  team_id: z.string().uuid(),
  team_name: z.string(),
  role: Role,
  csrf_token: z.string().nullable().describe('Send as X-CSRF-Token with every write made with the session cookie; null when not signed in with a session'),
  teams: z.array(SessionTeam).describe('Every team of the user (switch with POST /auth/switch-team)'),
});
export type SessionInfo = z.infer<typeof SessionInfo>;
export const SwitchTeamRequest = z.object({ team: Name('team').describe('Team name or id') });
export const RedeemRequest = z.object({
  token: Name('token', 256).describe('The token of a one-time sign-in link or invite'),
  password: Password('password').optional().describe('Sets the password (required when accepting an invite without one)'),
});
export const UserPasswordSet = z.object({ email: Name('email', 320), password: Password('password') });
export const PasswordChange = z.object({
  current_password: Password('current_password', 1).optional().describe('Required when the user has a password'),
  new_password: Password('new_password'),
});

export const ErrorResponse = z.object({ detail: z.unknown() });

// ---- Artifacts and heartbeat ------------------------------------------------------------------

export const ARTIFACT_PATH_MAX = 1024;

/**
 * Why an artifact path is unacceptable, or undefined when it is fine. Paths are '/'-separated and
 * relative: no leading '/', no drive letter, no '.' / '..' / empty segments, no backslash, no NUL or
 * other control characters, at most 1024 characters. The server stores bytes by content hash, so a
 * path never reaches the file system there; the rules protect clients that download to disk.
 */
export function artifactPathProblem(p: string): string | undefined {
  if (p.length === 0) return 'path must not be empty';
  if (p.length > ARTIFACT_PATH_MAX) return `path must be at most ${ARTIFACT_PATH_MAX} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'path must not contain NUL or control characters';
  if (p.includes('\\')) return 'path must use "/" as separator, not backslashes';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'path must be relative';
  for (const seg of p.split('/')) {
    if (seg === '') return 'path must not contain empty segments (leading, trailing or double "/")';
    if (seg === '..' || seg === '.') return 'path must not contain "." or ".." segments';
  }
  return undefined;
}

export const ArtifactPath = z
  .string()
  .superRefine((p, ctx) => {
    const problem = artifactPathProblem(p);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('Relative "/"-separated path, e.g. checkpoints/epoch_3.pt (no "..", no absolute paths, ≤ 1024 characters)');

export const ArtifactUploadQuery = z.object({ path: ArtifactPath });

export const Sha256Hex = z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters');

export const Artifact = z.object({
  id: z.string().uuid(),
  experiment_id: z.string().uuid(),
  path: z.string(),
  size: z.number().int(),
  sha256: z.string(),
  content_type: z.string(),
  created_at: z.string(),
});
export type Artifact = z.infer<typeof Artifact>;
export const ArtifactList = z.object({ items: z.array(Artifact) });

export const HeartbeatResponse = z.object({ status: ExperimentStatus, heartbeat_at: z.string() });

/** `assay doctor` / GET /admin/doctor: what an operator checks first. Sizes in bytes, ages in seconds. */
export const DoctorStoreCheck = z.object({
  name: z.enum(['postgres', 'clickhouse', 'redis']),
  where: z.string().describe('Where the store is, without credentials'),
  reachable: z.boolean(),
  latency_ms: z.number().nullable().describe('One round trip (a ping), measured from the process that answers'),
  version: z.string().nullable(),
  error: z.string().nullable(),
});
export const DoctorMigrations = z.object({ applied: z.array(z.string()), pending: z.array(z.string()) });
export const DoctorReport = z.object({
  ok: z.boolean().describe('Every configured store answered'),
  checked_by: z.object({ pid: z.number().int(), via: z.enum(['server', 'cli']) }),
  versions: z.object({ assay: z.string(), node: z.string(), postgres: z.string().nullable(), clickhouse: z.string().nullable(), chdb: z.string().nullable() }),
  stores: z.array(DoctorStoreCheck),
  migrations: z.object({ postgres: DoctorMigrations.nullable(), clickhouse: DoctorMigrations.nullable() }),
  pending_batches: z
    .object({
      count: z.number().int(),
      oldest_age_seconds: z.number().nullable(),
      items: z.array(z.object({ team_id: z.string(), experiment_id: z.string(), batch_id: z.string(), age_seconds: z.number() })).describe('The oldest 20'),
    })
    .nullable()
    .describe('Metric batches recorded before their ClickHouse insert and not yet committed (null when PostgreSQL is unreachable)'),
  aggregate_marks: z
    .object({
      count: z.number().int().describe('Experiments whose acknowledged points still owe their aggregates (written within ASSAY_AGGREGATE_DELAY_MS)'),
      lease_expired: z.number().int().describe('Of those, marks a stopped writer left: the crash sweeper’s pass or the next start rebuilds them from the points'),
    })
    .nullable()
    .describe('The aggregate backlog’s marks in PostgreSQL (null when PostgreSQL is unreachable)'),
  disk: z.object({
    data_dir: z.string(),
    postgres_bytes: z.number().nullable().describe('Embedded PGlite only'),
    clickhouse_bytes: z.number().nullable().describe('Embedded chDB only'),
    artifacts_bytes: z.number().nullable(),
    free_bytes: z.number().nullable().describe('Free to this user on the data dir file system'),
    total_bytes: z.number().nullable(),
  }),
  warnings: z.array(z.string()),
});
export type DoctorReport = z.infer<typeof DoctorReport>;
