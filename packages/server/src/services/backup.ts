import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../config.ts';
import type { AppContext } from '../context.ts';
import { HttpError } from '../errors.ts';

/**
 * A backup of the embedded stores: `postgres.tar` (PGlite's data dir), `clickhouse/<table>/<part>/`
 * (the MergeTree parts of every table), `artifacts/` (the content-addressed blobs) and
 * `manifest.json` (written last: a directory without it is not a backup).
 *
 * Consistency: the metadata dump and the ClickHouse snapshot are both taken inside
 * `writer.exclusive`, i.e. while no metric insert is in flight and none starts (requests keep
 * queueing and are written right after; nothing is refused). A batch id is marked committed in
 * PostgreSQL only after its rows are in ClickHouse, and inside the pause no flush sits between the
 * two, so the snapshot holds exactly the points of the committed batches (plus batches sent
 * without an id). The write-log mirror is flushed first, so per-metric totals agree too. PGlite
 * runs one statement at a time and `dumpDataDir` holds its query lock, so the tarball is one
 * instant of its files — a crash image PostgreSQL recovers on load (committed transactions only).
 * `ALTER TABLE … FREEZE` hard-links each table's parts (milliseconds); they are copied out after
 * the pause. Artifacts are copied after the dump: a blob is renamed into place before its row is
 * inserted and never removed, so every blob the dump names is there.
 */

export const BACKUP_FORMAT = 'assay-backup';
export const BACKUP_FORMAT_VERSION = 1;

export interface BackupFile {
  path: string;
  size: number;
  sha256: string;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  format_version: number;
  assay_version: string;
  created_at: string;
  /** How long metric inserts waited for the snapshot. */
  pause_ms: number;
  postgres: { migrations: number; tables: Record<string, number> };
  clickhouse: { database: string; migrations: number[]; tables: Record<string, { rows: number; parts: number }> };
  /** From the dumped metadata: batch ids committed (their points are all in the snapshot) and left pending. */
  write_log: { committed_batches: number; committed_points: number; pending_batches: number; points_by_experiment: Record<string, number> };
  artifacts: { blobs: number; bytes: number };
  files: BackupFile[];
}

export const ASSAY_VERSION = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The short answer both ways of taking a backup print. */
export function backupSummary(dir: string, m: BackupManifest) {
  return {
    dir,
    created_at: m.created_at,
    pause_ms: m.pause_ms,
    files: m.files.length,
    bytes: m.files.reduce((s, f) => s + f.size, 0),
    metric_rows: m.clickhouse.tables.metrics?.rows ?? 0,
    committed_batches: m.write_log.committed_batches,
    artifacts: m.artifacts.blobs,
  };
}

/** Why a backup or restore cannot use these stores, or undefined when both are embedded. */
export function serverStoresRefusal(c: Config): string | undefined {
  if (c.postgres.kind === 'pglite' && c.clickhouse.kind === 'chdb') return undefined;
  return (
    'assay backup/restore cover the embedded stores (PGlite and chDB in the data dir) only. ' +
    'With DATABASE_URL use pg_dump/pg_restore; with CLICKHOUSE_URL use ClickHouse\'s BACKUP DATABASE … TO Disk/S3 and RESTORE ' +
    '(docs/operations.md "Server stores"); back up ARTIFACT_DIR with any file copy.'
  );
}

/** The backup target must be new or empty, and outside what it copies. */
export function prepareBackupDir(c: Config, dir: string): string {
  if (!path.isAbsolute(dir)) throw new HttpError(400, `the backup dir must be an absolute path, got ${JSON.stringify(dir)}`);
  const abs = path.resolve(dir);
  for (const inside of [c.dataDir, c.artifactDir]) {
    const rel = path.relative(inside, abs);
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) throw new HttpError(400, `the backup dir ${abs} is inside ${inside}, which it would copy`);
  }
  const existing = fs.statSync(abs, { throwIfNoEntry: false });
  if (existing && !existing.isDirectory()) throw new HttpError(409, `the backup dir ${abs} exists and is not a directory`);
  if (existing && fs.readdirSync(abs).length > 0) throw new HttpError(409, `the backup dir ${abs} is not empty`);
  try {
    fs.mkdirSync(abs, { recursive: true, mode: 0o700 });
  } catch (err) {
    // a parent that is a file, no permission, a read-only disk: the operator's path, not our fault
    throw new HttpError(409, `cannot create the backup dir ${abs}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return abs;
}

/** Takes a backup of the running stores into `dir` (new or empty). */
export async function takeBackup(ctx: AppContext, dir: string): Promise<BackupManifest> {
  const refusal = serverStoresRefusal(ctx.config);
  if (refusal) throw new HttpError(409, refusal);
  const out = prepareBackupDir(ctx.config, dir);
  const chPath = (ctx.config.clickhouse as { path: string }).path;
  const database = ctx.config.CLICKHOUSE_DATABASE;
  const tables = await ctx.ch.adminRows<[string, string]>(
    "SELECT name, data_paths[1] FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' ORDER BY name",
    { db: database },
  );
  const freeze = `assay_backup_${randomBytes(8).toString('hex')}`;
  const shadow = path.join(chPath, 'shadow', freeze);
  let tar!: Blob;
  let pauseMs = 0;
  try {
    await ctx.writer.exclusive(async () => {
      const t0 = performance.now();
      await ctx.writeLogs.flush();
      tar = await ctx.pg.dumpDataDir!();
      // Identifiers from system.tables; the freeze name is ours (hex).
      for (const [t] of tables) await ctx.ch.adminCommand(`ALTER TABLE ${database}.\`${t}\` FREEZE WITH NAME '${freeze}'`);
      pauseMs = Math.round(performance.now() - t0);
    });
    await pipeline(tar.stream() as unknown as NodeJS.ReadableStream, fs.createWriteStream(path.join(out, 'postgres.tar'), { mode: 0o600 }));
    const chTables: BackupManifest['clickhouse']['tables'] = {};
    for (const [t, dataPath] of tables) {
      // FREEZE mirrors the table's data path (store/<uuid…> or data/<db>/<table>) under shadow/<name>/.
      const src = path.join(shadow, path.relative(chPath, dataPath));
      const dst = path.join(out, 'clickhouse', t);
      fs.mkdirSync(dst, { recursive: true });
      const parts = fs.existsSync(src) ? fs.readdirSync(src).filter((p) => fs.existsSync(path.join(src, p, 'checksums.txt'))) : [];
      let rows = 0;
      for (const p of parts) {
        fs.cpSync(path.join(src, p), path.join(dst, p), { recursive: true });
        rows += Number(fs.readFileSync(path.join(dst, p, 'count.txt'), 'utf8'));
      }
      chTables[t] = { rows, parts: parts.length };
    }
    const artifacts = copyArtifacts(ctx.config.artifactDir, path.join(out, 'artifacts'));
    const migrations = (await ctx.ch.adminRows<[number]>(`SELECT DISTINCT version FROM ${database}.assay_schema_migrations ORDER BY version`)).map((r) => Number(r[0]));
    const pg = await inspectPostgresDump(tar);
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      format_version: BACKUP_FORMAT_VERSION,
      assay_version: ASSAY_VERSION,
      created_at: new Date().toISOString(),
      pause_ms: pauseMs,
      postgres: { migrations: pg.migrations, tables: pg.tables },
      clickhouse: { database, migrations, tables: chTables },
      write_log: pg.writeLog,
      artifacts,
      files: await checksums(out),
    };
    const tmp = path.join(out, 'manifest.json.tmp');
    fs.writeFileSync(tmp, JSON.stringify(manifest, null, 1) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, path.join(out, 'manifest.json'));
    return manifest;
  } finally {
    fs.rmSync(shadow, { recursive: true, force: true });
  }
}

