import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { Config } from '../../config.ts';
import { schema } from './schema.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface PostgresStore {
  db: Db;
  kind: 'pglite' | 'postgres';
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /** PGlite only: its data dir as a tarball, taken under its query lock (one instant; `assay backup`). */
  dumpDataDir?(): Promise<Blob>;
}

export const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * PGlite starts PostgreSQL with `-F` (fsync off), and even with fsync on its Node filesystem
 * never reaches the disk: Emscripten's NODEFS has no `fsync` stream op and its `fdatasync` is a
 * no-op, so a commit lives only in the OS page cache — it survives `kill -9`, not an OS crash or
 * power loss. So: fsync on, WAL flushed with `fsync()` (the call that reaches the stream op), and
 * the stream op made real below. Cost on the ingest path: README "Durability".
 */
export function durableStartParams(defaults: string[]): string[] {
  return [...defaults.filter((p) => p !== '-F'), '-c', 'fsync=on', '-c', 'synchronous_commit=on', '-c', 'wal_sync_method=fsync', '-c', 'full_page_writes=on'];
}

/** A PGlite NodeFS whose fsync reaches the disk (files by their descriptor, directories by path). */
async function durableNodeFs(dataDir: string) {
  const { NodeFS } = await import('@electric-sql/pglite/nodefs');
  type Stream = { nfd?: number; node: unknown };
  type NodeFsOps = { stream_ops: { fsync?: (s: Stream) => void }; realPath(node: unknown): string };
  return new (class extends NodeFS {
    override async init(...args: Parameters<InstanceType<typeof NodeFS>['init']>) {
      const r = await super.init(...args);
      const preRun = r.emscriptenOpts.preRun ?? [];
      r.emscriptenOpts.preRun = [
        ...preRun,
        (mod: { NODEFS: NodeFsOps }) => {
          mod.NODEFS.stream_ops.fsync = (stream) => {
            if (typeof stream.nfd === 'number') return fs.fsyncSync(stream.nfd);
            const fd = fs.openSync(mod.NODEFS.realPath(stream.node), 'r');
            try {
              fs.fsyncSync(fd);
            } finally {
              fs.closeSync(fd);
            }
          };
        },
      ] as typeof preRun;
      return r;
    }
  })(dataDir);
}

/** Opens PGlite (embedded, a data dir) or node-postgres; same schema, same migrations. */
export async function openPostgres(config: Config['postgres']): Promise<PostgresStore> {
  if (config.kind === 'pglite') {
    const { PGlite } = await import('@electric-sql/pglite');
    const { drizzle } = await import('drizzle-orm/pglite');
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    fs.mkdirSync(config.path, { recursive: true });
    // PGlite's default 128 MB of shared buffers is most of its resident memory; the metadata
    // working set is tiny (idle RSS 305 → 180 MB measured with 16 MB).
    const client = config.fsync
      ? await PGlite.create({ fs: await durableNodeFs(config.path), startParams: [...durableStartParams(PGlite.defaultStartParams), '-c', 'shared_buffers=32MB'] })
      : await PGlite.create(config.path, { startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=32MB'] });
    const db = drizzle(client, { schema }) as unknown as Db;
    return {
      db,
      kind: 'pglite',
      migrate: () => migrate(db as never, { migrationsFolder }),
      ping: async () => void (await client.query('select 1')),
      close: () => client.close(),
      dumpDataDir: () => client.dumpDataDir('none'),
    };
  }
  const pg = await import('pg');
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');
  const pool = new pg.default.Pool({ connectionString: config.url, max: 10 });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => undefined);
  const db = drizzle(pool, { schema }) as unknown as Db;
  return {
    db,
    kind: 'postgres',
    migrate: () => migrate(db as never, { migrationsFolder }),
    ping: async () => void (await pool.query('select 1')),
    close: () => pool.end(),
  };
}
