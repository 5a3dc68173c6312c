import type { ClickHouseStore } from './query.ts';
import { createDatabaseDdl, migrationsTableDdl, renderMigrations, type DdlOptions } from './ddl.ts';

/** Applies pending versions in order; each statement is idempotent (IF NOT EXISTS). */
export async function migrateClickHouse(ch: ClickHouseStore, o: DdlOptions): Promise<number[]> {
  // The same statements `assay migrate --print-sql` shows (setupStatements).
  const database = createDatabaseDdl(o);
  if (database) await ch.serverCommand(database);
  await ch.adminCommand(migrationsTableDdl(o));
  const done = new Set((await ch.adminRows<[number]>(`SELECT version FROM ${o.database}.assay_schema_migrations`)).map((r) => Number(r[0])));
  const applied: number[] = [];
  for (const m of renderMigrations(o)) {
    if (done.has(m.version)) continue;
    for (const stmt of m.statements) await ch.adminCommand(stmt);
    await ch.client.insert({
      table: `${o.database}.assay_schema_migrations`,
      values: [{ version: m.version, name: m.name }],
      format: 'JSONEachRow',
    });
    applied.push(m.version);
  }
  return applied;
}

/**
 * Embedded chDB only: whether MergeTree parts are fsynced (files and part directory) before an
 * insert returns, so an acknowledged point survives an OS crash, not only `kill -9` (the page
 * cache keeps it then). A ClickHouse server keeps its operator's `<merge_tree>` settings.
 * Only tables whose setting differs are altered, so a normal start changes nothing.
 */
export async function setPartFsync(ch: ClickHouseStore, database: string, on: boolean): Promise<void> {
  const tables = await ch.adminRows<[string]>(
    `SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' AND (position(engine_full, 'fsync_after_insert = 1') > 0) != {on:Bool}`,
    { db: database, on },
  );
  const v = on ? 1 : 0;
  for (const [t] of tables) await ch.adminCommand(`ALTER TABLE ${database}.\`${t}\` MODIFY SETTING fsync_after_insert = ${v}, fsync_part_directory = ${v}`);
}
