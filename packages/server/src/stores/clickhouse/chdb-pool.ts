import type { Readable } from 'node:stream';
import type { Connection } from 'chdb/connection';

type ChdbConnection = Connection<Readable>;

/** A statement whose result is exactly this is proof the session holds no leftover output. */
const PROBE = 'SELECT 1 FORMAT TabSeparated';
const PROBE_RESULT = '1\n';

/**
 * chDB sessions over one data dir, each running one statement at a time.
 *
 * Why: a chDB session keeps the output a failed statement produced before it failed (a read stopped
 * by `max_execution_time` mid-stream) and prepends it to the result of the session's next statement
 * — another request's, possibly another team's, answer with the failed query's rows in front
 * (found in issue 10's soak; `test/chdb-pool.test.ts` reproduces it). So a statement that fails is
 * followed, on its own session and before anyone else may use it, by a probe that absorbs the
 * leftover; a session that still answers wrongly is replaced. Sessions share the engine (tables,
 * parts); several keep reads and inserts running side by side as they did on one shared session.
 */
export class ChdbSessionPool implements ChdbConnection {
  private readonly idle: ChdbConnection[] = [];
  private readonly waiting: ((c: ChdbConnection) => void)[] = [];
  private readonly sessions = new Set<ChdbConnection>();
  private closed = false;

  constructor(
    private readonly open: () => ChdbConnection,
    size: number,
  ) {
    for (let i = 0; i < size; i++) this.idle.push(this.track(open()));
  }

  query(params: Parameters<ChdbConnection['query']>[0]) {
    return this.run((c) => c.query(params));
  }
  insert(params: Parameters<ChdbConnection['insert']>[0]) {
    return this.run((c) => c.insert(params));
  }
  command(params: Parameters<ChdbConnection['command']>[0]) {
    return this.run((c) => c.command(params));
  }
  exec(params: Parameters<ChdbConnection['exec']>[0]) {
    return this.run((c) => c.exec(params));
  }
  ping(params: Parameters<ChdbConnection['ping']>[0]) {
    return this.run((c) => c.ping(params));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.sessions].map((c) => c.close()));
    this.sessions.clear();
  }

  /** chDB materialises a result before `query()` resolves, so the session is free once it has. */
  private async run<T>(statement: (c: ChdbConnection) => Promise<T>): Promise<T> {
    const session = await this.acquire();
    let clean = true;
    try {
      return await statement(session);
    } catch (err) {
      clean = false;
      throw err;
    } finally {
      this.release(clean ? session : await this.cleaned(session));
    }
  }

  private async cleaned(session: ChdbConnection): Promise<ChdbConnection> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const r = await session.query({ query: PROBE });
        if ((await text(r.stream)) === PROBE_RESULT) return session;
      } catch {
        /* try again, then replace */
      }
    }
    this.sessions.delete(session);
    await session.close().catch(() => undefined);
    return this.track(this.open());
  }

  private acquire(): Promise<ChdbConnection> {
    if (this.closed) return Promise.reject(new Error('ChdbConnection is closed'));
    const c = this.idle.pop();
    return c ? Promise.resolve(c) : new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(c: ChdbConnection): void {
    const next = this.waiting.shift();
    if (next) next(c);
    else this.idle.push(c);
  }

  private track(c: ChdbConnection): ChdbConnection {
    this.sessions.add(c);
    return c;
  }
}

async function text(stream: Readable): Promise<string> {
  let s = '';
  for await (const chunk of stream) s += String(chunk);
  return s;
}
