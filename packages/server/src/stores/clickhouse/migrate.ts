import type { ClickHouseStore } from './query.ts';
import { migrationsTableDdl, renderMigrations, type DdlOptions } from './ddl.ts';

/** Applies pending versions in order; each statement is idempotent (IF NOT EXISTS). */
export async function migrateClickHouse(ch: ClickHouseStore, o: DdlOptions): Promise<number[]> {
  if (o.database !== 'default') await ch.adminCommand(`CREATE DATABASE IF NOT EXISTS ${o.database}${o.cluster ? ` ON CLUSTER ${o.cluster}` : ''}`);
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
