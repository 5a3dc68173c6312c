import { defineConfig } from 'drizzle-kit';

// `npx drizzle-kit generate --config packages/server/drizzle.config.ts` writes the SQL migrations
// that both PGlite and PostgreSQL apply at start.
export default defineConfig({
  dialect: 'postgresql',
  schema: './packages/server/src/stores/postgres/schema.ts',
  out: './packages/server/src/stores/postgres/migrations',
});
