/**
 * TEST FIXTURE ONLY — never shipped, never documented as a way to run Assay. It lets CI run
 * Assay's ClickHouse-server code path (`CLICKHOUSE_URL`, @clickhouse/client over HTTP) on a
 * machine where no modern ClickHouse server installs: it serves ClickHouse's HTTP interface over
 * chDB (the same engine, 26.x) in its own process, with its own temp data dir, removed on stop.
 *
 * Run: `node --import tsx server.ts` (start.ts does it). Prints `ch-http-fixture listening on <url> data <dir>`.
 * Stops on SIGTERM/SIGINT or when its stdin closes (the parent died). Env: CH_FIXTURE_PORT (0 = any),
 * CH_FIXTURE_USER / CH_FIXTURE_PASSWORD (default `default` / empty), CH_FIXTURE_SESSIONS (4),
 * CH_FIXTURE_DEBUG=1 (each statement to stderr; start.ts forwards it).
 *
 * Each behaviour cites the rule of ClickHouse's HTTP interface it mirrors,
 * https://clickhouse.com/docs/interfaces/http ("HTTP:" below); where the fixture differs, it says so.
 *
 * Not implemented (Assay does not use them): HTTP sessions (`session_id`) and multipart bodies
 * (`use_multipart_params`, external tables) answer 501 NOT_IMPLEMENTED, as does ClickHouse's own
 * block compression (`compress=1` / `decompress=1`); responses are never compressed
 * (`enable_http_compression` is ignored) and never streamed (the whole result is buffered, so no
 * progress headers and no mid-stream exception); one user; no roles, quotas, `/replicas_status`,
 * `/play`; a client disconnect does not cancel the statement; GET's readonly rule is a check of the
 * statement's first keyword, not the `readonly` setting; a body with several statements runs them
 * all (chDB's multi-query) where a server refuses it; an INSERT whose URL query carries a SETTINGS
 * clause before FORMAT is not rewritten correctly. Exception codes and texts are the engine's own
 * (chDB is ClickHouse 26.x); the `(version …)` suffix is the fixture's.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Engine, FixtureError, type Outcome } from './engine.ts';

const VERSION = '26.7.2.1 (chDB test fixture)';

/**
 * URL parameters that are not settings (HTTP: "query", "database", "default_format", "user",
 * "password", "query_id", "session_id", "param_<name>" are named parameters; every other parameter
 * is a setting — "You can specify any number of settings as URL parameters").
 */
const NON_SETTINGS = new Set(['query', 'database', 'default_format', 'user', 'password', 'query_id', 'session_id', 'role', 'quota_key', 'compress', 'decompress']);

/**
 * Settings of the HTTP layer, not of the query engine: accepted and ignored. The fixture always
 * buffers the whole result before answering, which is what `wait_end_of_query=1` asks of a
 * server; it never compresses a response (the client decompresses only what arrives with a
 * Content-Encoding) and never sends progress headers.
 */
const HTTP_LAYER_SETTINGS = new Set([
  'wait_end_of_query',
  'http_wait_end_of_query',
  'buffer_size',
  'http_response_buffer_size',
  'send_progress_in_http_headers',
  'http_headers_progress_interval_ms',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_native_compression_disable_checksumming_on_decompress',
  'cancel_http_readonly_queries_on_client_close',
  'session_timeout',
  'session_check',
]);

/** Exception name → HTTP status, as ClickHouse's exceptionCodeToHTTPStatus maps them (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp). */
const STATUS_BY_NAME: Record<string, number> = {
  REQUIRED_PASSWORD: 401,
  ...Object.fromEntries(['UNKNOWN_USER', 'WRONG_PASSWORD', 'AUTHENTICATION_FAILED', 'SET_NON_GRANTED_ROLE', 'ACCESS_DENIED'].map((n) => [n, 403])),
  ...Object.fromEntries(
    [
      'BAD_ARGUMENTS', 'CANNOT_COMPILE_REGEXP', 'CANNOT_PARSE_TEXT', 'CANNOT_PARSE_ESCAPE_SEQUENCE', 'CANNOT_PARSE_QUOTED_STRING',
      'CANNOT_PARSE_DATE', 'CANNOT_PARSE_DATETIME', 'CANNOT_PARSE_NUMBER', 'CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING', 'CANNOT_PARSE_IPV4',
      'CANNOT_PARSE_IPV6', 'CANNOT_PARSE_INPUT_ASSERTION_FAILED', 'CANNOT_PARSE_UUID', 'DUPLICATE_COLUMN', 'ILLEGAL_COLUMN',
      'UNKNOWN_ELEMENT_IN_AST', 'UNKNOWN_TYPE_OF_AST_NODE', 'THERE_IS_NO_COLUMN', 'TOO_DEEP_AST', 'TOO_BIG_AST', 'UNEXPECTED_AST_STRUCTURE',
      'SYNTAX_ERROR', 'INCORRECT_DATA', 'TYPE_MISMATCH', 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
    ].map((n) => [n, 400]),
  ),
  ...Object.fromEntries(
    [
      'UNKNOWN_TABLE', 'UNKNOWN_FUNCTION', 'UNKNOWN_IDENTIFIER', 'UNKNOWN_TYPE', 'UNKNOWN_STORAGE', 'UNKNOWN_DATABASE', 'UNKNOWN_SETTING',
      'UNKNOWN_DIRECTION_OF_SORTING', 'UNKNOWN_AGGREGATE_FUNCTION', 'UNKNOWN_FORMAT', 'UNKNOWN_DATABASE_ENGINE', 'UNKNOWN_TYPE_OF_QUERY', 'UNKNOWN_ROLE',
    ].map((n) => [n, 404]),
  ),
  QUERY_IS_TOO_LARGE: 413,
  NOT_IMPLEMENTED: 501,
  SOCKET_TIMEOUT: 503,
  CANNOT_OPEN_FILE: 503,
  TIMEOUT_EXCEEDED: 408,
  CANNOT_SCHEDULE_TASK: 503,
  UNSUPPORTED_MEDIA_TYPE: 415,
};

