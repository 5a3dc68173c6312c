import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { renderMigrations, type DdlOptions } from './stores/clickhouse/ddl.ts';
import type { ClickHouseStore } from './stores/clickhouse/query.ts';
import type { Db } from './stores/postgres/db.ts';
import { migrationsFolder } from './stores/postgres/db.ts';

/**
 * Which migrations each store has and which it lacks, read without applying anything: for
 * `assay migrate --print-sql` and `assay doctor`.
 */

export interface PostgresMigration {
  tag: string;
  /** The journal's timestamp: drizzle applies every migration newer than the newest one recorded. */
  when: number;
  statements: string[];
}

/** This build's PostgreSQL migrations, in order (the journal and its SQL files). */
export function postgresMigrations(): PostgresMigration[] {
  const journal = JSON.parse(fs.readFileSync(path.join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string; when: number }[] };
  const files = readMigrationFiles({ migrationsFolder });
  return journal.entries.map((e, i) => ({ tag: e.tag, when: e.when, statements: files[i].sql.map((s) => s.trim()).filter(Boolean) }));
}

/**
 * The newest migration recorded in the database (drizzle's bookkeeping table), or undefined when
 * the database has none (a new database: every migration is pending). Only reads.
 */
export async function postgresAppliedUpTo(db: Db): Promise<number | undefined> {
  const present = (await db.execute(sql`select to_regclass('drizzle.__drizzle_migrations') is not null as present`)) as unknown as { rows: { present: boolean }[] };
  if (!present.rows[0]?.present) return undefined;
  const r = (await db.execute(sql`select max(created_at)::text as last from drizzle.__drizzle_migrations`)) as unknown as { rows: { last: string | null }[] };
  return r.rows[0]?.last == null ? undefined : Number(r.rows[0].last);
}

/** The same rule as drizzle's migrator: pending is every migration newer than the newest applied. */
export function pendingPostgres(all: PostgresMigration[], appliedUpTo: number | undefined): PostgresMigration[] {
  return all.filter((m) => appliedUpTo === undefined || m.when > appliedUpTo);
}

export interface MigrationState {
  applied: string[];
  pending: string[];
}

export async function postgresMigrationState(db: Db): Promise<MigrationState> {
  const all = postgresMigrations();
  const pending = new Set(pendingPostgres(all, await postgresAppliedUpTo(db)).map((m) => m.tag));
  return { applied: all.filter((m) => !pending.has(m.tag)).map((m) => m.tag), pending: [...pending] };
}

/** ClickHouse versions as `<version>_<name>`; applied = recorded in <db>.assay_schema_migrations (absent table: none). */
export async function clickhouseMigrationState(ch: ClickHouseStore, o: DdlOptions): Promise<MigrationState> {
  const [[exists]] = await ch.adminRows<[number]>('SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}', {
    db: o.database,
    t: 'assay_schema_migrations',
  });
  const done = new Set(
    Number(exists) ? (await ch.adminRows<[number]>(`SELECT DISTINCT version FROM ${o.database}.assay_schema_migrations`)).map((r) => Number(r[0])) : [],
  );
  const label = (m: { version: number; name: string }) => `${m.version} ${m.name}`;
  const all = renderMigrations(o);
  return { applied: all.filter((m) => done.has(m.version)).map(label), pending: all.filter((m) => !done.has(m.version)).map(label) };
}
