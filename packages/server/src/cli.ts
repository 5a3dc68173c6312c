import { Command } from 'commander';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { registerImportCommands } from './importers/index.ts';
import { serve } from './serve.ts';
import { busyMessage, lockDataDir, waitForServer } from './server-file.ts';
import { createTeam } from './services/teams.ts';
import { openStores, closeStores, privateDataDir } from './stores.ts';
import { openPostgres } from './stores/postgres/db.ts';

const program = new Command();
program
  .name('assay')
  .description('Assay — experiment tracking and metrics. Configuration comes from the environment (see README); flags override it.')
  .showHelpAfterError();

const dataDirOption = ['--data-dir <dir>', 'data directory for the embedded stores (ASSAY_DATA_DIR, default ./.assay)'] as const;

function config(opts: { dataDir?: string; port?: string }): Config {
  return loadConfig({ ASSAY_DATA_DIR: opts.dataDir, PORT: opts.port });
}

program
  .command('serve')
  .description('migrate both stores and serve the API, docs and UI')
  .option('-p, --port <port>', 'port to listen on (PORT, default 8000)')
  .option(...dataDirOption)
  .action(async (opts) => serve(config(opts)));

program
  .command('migrate')
  .description('apply PostgreSQL and ClickHouse migrations, then exit (serve does this at start too)')
  .option(...dataDirOption)
  .action(async (opts) => {
    const c = config(opts);
    const holder = c.postgres.kind === 'pglite' || c.clickhouse.kind === 'chdb' ? await lockDataDir(c.dataDir, 'migrate') : undefined;
    if (holder?.command === 'serve') {
      console.log(`a server (pid ${holder.pid}) holds ${c.dataDir}; it migrated both stores when it started`);
      return;
    }
    if (holder) throw new Error(busyMessage(c.dataDir, holder));
    const ctx = await openStores(c, (e, m) => console.error(m, e));
    await closeStores(ctx);
    console.log('migrations applied');
  });

const team = program.command('team').description('manage teams');
team
  .command('create <name>')
  .description('create a team, its admin user and an admin API key; prints {"team_id","user_id","api_key"} as one JSON line. ' +
    'While a server runs on the same data dir the request goes through that server.')
  .option('--email <email>', 'the admin user email (default admin@<team>.local)')
  .option(...dataDirOption)
  .action(async (name: string, opts: { email?: string; dataDir?: string }) => {
    const c = config(opts);
    const running = c.postgres.kind === 'pglite' ? await waitForServer(c.dataDir, 'team create') : undefined;
    let created: unknown;
    if (running) {
      const res = await fetch(`${running.url}/api/v1/admin/teams`, {
        method: 'POST',
        headers: { authorization: `Bearer ${running.admin_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, email: opts.email }),
      });
      const body = (await res.json()) as { detail?: unknown };
      if (!res.ok) throw new Error(`server refused: ${res.status} ${JSON.stringify(body.detail)}`);
      created = body;
    } else {
      privateDataDir(c);
      const pg = await openPostgres(c.postgres);
      try {
        await pg.migrate();
        created = await createTeam(pg.db, name, opts.email);
      } finally {
        await pg.close();
      }
    }
    process.stdout.write(JSON.stringify(created) + '\n');
  });

registerImportCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const msg = e instanceof ConfigError ? e.message : ((e as { detail?: string }).detail ?? (e as Error).message);
  console.error(`assay: ${msg}`);
  process.exit(1);
}