/** `INSERT … FORMAT <name>` whose data is the request body (HTTP: "the beginning of the query in the 'query' parameter, the rest in the POST"). */
const INSERT_WITH_DATA = /^\s*(INSERT\s[\s\S]*?)\s+FORMAT\s+(\w+)\s*;?\s*$/i;

interface Options {
  port: number;
  user: string;
  password: string;
  sessions: number;
}

export async function serve(o: Options): Promise<{ url: string; dataDir: string; stop(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-ch-fixture-'));
  const infileDir = path.join(dir, 'infile');
  fs.mkdirSync(infileDir);
  const engine = new Engine(path.join(dir, 'data'), o.sessions);
  let seq = 0;

  // ClickHouse takes a URI of up to http_max_uri_size (1 MiB) and @clickhouse/client sends every
  // param_* in it; Node's 16 KiB header limit refused a 500-series read (431, an empty error)
  const server = http.createServer({ maxHeaderSize: 1 << 20 }, (req, res) => {
    handle(req, res).catch((err: unknown) => sendError(res, err, new URL(req.url ?? '/', 'http://fixture').searchParams.get('query_id') ?? ''));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fixture');
    // HTTP: "GET /ping … always returns Ok." and "GET / without parameters returns 200 and Ok."
    if (url.pathname === '/ping' || (url.pathname === '/' && req.method !== 'POST' && !url.searchParams.has('query'))) {
      req.resume();
      res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    const queryId = url.searchParams.get('query_id') ?? '';
    if (url.pathname !== '/') {
      req.resume();
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=UTF-8' }).end(`There is no handle ${url.pathname}\n\nUse / or /ping for health checks.\n`);
      return;
    }
    authenticate(req, url, o);
    // HTTP sessions (session_id) keep settings and temporary tables between requests: Assay does not use them.
    if (url.searchParams.has('session_id')) throw new FixtureError(48, 'NOT_IMPLEMENTED', 'HTTP sessions (session_id) are not implemented by the test fixture');
    if (/^multipart\//i.test(header(req, 'content-type') ?? '')) throw new FixtureError(48, 'NOT_IMPLEMENTED', 'multipart bodies are not implemented by the test fixture');
    for (const k of ['compress', 'decompress']) {
      if (url.searchParams.get(k) === '1') throw new FixtureError(48, 'NOT_IMPLEMENTED', `${k}=1 (ClickHouse block compression) is not implemented by the test fixture`);
    }

    const settings: Record<string, string> = {};
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) {
      // HTTP "Queries with parameters": `param_<name>=<value>`, the value in the escaped text form.
      if (k.startsWith('param_')) params[k.slice(6)] = v;
      else if (!NON_SETTINGS.has(k) && !HTTP_LAYER_SETTINGS.has(k)) settings[k] = v;
    }
    // HTTP: "database" URL parameter or X-ClickHouse-Database header; else the user's default database.
    const database = url.searchParams.get('database') ?? header(req, 'x-clickhouse-database') ?? 'default';
    // HTTP: default_format URL parameter or X-ClickHouse-Format header; TabSeparated by default.
    const format = url.searchParams.get('default_format') ?? header(req, 'x-clickhouse-format') ?? 'TabSeparated';
    const urlQuery = url.searchParams.get('query') ?? '';
    const body = decode(req);

    let outcome: Outcome;
    const insert = req.method === 'POST' ? INSERT_WITH_DATA.exec(urlQuery) : null;
    if (insert) {
      // The body is the insert's data, parsed by ClickHouse's own input format (Native, JSONEachRow, …):
      // streamed to a file and read with `FROM INFILE`, so the engine, not the fixture, reads the bytes.
      const file = path.join(infileDir, `${++seq}.data`);
      try {
        await pipeline(body, fs.createWriteStream(file));
        if (fs.statSync(file).size === 0) {
          outcome = { body: Buffer.alloc(0), rowsRead: 0, bytesRead: 0, elapsedNs: 0 };
        } else {
          const sql = `${insert[1]} FROM INFILE '${file}' FORMAT ${insert[2]}`;
          outcome = await engine.run({ sql, database, settings, params, format });
        }
      } finally {
        fs.rmSync(file, { force: true });
      }
    } else {
      if (req.method !== 'POST' && req.method !== 'GET') throw new FixtureError(1, 'UNSUPPORTED_METHOD', `HTTP method ${req.method} is not supported`);
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      const posted = Buffer.concat(chunks).toString('utf8');
      // HTTP: the query is the 'query' parameter followed by the POST body.
      const sql = urlQuery && posted ? `${urlQuery}\n${posted}` : urlQuery || posted;
      if (!sql.trim()) throw new FixtureError(62, 'SYNTAX_ERROR', 'Empty query');
      // HTTP: "Requests using GET are readonly" — only reads over GET.
      if (req.method === 'GET' && !/^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN|CHECK)\b/i.test(sql)) {
        throw new FixtureError(164, 'READONLY', 'Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries');
      }
      outcome = await engine.run({ sql, database, settings, params, format });
    }
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Format': format,
      'X-ClickHouse-Server-Display-Name': 'ch-http-fixture',
      // HTTP: "X-ClickHouse-Summary" reports the query's progress counters when it ends.
      'X-ClickHouse-Summary': JSON.stringify({
        read_rows: String(outcome.rowsRead),
        read_bytes: String(outcome.bytesRead),
        written_rows: insert ? String(outcome.rowsRead) : '0',
        written_bytes: insert ? String(outcome.bytesRead) : '0',
        total_rows_to_read: '0',
        result_rows: insert ? '0' : String(outcome.rowsRead),
        result_bytes: String(outcome.body.length),
        elapsed_ns: String(outcome.elapsedNs),
      }),
    });
    res.end(outcome.body);
  }

  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(o.port, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    dataDir: dir,
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        await engine.close();
        server.closeAllConnections();
        await closed;
        fs.rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** HTTP: a POST body sent with `Content-Encoding: gzip` / `deflate` is decompressed by the server. */
function decode(req: http.IncomingMessage): NodeJS.ReadableStream {
  const enc = header(req, 'content-encoding');
  if (!enc) return req;
  if (enc === 'gzip') return req.pipe(zlib.createGunzip());
  if (enc === 'deflate') return req.pipe(zlib.createInflate());
  throw new FixtureError(48, 'NOT_IMPLEMENTED', `Content-Encoding ${enc} is not implemented by the test fixture`);
}

/**
 * HTTP: credentials as Basic authentication, as the `user`/`password` URL parameters, or as the
 * X-ClickHouse-User / X-ClickHouse-Key headers; no credentials means the user `default`.
 */
function authenticate(req: http.IncomingMessage, url: URL, o: Options): void {
  let user = url.searchParams.get('user') ?? header(req, 'x-clickhouse-user');
  let password = url.searchParams.get('password') ?? header(req, 'x-clickhouse-key');
  const auth = header(req, 'authorization');
  if (auth?.startsWith('Basic ')) {
    const plain = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const i = plain.indexOf(':');
    user = plain.slice(0, i < 0 ? undefined : i);
    password = i < 0 ? '' : plain.slice(i + 1);
  }
  if ((user ?? 'default') !== o.user || (password ?? '') !== o.password) {
    throw new FixtureError(516, 'AUTHENTICATION_FAILED', `${user ?? 'default'}: Authentication failed: password is incorrect, or there is no user with such name`);
  }
}

/**
 * HTTP ("HTTP response codes caveats"): a failed query answers a 4xx/5xx status, the exception code
 * in the X-ClickHouse-Exception-Code header and `Code: N. DB::Exception: … (NAME) (version …)` as
 * the body — the text @clickhouse/client parses into a ClickHouseError with `code` and `type`.
 */
function sendError(res: http.ServerResponse, err: unknown, queryId: string): void {
  const raw = err instanceof Error ? err.message : String(err);
  const m = /^Code: (\d+)\. DB::Exception: [\s\S]*\(([A-Z_0-9]+)\)\s*$/.exec(raw.trim());
  const text = m ? raw.trim() : `Code: 1001. DB::Exception: ${raw.replace(/\s+$/, '')}. (STD_EXCEPTION)`;
  const code = m ? m[1] : '1001';
  const status = (m && STATUS_BY_NAME[m[2]]) || 500;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=UTF-8', 'X-ClickHouse-Exception-Code': code, 'X-ClickHouse-Query-Id': queryId });
  res.end(`${text} (version ${VERSION})\n`);
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname);
if (isMain) {
  const env = process.env;
  const fixture = await serve({
    port: Number(env.CH_FIXTURE_PORT ?? 0),
    user: env.CH_FIXTURE_USER ?? 'default',
    password: env.CH_FIXTURE_PASSWORD ?? '',
    sessions: Number(env.CH_FIXTURE_SESSIONS ?? 4),
  });
  const stop = () => void fixture.stop().then(() => process.exit(0), (e: unknown) => (console.error(e), process.exit(1)));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // The parent holds our stdin: when it goes (even by SIGKILL), so do we, and the data dir with us.
  process.stdin.on('end', stop).on('close', stop).resume();
  console.log(`ch-http-fixture listening on ${fixture.url} data ${fixture.dataDir}`);
}
