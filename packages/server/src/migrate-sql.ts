import fs from 'node:fs';
import path from 'node:path';
import { describeStores, type Config } from './config.ts';
import { postgresAppliedUpTo, postgresMigrations, pendingPostgres } from './migration-state.ts';
import { lockDataDir, unlockDataDir } from './server-file.ts';
import { renderMigrations, setupStatements } from './stores/clickhouse/ddl.ts';
import { openPostgres } from './stores/postgres/db.ts';

const terminated = (s: string) => (s.trimEnd().endsWith(';') ? s.trimEnd() : `${s.trimEnd()};`);

/**
 * `assay migrate --print-sql`: the statements `assay migrate` would send, without sending them.
 * ClickHouse is not contacted: every statement is printed, rendered for a single node or for
 * CLICKHOUSE_CLUSTER (a run skips the versions already recorded in assay_schema_migrations, and
 * every statement is idempotent). PostgreSQL is only read (drizzle's bookkeeping table) to print
 * the pending migrations; an embedded PGlite that does not exist yet is not created.
 */
export async function printMigrationSql(c: Config, write: (s: string) => void = (s) => void process.stdout.write(s)): Promise<void> {
  const o = { database: c.CLICKHOUSE_DATABASE, cluster: c.CLICKHOUSE_CLUSTER };
  const stores = describeStores(c);
  write(`-- ClickHouse: ${stores.clickhouse}, database ${o.database}, ${o.cluster ? `cluster ${o.cluster} (ON CLUSTER, Replicated engines, Distributed tables)` : 'single node'}\n`);
  write('-- Every statement; `assay migrate` skips the versions recorded in assay_schema_migrations.\n\n');
  write('-- setup\n' + setupStatements(o).map((s) => terminated(s) + '\n\n').join(''));
  for (const m of renderMigrations(o)) write(`-- ClickHouse migration ${m.version}: ${m.name}\n` + m.statements.map((s) => terminated(s) + '\n\n').join(''));

  const all = postgresMigrations();
  const { note, appliedUpTo } = await postgresState(c);
  const pending = note === undefined ? pendingPostgres(all, appliedUpTo) : [];
  write(`-- PostgreSQL: ${stores.postgres}: ${note ?? `${pending.length} of ${all.length} migrations pending`}\n\n`);
  for (const m of pending) write(`-- PostgreSQL migration ${m.tag}\n` + m.statements.map((s) => terminated(s) + '\n\n').join(''));
}

/** What PostgreSQL has applied, read-only; `note` instead when it cannot be read without changing anything. */
async function postgresState(c: Config): Promise<{ appliedUpTo?: number; note?: string }> {
  if (c.postgres.kind === 'pglite') {
    if (!fs.existsSync(path.join(c.postgres.path, 'PG_VERSION'))) return {}; // nothing yet: every migration is pending
    // PGlite admits one process: read it only while no server (or other command) has it open.
    const holder = await lockDataDir(c.dataDir, 'migrate --print-sql');
    if (holder) return { note: `held by pid ${holder.pid ?? '?'} (assay ${holder.command ?? '?'})${holder.command === 'serve' ? ', which applied its migrations when it started' : ''}; stop it to see what this version would apply` };
    try {
      return await readApplied(c);
    } finally {
      unlockDataDir();
    }
  }
  return readApplied(c);
}

async function readApplied(c: Config): Promise<{ appliedUpTo?: number }> {
  const pg = await openPostgres(c.postgres);
  try {
    return { appliedUpTo: await postgresAppliedUpTo(pg.db) };
  } finally {
    await pg.close();
  }
}
