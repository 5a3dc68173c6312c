import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadConfig, type Config } from './config.ts';
import { busyMessage, lockDataDir, unlockDataDir, waitForServer } from './server-file.ts';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, backupSummary, checksums, postgresCounts, serverStoresRefusal, takeBackup, type BackupManifest } from './services/backup.ts';
import { closeStores, openStores } from './stores.ts';
import { connectClickHouse } from './stores/clickhouse/client.ts';
import { renderMigrations, setupStatements } from './stores/clickhouse/ddl.ts';
import { ClickHouseStore } from './stores/clickhouse/query.ts';

/**
 * `assay backup <dir>` and `assay restore <dir>` (docs/operations.md). The snapshot itself and why
 * it is consistent: services/backup.ts.
 */

const journal = path.join(path.dirname(fileURLToPath(import.meta.url)), 'stores', 'postgres', 'migrations', 'meta', '_journal.json');
const SAFE_NAME = /^[A-Za-z0-9_.-]+$/;

export class RestoreRefused extends Error {}

/** Reads and checks a backup dir: the manifest's format and versions, then every file's size and checksum, and no stray file. */
export async function verifyBackup(dir: string): Promise<BackupManifest> {
  let m: BackupManifest;
  try {
    m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as BackupManifest;
  } catch (e) {
    throw new RestoreRefused(`${dir} has no readable manifest.json (${(e as Error).message}); an interrupted backup has none`);
  }
  if (m?.format !== BACKUP_FORMAT || m.format_version !== BACKUP_FORMAT_VERSION) throw new RestoreRefused(`${dir}/manifest.json is not an ${BACKUP_FORMAT} v${BACKUP_FORMAT_VERSION} manifest`);
  const pgKnown = (JSON.parse(fs.readFileSync(journal, 'utf8')) as { entries: unknown[] }).entries.length;
  if (m.postgres.migrations > pgKnown) throw new RestoreRefused(`the backup was made by a newer Assay (${m.assay_version}: ${m.postgres.migrations} PostgreSQL migrations, this one knows ${pgKnown})`);
  const chKnown = new Set(renderMigrations({ database: 'default' }).map((x) => x.version));
  const unknown = m.clickhouse.migrations.filter((v) => !chKnown.has(v));
  if (unknown.length) throw new RestoreRefused(`the backup was made by a newer Assay (${m.assay_version}: ClickHouse migrations ${unknown.join(', ')} unknown here)`);
  const listed = new Map(m.files.map((f) => [f.path, f]));
  const actual = await checksums(dir);
  for (const f of actual) {
    const want = listed.get(f.path);
    if (!want) throw new RestoreRefused(`${f.path} is in the backup dir but not in its manifest`);
    if (want.size !== f.size || want.sha256 !== f.sha256) throw new RestoreRefused(`${f.path} does not match its checksum in the manifest (changed or damaged)`);
    listed.delete(f.path);
  }
  if (listed.size) throw new RestoreRefused(`${[...listed.keys()][0]} is listed in the manifest but missing (${listed.size} missing)`);
  for (const [t, { rows }] of Object.entries(m.clickhouse.tables)) {
    if (!SAFE_NAME.test(t)) throw new RestoreRefused(`bad table name ${JSON.stringify(t)} in the manifest`);
    const tdir = path.join(dir, 'clickhouse', t);
    const parts = fs.existsSync(tdir) ? fs.readdirSync(tdir) : [];
    const counted = parts.reduce((s, p) => s + Number(fs.readFileSync(path.join(tdir, p, 'count.txt'), 'utf8')), 0);
    if (counted !== rows) throw new RestoreRefused(`clickhouse table ${t}: the parts hold ${counted} rows, the manifest says ${rows}`);
  }
  return m;
}

/** Non-empty means anything besides a lock file. */
function isEmptyDir(dir: string): boolean {
  return !fs.existsSync(dir) || fs.readdirSync(dir).every((n) => n === 'assay.lock');
}

