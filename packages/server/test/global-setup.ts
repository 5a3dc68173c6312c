import { loadConfig } from '../src/config.ts';
import { openPostgres } from '../src/stores/postgres/db.ts';

/**
 * Against a shared PostgreSQL (DATABASE_URL), migrate once before the parallel test files start,
 * so two files never race to create the schema. Embedded runs need nothing: each file has its own.
 */
export default async function setup(): Promise<void> {
  const config = loadConfig();
  if (config.postgres.kind !== 'postgres') return;
  const pg = await openPostgres(config.postgres);
  try {
    await pg.migrate();
  } finally {
    await pg.close();
  }
}