/** Blobs only (`<team>/sha256/…`); upload temp files are never part of an artifact. */
function copyArtifacts(from: string, to: string): { blobs: number; bytes: number } {
  fs.mkdirSync(to, { recursive: true });
  let blobs = 0;
  let bytes = 0;
  if (!fs.existsSync(from)) return { blobs, bytes };
  for (const team of fs.readdirSync(from)) {
    const src = path.join(from, team, 'sha256');
    if (!fs.existsSync(src)) continue;
    fs.cpSync(src, path.join(to, team, 'sha256'), { recursive: true });
    for (const f of fs.readdirSync(src, { recursive: true, withFileTypes: true })) {
      if (!f.isFile()) continue;
      blobs++;
      bytes += fs.statSync(path.join(f.parentPath, f.name)).size;
    }
  }
  return { blobs, bytes };
}

/** Every file under `dir` except the manifest, sorted, with its size and SHA-256. */
export async function checksums(dir: string): Promise<BackupFile[]> {
  const files: BackupFile[] = [];
  for (const f of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!f.isFile()) continue;
    const abs = path.join(f.parentPath, f.name);
    const rel = path.relative(dir, abs).split(path.sep).join('/');
    if (rel === 'manifest.json') continue;
    const hash = createHash('sha256');
    await pipeline(fs.createReadStream(abs), hash);
    files.push({ path: rel, size: fs.statSync(abs).size, sha256: hash.digest('hex') });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/**
 * Opens the dumped tarball in a throw-away in-memory PGlite: proof that it loads, and the row
 * counts and write log *of the dump* (the live database has moved on since).
 */
export async function inspectPostgresDump(tar: Blob): Promise<{ migrations: number; tables: Record<string, number>; writeLog: BackupManifest['write_log'] }> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create({ loadDataDir: tar });
  try {
    return await postgresCounts(db);
  } finally {
    await db.close();
  }
}

type Queryable = { query<T>(sql: string): Promise<{ rows: T[] }> };

export async function postgresCounts(db: Queryable): Promise<{ migrations: number; tables: Record<string, number>; writeLog: BackupManifest['write_log'] }> {
  const names = await db.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1");
  const tables: Record<string, number> = {};
  // Names come from the catalog, quoted as identifiers.
  for (const { t } of names.rows) tables[t] = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM "${t.replace(/"/g, '""')}"`)).rows[0].n);
  const migrations = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM drizzle.__drizzle_migrations')).rows[0].n);
  const [w] = (
    await db.query<{ c: string; p: string | null; pending: string }>(
      'SELECT count(*) FILTER (WHERE committed_at IS NOT NULL) AS c, sum(points) FILTER (WHERE committed_at IS NOT NULL) AS p, count(*) FILTER (WHERE committed_at IS NULL) AS pending FROM metric_batches',
    )
  ).rows;
  const per = await db.query<{ e: string; p: string }>('SELECT experiment_id AS e, sum(points) AS p FROM metric_batches WHERE committed_at IS NOT NULL GROUP BY 1 ORDER BY 1');
  return {
    migrations,
    tables,
    writeLog: {
      committed_batches: Number(w.c),
      committed_points: Number(w.p ?? 0),
      pending_batches: Number(w.pending),
      points_by_experiment: Object.fromEntries(per.rows.map((r) => [r.e, Number(r.p)])),
    },
  };
}
