import fs from 'node:fs';
import path from 'node:path';
import type { DoctorReport } from '@assay/contracts';
import type { Command } from 'commander';
import { loadConfig, type Config } from './config.ts';
import { unlockDataDir, waitForServer } from './server-file.ts';
import { doctorReport, type Opened } from './services/doctor.ts';
import { connectClickHouse } from './stores/clickhouse/client.ts';
import { ClickHouseStore } from './stores/clickhouse/query.ts';
import { openPostgres, type PostgresStore } from './stores/postgres/db.ts';

/** How long `assay doctor` waits for a starting server (or another command) holding the data dir. */
const WAIT_MS = 60_000;

/**
 * `assay doctor`. While a server holds the embedded data dir (PGlite and chDB admit one process)
 * the report comes from that server (GET /api/v1/admin/doctor with its local admin token); else
 * this process opens the stores itself — without migrating or creating anything.
 */
export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      'check an installation: versions, store reachability and latency (PostgreSQL, ClickHouse, Redis), migrations, pending metric batches, aggregates still to write, ' +
        'disk use and warnings; through the running server when one holds the data dir. Exits 1 when a store is unreachable.',
    )
    .option('--json', 'print the report as one JSON object')
    .option('--data-dir <dir>', 'data directory for the embedded stores (ASSAY_DATA_DIR, default ./.assay)')
    .action(async (opts: { json?: boolean; dataDir?: string }) => {
      const c = loadConfig({ ASSAY_DATA_DIR: opts.dataDir });
      const report = await collect(c);
      process.stdout.write(opts.json ? JSON.stringify(report) + '\n' : formatReport(report));
      if (!report.ok) process.exitCode = 1;
    });
}

async function collect(c: Config): Promise<DoctorReport> {
  const embedded = c.postgres.kind === 'pglite' || c.clickhouse.kind === 'chdb';
  if (embedded && fs.existsSync(c.dataDir)) {
    const running = await waitForServer(c.dataDir, 'doctor', WAIT_MS);
    if (running) {
      const res = await fetch(`${running.url}/api/v1/admin/doctor`, { headers: { authorization: `Bearer ${running.admin_token}` }, signal: AbortSignal.timeout(WAIT_MS) });
      const body = (await res.json()) as DoctorReport & { detail?: unknown };
      if (!res.ok) throw new Error(`server refused: ${res.status} ${JSON.stringify(body.detail)}`);
      return body;
    }
  }
  try {
    return await offline(c);
  } finally {
    unlockDataDir();
  }
}

/** The stores opened by this process, read-only: no migration, and an embedded store that does not exist yet is reported, not created. */
async function offline(c: Config): Promise<DoctorReport> {
  const pg = await open<PostgresStore>(
    c.postgres.kind === 'pglite' && !fs.existsSync(path.join(c.postgres.path, 'PG_VERSION')) ? `no database at ${c.postgres.path} yet (assay serve or assay migrate creates it)` : undefined,
    () => openPostgres(c.postgres),
  );
  const ch = await open<ClickHouseStore>(
    c.clickhouse.kind === 'chdb' && !fs.existsSync(c.clickhouse.path) ? `no database at ${c.clickhouse.path} yet (assay serve or assay migrate creates it)` : undefined,
    async () => new ClickHouseStore(await connectClickHouse(c), { maxExecutionSeconds: 30, maxMemoryBytes: 1 << 30 }),
  );
  try {
    return await doctorReport({ config: c, pg, ch, via: 'cli' });
  } finally {
    if ('store' in pg) await pg.store.close().catch(() => undefined);
    if ('store' in ch) await ch.store.close().catch(() => undefined);
  }
}

async function open<T>(absent: string | undefined, fn: () => Promise<T>): Promise<Opened<T>> {
  if (absent) return { error: absent };
  try {
    return { store: await fn() };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
function bytes(n: number | null): string {
  if (n === null) return '—';
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) (n /= 1024), i++;
  return `${i ? n.toFixed(1) : n} ${UNITS[i]}`;
}

/** The human form: one section per line group, problems first in the eye (✗), warnings last. */
export function formatReport(r: DoctorReport): string {
  const v = r.versions;
  const lines = [
    `assay doctor — ${r.ok ? 'all stores reachable' : 'UNREACHABLE: ' + r.stores.filter((s) => !s.reachable).map((s) => s.name).join(', ')} (checked by ${r.checked_by.via === 'server' ? 'the running server' : 'this command'}, pid ${r.checked_by.pid})`,
    '',
    `versions    assay ${v.assay} · node ${v.node} · PostgreSQL ${v.postgres ?? '?'} · ClickHouse ${v.clickhouse ?? '?'}${v.chdb ? ` · chDB ${v.chdb}` : ''}`,
    ...r.stores.map(
      (s, i) =>
        `${i === 0 ? 'stores     ' : '           '} ${s.reachable ? '✓' : '✗'} ${s.name.padEnd(10)} ${s.reachable ? `${s.latency_ms} ms`.padEnd(10) : 'unreachable'} ${s.where}${s.error ? ` — ${s.error}` : ''}`,
    ),
    ...(['postgres', 'clickhouse'] as const).map((k, i) => {
      const m = r.migrations[k];
      return `${i === 0 ? 'migrations ' : '           '} ${k.padEnd(10)} ${m ? `${m.applied.length} applied, ${m.pending.length} pending${m.pending.length ? ': ' + m.pending.join(', ') : ''}` : 'unknown (store unreachable)'}`;
    }),
    `batches     ${r.pending_batches ? `${r.pending_batches.count} pending${r.pending_batches.oldest_age_seconds !== null ? `, oldest ${r.pending_batches.oldest_age_seconds} s` : ''}` : 'unknown (PostgreSQL unreachable)'}`,
    ...(r.pending_batches?.items ?? []).map((b) => `              ${b.batch_id} (experiment ${b.experiment_id}, team ${b.team_id}, ${b.age_seconds} s)`),
    `aggregates  ${r.aggregate_marks ? `${r.aggregate_marks.count} experiment(s) still to write, ${r.aggregate_marks.lease_expired} left by a stopped writer` : 'unknown (PostgreSQL unreachable)'}`,
    `disk        ${r.disk.data_dir}: PGlite ${bytes(r.disk.postgres_bytes)} · chDB ${bytes(r.disk.clickhouse_bytes)} · artifacts ${bytes(r.disk.artifacts_bytes)} · free ${bytes(r.disk.free_bytes)} of ${bytes(r.disk.total_bytes)}`,
    ...(r.warnings.length ? ['', 'warnings', ...r.warnings.map((w) => `  - ${w}`)] : []),
  ];
  return lines.join('\n') + '\n';
}