function fsyncTree(dir: string): void {
  for (const f of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const fd = fs.openSync(path.join(f.parentPath, f.name), 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * Restores a verified backup into the (stopped) data dir of `c`: built in a sibling directory,
 * checked against the manifest's counts there, fsynced, then renamed into place. A crash before
 * the renames leaves the old data dir untouched (and a `.<name>.restore-<pid>` sibling to delete);
 * between the two renames the old data is at `.<name>.replaced-<pid>` and the new at the restore sibling.
 */
export async function restoreBackup(c: Config, dir: string, o: { force?: boolean } = {}): Promise<{ data_dir: string; manifest: BackupManifest; ms: number }> {
  const t0 = performance.now();
  const refusal = serverStoresRefusal(c);
  if (refusal) throw new RestoreRefused(refusal);
  const target = c.dataDir;
  if (fs.existsSync(target)) {
    const holder = await lockDataDir(target, 'restore', 0);
    if (holder) throw new RestoreRefused(busyMessage(target, holder) + ' — restore needs a stopped data dir');
  }
  try {
    if (!isEmptyDir(target) && !o.force) throw new RestoreRefused(`the data dir ${target} is not empty; pass --force to replace it (its current contents are deleted)`);
    const m = await verifyBackup(path.resolve(dir));
    const staging = path.join(path.dirname(target), `.${path.basename(target)}.restore-${process.pid}`);
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true, mode: 0o700 });
    try {
      await restorePostgres(path.join(dir, 'postgres.tar'), path.join(staging, 'postgres'), m);
      await restoreClickHouse(c, path.join(dir, 'clickhouse'), path.join(staging, 'clickhouse'), m);
      if (fs.existsSync(path.join(dir, 'artifacts'))) fs.cpSync(path.join(dir, 'artifacts'), path.join(staging, 'artifacts'), { recursive: true });
      fsyncTree(staging);
    } catch (e) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw e;
    }
    if (fs.existsSync(target)) {
      const replaced = path.join(path.dirname(target), `.${path.basename(target)}.replaced-${process.pid}`);
      fs.renameSync(target, replaced);
      fs.renameSync(staging, target);
      fs.rmSync(replaced, { recursive: true, force: true });
    } else {
      fs.renameSync(staging, target);
    }
    const parent = fs.openSync(path.dirname(target), 'r');
    fs.fsyncSync(parent);
    fs.closeSync(parent);
    return { data_dir: target, manifest: m, ms: Math.round(performance.now() - t0) };
  } finally {
    unlockDataDir();
  }
}

async function restorePostgres(tarFile: string, into: string, m: BackupManifest): Promise<void> {
  const { PGlite } = await import('@electric-sql/pglite');
  fs.mkdirSync(into, { recursive: true });
  const db = await PGlite.create(into, { loadDataDir: new Blob([fs.readFileSync(tarFile)]) });
  try {
    const got = await postgresCounts(db);
    for (const [t, n] of Object.entries(m.postgres.tables)) {
      if (got.tables[t] !== n) throw new RestoreRefused(`restored PostgreSQL table ${t} has ${got.tables[t]} rows, the manifest says ${n}`);
    }
  } finally {
    await db.close();
  }
}

/** The schema at the backup's migration versions, then each table's parts attached from `detached/`. */
async function restoreClickHouse(c: Config, from: string, into: string, m: BackupManifest): Promise<void> {
  const config: Config = { ...c, CLICKHOUSE_DATABASE: m.clickhouse.database, clickhouse: { kind: 'chdb', path: into, fsync: true } };
  const ch = new ClickHouseStore(await connectClickHouse(config), { maxExecutionSeconds: 3600, maxMemoryBytes: 2 ** 31 });
  try {
    const o = { database: m.clickhouse.database };
    for (const stmt of setupStatements(o)) await ch.adminCommand(stmt);
    const versions = new Set(m.clickhouse.migrations);
    for (const mig of renderMigrations(o)) {
      if (!versions.has(mig.version)) continue;
      for (const stmt of mig.statements) await ch.adminCommand(stmt);
    }
    const paths = new Map(
      (await ch.adminRows<[string, string]>('SELECT name, data_paths[1] FROM system.tables WHERE database = {db:String}', { db: o.database })).map((r) => [r[0], r[1]]),
    );
    for (const [t, { rows }] of Object.entries(m.clickhouse.tables)) {
      const dataPath = paths.get(t);
      if (!dataPath) throw new RestoreRefused(`the backup has ClickHouse table ${t}, which its migrations did not create`);
      const src = path.join(from, t);
      // A merge right after an ATTACH would collapse an aggregate table's rows (same key in several
      // parts) and the count below would no longer be the manifest's: no merge until this process
      // ends (merges are a per-process state; the server started on the restored dir merges as usual).
      await ch.adminCommand(`SYSTEM STOP MERGES ${o.database}.\`${t}\``);
      for (const part of fs.existsSync(src) ? fs.readdirSync(src) : []) {
        if (!SAFE_NAME.test(part)) throw new RestoreRefused(`bad part name ${JSON.stringify(part)}`);
        fs.cpSync(path.join(src, part), path.join(dataPath, 'detached', part), { recursive: true });
        await ch.adminCommand(`ALTER TABLE ${o.database}.\`${t}\` ATTACH PART '${part}'`);
      }
      const [[n]] = await ch.adminRows<[number]>(`SELECT count() FROM ${o.database}.\`${t}\``);
      if (Number(n) !== rows) throw new RestoreRefused(`restored ClickHouse table ${t} has ${n} rows, the manifest says ${rows}`);
    }
  } finally {
    await ch.close();
  }
}

