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
 * Embedded chDB only: how MergeTree parts are written and merged. `fsync`: whether parts are fsynced
 * (files and part directory) before an insert returns, so an acknowledged point survives an OS crash,
 * not only `kill -9` (the page cache keeps it then). The next two leave two files out of every part
 * (of 11–13): each flush writes up to six parts, and on this project's machine (ext4 without a
 * journal) creating a file was most of an insert's cost (perf: ext4 `recently_deleted` scans).
 * `statistics.packed` (column statistics no query here asks for) and `columns_substreams.txt`
 * (per-subcolumn marks in compact parts; the one tuple read, series-fine's last_point, takes all its
 * elements). Existing parts keep theirs; merges drop them.
 * `merge_selector_base = 10` (ClickHouse's default 5): merges take about twice as many parts of a
 * size at once, so a point is rewritten fewer times on its way to a big part. The merges run on the
 * same 2 cores as the API: a 10M-point import spent 7–8 CPU s of its 24–26 in merges, 2.7–3.4 with
 * 10 (server CPU 30 s after the import's end: 25.2–26.2 → 18.6–24.0 s; 20 was no better). The price:
 * a 10M-point table rests in ~11 parts instead of ~3, which reads open side by side.
 * A ClickHouse server keeps its operator's settings. Only tables that differ are altered.
 */
export async function setEmbeddedTableSettings(ch: ClickHouseStore, database: string, on: boolean): Promise<void> {
  const v = on ? 1 : 0;
  const want = [`fsync_after_insert = ${v}`, `fsync_part_directory = ${v}`, "auto_statistics_types = ''", 'write_marks_for_substreams_in_compact_parts = 0', 'merge_selector_base = 10'];
  const tables = await ch.adminRows<[string, string]>(`SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree'`, { db: database });
  for (const [t, engine] of tables) {
    if (want.every((w) => engine.includes(w))) continue;
    await ch.adminCommand(`ALTER TABLE ${database}.\`${t}\` MODIFY SETTING ${want.join(', ')}`);
  }
}
