import { Password } from '@assay/contracts';
import { Command } from 'commander';
import { registerBackupCommands } from './backup.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { registerDoctorCommand } from './doctor.ts';
import { registerImportCommands } from './importers/index.ts';
import { printMigrationSql } from './migrate-sql.ts';
import { serve } from './serve.ts';
import { busyMessage, lockDataDir, waitForServer } from './server-file.ts';
import { setPasswordByEmail } from './services/sessions.ts';
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
  .option('--print-sql', 'print the statements instead (ClickHouse: all, for a single node or CLICKHOUSE_CLUSTER, without connecting; PostgreSQL: the pending ones, read-only)')
  .option(...dataDirOption)
  .action(async (opts) => {
    const c = config(opts);
    if (opts.printSql) return printMigrationSql(c);
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

/**
 * Through the server that holds the data dir (embedded PGlite admits one process), authenticated by
 * its local admin token; undefined when no server runs there (or the metadata store is a server).
 */
async function viaServer(c: Config, what: string, method: string, route: string, body: unknown): Promise<unknown> {
  const running = c.postgres.kind === 'pglite' ? await waitForServer(c.dataDir, what) : undefined;
  if (!running) return undefined;
  const res = await fetch(`${running.url}/api/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${running.admin_token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as { detail?: unknown };
  if (!res.ok) throw new Error(`server refused: ${res.status} ${JSON.stringify(answer.detail)}`);
  return answer;
}

/** Opens only the metadata store (migrated), for commands that run without a server. */
async function withPostgres<T>(c: Config, fn: (pg: Awaited<ReturnType<typeof openPostgres>>) => Promise<T>): Promise<T> {
  privateDataDir(c);
  const pg = await openPostgres(c.postgres);
  try {
    await pg.migrate();
    return await fn(pg);
  } finally {
    await pg.close();
  }
}

/** A password from --password, else the first line of stdin (so it stays out of shell history and `ps`). */
async function passwordFrom(opts: { password?: string }): Promise<string> {
  if (opts.password !== undefined) return opts.password;
  if (process.stdin.isTTY) process.stderr.write('new password: ');
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0];
}

function checkPassword(password: string): void {
  const problem = Password('password').safeParse(password);
  if (!problem.success) throw new Error(problem.error.issues[0].message);
}

const team = program.command('team').description('manage teams');
team
  .command('create <name>')
  .description('create a team, its admin user and an admin API key; prints {"team_id","user_id","api_key"} as one JSON line, ' +
    'plus "sign_in_url" (a one-time browser sign-in link, 24 h, at ASSAY_PUBLIC_URL) when no --password is given. ' +
    'While a server runs on the same data dir the request goes through that server.')
  .option('--email <email>', 'the admin user email (default admin@<team>.local); the web UI sign-in name')
  .option('--password <password>', 'the admin password for the web UI and HTTP Basic (at least 8 characters); the admin can sign in at once')
  .option(...dataDirOption)
  .action(async (name: string, opts: { email?: string; password?: string; dataDir?: string }) => {
    const c = config(opts);
    if (opts.password !== undefined) checkPassword(opts.password);
    const created =
      (await viaServer(c, 'team create', 'POST', '/admin/teams', { name, email: opts.email, password: opts.password })) ??
      (await withPostgres(c, (pg) => createTeam(pg.db, name, opts.email, { password: opts.password, publicUrl: c.publicUrl })));
    process.stdout.write(JSON.stringify(created) + '\n');
  });

const user = program.command('user').description('manage users');
user
  .command('password <email>')
  .description('set a user\'s password (for the web UI and HTTP Basic) and end all their sessions; reads the password from the first ' +
    'line of stdin unless --password is given; prints {"user_id"}')
  .option('--password <password>', 'the new password (at least 8 characters); prefer stdin, which stays out of shell history')
  .option(...dataDirOption)
  .action(async (email: string, opts: { password?: string; dataDir?: string }) => {
    const c = config(opts);
    const password = await passwordFrom(opts);
    checkPassword(password);
    const done =
      (await viaServer(c, 'user password', 'PUT', '/admin/users/password', { email, password })) ??
      (await withPostgres(c, (pg) => setPasswordByEmail({ pg }, email, password, c.REDIS_URL)));
    process.stdout.write(JSON.stringify(done) + '\n');
  });

registerImportCommands(program);
registerDoctorCommand(program);
registerBackupCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const msg = e instanceof ConfigError ? e.message : ((e as { detail?: string }).detail ?? (e as Error).message);
  console.error(`assay: ${msg}`);
  process.exit(1);
}
