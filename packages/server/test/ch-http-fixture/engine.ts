/**
 * TEST FIXTURE ONLY — the chDB side of the ClickHouse-HTTP test fixture (see server.ts). Never
 * shipped, never a way to run Assay.
 *
 * A few chDB sessions over one data dir. Each HTTP request runs on one session, and everything a
 * ClickHouse server scopes to the request (its settings, its current database) is put in place on
 * that session before the statement and taken back by the next request: chDB keeps `SET` and `USE`
 * for the session's lifetime, a ClickHouse server forgets them when the request ends.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

interface ChdbResult {
  bytes(): Uint8Array;
  readonly rowsRead: number;
  readonly bytesRead: number;
  readonly elapsed: number;
}
interface RawResult {
  bytes: Buffer;
  rowsRead: number;
  bytesRead: number;
  elapsed: number;
}
interface Session {
  readonly connection: unknown;
  queryAsync(sql: string, opts?: { format?: string }): Promise<ChdbResult>;
  close(): void;
}
interface Native {
  QueryAsyncConnection(connection: unknown, sql: string, format: string, params?: Record<string, string>): Promise<RawResult>;
}

const chdb = require('chdb') as { Session: new (dir: string, opts?: { connectionArgs?: string[] }) => Session };

/**
 * Where clickhouse-local (chDB) changes a setting's default, a server keeps the stock one: start
 * every session with the server's, so a statement that relies on a local-only default fails here
 * as it would against a server (`SELECT name, value, default FROM system.settings WHERE changed`).
 */
const SERVER_DEFAULTS = ['--implicit_select=0', '--allow_introspection_functions=0'];
/**
 * chDB's own `queryBindAsync` formats JS values into parameter text (strings are TSV-escaped once
 * more). Over HTTP the values already are that text — `param_x` as the client formatted it, e.g.
 * `['a\'b','c']` for an Array(String) — so they go to the engine's binder as they came, through
 * the same native call `queryBindAsync` ends in. The engine substitutes `{name:Type}` itself.
 */
const native = require(path.join(path.dirname(require.resolve('chdb')), 'dist', 'loader.js')).loadNative() as Native;

export interface Statement {
  sql: string;
  /** The request's `database` (ClickHouse: the current database for this query). */
  database: string;
  /** Engine settings from the URL, applied for this request only. */
  settings: Record<string, string>;
  /** `param_<name>` values, as sent. */
  params: Record<string, string>;
  /** Output format when the SQL has no FORMAT clause (`default_format`, else TabSeparated). */
  format: string;
}

export interface Outcome {
  body: Buffer;
  rowsRead: number;
  bytesRead: number;
  elapsedNs: number;
}

interface Slot {
  session: Session;
  /** Settings this session may still have from an earlier request. */
  applied: Set<string>;
}

const PROBE = 'SELECT 1 FORMAT TabSeparated';
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A ClickHouse-format error raised by the fixture itself (not by chDB). */
export class FixtureError extends Error {
  constructor(
    readonly code: number,
    readonly name: string,
    message: string,
  ) {
    super(`Code: ${code}. DB::Exception: ${message}. (${name})`);
  }
}

const literal = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export class Engine {
  private readonly idle: Slot[] = [];
  private readonly waiting: ((s: Slot) => void)[] = [];
  private readonly all = new Set<Slot>();
  private busy = 0;
  private drained: (() => void) | undefined;
  /**
   * Parameterised statements run one at a time, process-wide: chDB's binder state is not isolated
   * between connections (its index.js says so and chains its own queryBindAsync calls the same way).
   */
  private paramChain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly dir: string,
    size: number,
  ) {
    for (let i = 0; i < size; i++) this.idle.push(this.open());
  }

  async run(st: Statement): Promise<Outcome> {
    const slot = await this.acquire();
    if (process.env.CH_FIXTURE_DEBUG) console.error('run', st.sql.slice(0, 80), Object.keys(st.params));
    let ok = false;
    const requested = new Set(Object.keys(st.settings));
    try {
      const prefix: string[] = [];
      for (const k of slot.applied) if (!requested.has(k)) prefix.push(`SET ${k} = DEFAULT`);
      for (const [k, v] of Object.entries(st.settings)) {
        if (!IDENT.test(k)) throw new FixtureError(115, 'UNKNOWN_SETTING', `Setting ${k} is neither a builtin setting nor started with the prefix 'custom_'`);
        prefix.push(`SET ${k} = ${literal(v)}`);
      }
      if (!IDENT.test(st.database)) throw new FixtureError(81, 'UNKNOWN_DATABASE', `Database ${st.database} does not exist`);
      prefix.push(`USE ${st.database}`);
      const sql = `${prefix.join('; ')}; ${st.sql}`;
      const r = await this.exec(slot, sql, st.format, st.params);
      ok = true;
      if (process.env.CH_FIXTURE_DEBUG) console.error('done', st.sql.slice(0, 80));
      slot.applied = requested;
      return r;
    } finally {
      if (!ok) for (const k of requested) slot.applied.add(k);
      this.release(ok ? slot : await this.cleaned(slot));
    }
  }

  private async exec(slot: Slot, sql: string, format: string, params: Record<string, string>): Promise<Outcome> {
    if (Object.keys(params).length === 0) {
      const r = await slot.session.queryAsync(sql, { format });
      const b = r.bytes();
      return { body: Buffer.from(b.buffer, b.byteOffset, b.byteLength), rowsRead: r.rowsRead, bytesRead: r.bytesRead, elapsedNs: Math.round(r.elapsed * 1e9) };
    }
    const run = this.paramChain.then(() => native.QueryAsyncConnection(slot.session.connection, sql, format, params));
    this.paramChain = run.catch(() => undefined);
    const r = await run;
    return { body: r.bytes, rowsRead: r.rowsRead, bytesRead: r.bytesRead, elapsedNs: Math.round(r.elapsed * 1e9) };
  }

  /**
   * After a failed statement: a chDB session can keep output the statement produced before it
   * failed and prepend it to its next result (packages/server/src/stores/clickhouse/chdb-pool.ts);
   * a probe absorbs it, and a session that still answers wrongly is replaced.
   */
  private async cleaned(slot: Slot): Promise<Slot> {
    for (let i = 0; i < 3; i++) {
      try {
        const r = await slot.session.queryAsync(PROBE);
        if (Buffer.from(r.bytes()).toString() === '1\n') return slot;
      } catch {
        /* again, then replace */
      }
    }
    this.all.delete(slot);
    slot.session.close();
    return this.open();
  }

  private open(): Slot {
    const slot = { session: new chdb.Session(this.dir, { connectionArgs: SERVER_DEFAULTS }), applied: new Set<string>() };
    this.all.add(slot);
    return slot;
  }

  private acquire(): Promise<Slot> {
    if (this.closed) return Promise.reject(new FixtureError(210, 'NETWORK_ERROR', 'the fixture is shutting down'));
    this.busy++;
    const s = this.idle.pop();
    return s ? Promise.resolve(s) : new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(s: Slot): void {
    this.busy--;
    const next = this.waiting.shift();
    if (next) next(s);
    else this.idle.push(s);
    if (this.busy === 0) this.drained?.();
  }

  /** Waits for running and queued statements (queued ones count as busy), then closes every session. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.busy > 0) await new Promise<void>((r) => (this.drained = r));
    for (const s of this.all) s.session.close();
    this.all.clear();
  }
}