/** Through the server holding the data dir (local admin token), or undefined after taking the dir's lock ourselves. */
async function backupViaServer(c: Config, dir: string): Promise<ReturnType<typeof backupSummary> | undefined> {
  const running = await waitForServer(c.dataDir, 'backup');
  if (!running) return undefined;
  const res = await fetch(`${running.url}/api/v1/admin/backup`, {
    method: 'POST',
    headers: { authorization: `Bearer ${running.admin_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ dir }),
    signal: AbortSignal.timeout(24 * 3600_000),
  });
  const answer = (await res.json()) as { detail?: unknown };
  if (!res.ok) throw new Error(`server refused: ${res.status} ${JSON.stringify(answer.detail)}`);
  return answer as ReturnType<typeof backupSummary>;
}

export function registerBackupCommands(program: Command): void {
  const dataDir = ['--data-dir <dir>', 'data directory for the embedded stores (ASSAY_DATA_DIR, default ./.assay)'] as const;
  program
    .command('backup <dir>')
    .description(
      'back up the embedded stores (PGlite, chDB, artifacts) into <dir> (new or empty) with a manifest.json of versions, row counts and ' +
        'checksums; prints a JSON summary. While a server runs on the data dir it takes the snapshot (metric inserts wait for it, ' +
        'typically well under a second; nothing is refused). With DATABASE_URL / CLICKHOUSE_URL use pg_dump and ClickHouse BACKUP instead.',
    )
    .option(...dataDir)
    .action(async (dir: string, opts: { dataDir?: string }) => {
      const c = loadConfig({ ASSAY_DATA_DIR: opts.dataDir });
      const refusal = serverStoresRefusal(c);
      if (refusal) throw new Error(refusal);
      const abs = path.resolve(dir);
      const t0 = performance.now();
      let summary = await backupViaServer(c, abs);
      if (!summary) {
        const ctx = await openStores(c, (e, msg) => console.error(msg, e));
        try {
          summary = backupSummary(abs, await takeBackup(ctx, abs));
        } finally {
          await closeStores(ctx);
          unlockDataDir();
        }
      }
      process.stdout.write(JSON.stringify({ ...summary, ms: Math.round(performance.now() - t0) }) + '\n');
    });
  program
    .command('restore <dir>')
    .description(
      'restore a backup made by `assay backup` into the data dir, which must not be in use by a server and must be empty ' +
        '(or --force to replace it). The manifest and every checksum are verified first; the data is built beside the data dir ' +
        'and renamed into place, so a crash leaves the old or the new data. Prints a JSON summary.',
    )
    .option('--force', 'replace a non-empty data dir (its current contents are deleted)')
    .option(...dataDir)
    .action(async (dir: string, opts: { dataDir?: string; force?: boolean }) => {
      const c = loadConfig({ ASSAY_DATA_DIR: opts.dataDir });
      const r = await restoreBackup(c, dir, { force: opts.force });
      process.stdout.write(JSON.stringify({ data_dir: r.data_dir, ...backupSummary(path.resolve(dir), r.manifest), ms: r.ms }) + '\n');
    });
}
