import fs from 'node:fs';
import { ClickHouseLogLevel, createClient as create, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeBlock } from '../src/stores/clickhouse/native.ts';
import { ClickHouseStore, insertNative } from '../src/stores/clickhouse/query.ts';
import { startClickHouseHttpFixture, type ClickHouseHttpFixture } from './ch-http-fixture/start.ts';

/**
 * The ClickHouse-HTTP test fixture (test/ch-http-fixture) answers as a ClickHouse server would, for
 * what Assay's HTTP path uses. Each expectation names the rule of the HTTP interface
 * (https://clickhouse.com/docs/interfaces/http) it checks, so a fixture that drifts from ClickHouse
 * fails here rather than passing Assay's suite for the wrong reason.
 */
let fx: ClickHouseHttpFixture;
/** Errors are expected here: the client's own error log would only repeat them. */
const createClient = (o: Parameters<typeof create>[0]) => create({ ...o, log: { level: ClickHouseLogLevel.OFF } });
let client: ClickHouseClient;
/** A raw POST; credentials only where `init` brings them (or `password` in the URL). */
const q = (query: string, init: RequestInit = {}, url: Record<string, string> = {}) => fetch(`${fx.url}/?${new URLSearchParams({ query, ...url })}`, { method: 'POST', ...init });
const PW = { password: 'pw' };

beforeAll(async () => {
  fx = await startClickHouseHttpFixture({ password: 'pw' });
  client = createClient({ url: fx.url, password: 'pw' });
  await client.command({ query: 'CREATE DATABASE fx' });
  await client.command({ query: 'CREATE TABLE fx.metrics (id UUID, name String, v Float64, at DateTime64(6, \'UTC\')) ENGINE = MergeTree ORDER BY (id, name)' });
});
afterAll(async () => {
  await client?.close();
  await fx?.stop();
});

describe('ClickHouse HTTP test fixture', () => {
  it('answers /ping and GET / with "Ok." (HTTP: health checks)', async () => {
    for (const p of ['/ping', '/']) {
      const r = await fetch(fx.url + p);
      expect([r.status, await r.text()]).toEqual([200, 'Ok.\n']);
    }
    expect(await client.ping()).toEqual({ success: true });
  });

  it('binds param_<name> as typed values in the engine, never into the SQL text (HTTP: queries with parameters)', async () => {
    const nasty = "it's \\ a\ttab'); DROP TABLE fx.metrics; --";
    const rs = await client.query({
      query: 'SELECT {s:String} AS s, {ids:Array(String)} AS ids, {u:UUID} AS u, {n:UInt32} + 1 AS n, toTypeName({t:DateTime64(3)}) AS tt',
      format: 'JSONEachRow',
      query_params: { s: nasty, ids: ["a'b", 'c\\d'], u: '61f0c404-5cb3-11e7-907b-a6006ad3dba0', n: 41, t: '2024-01-02 03:04:05.678' },
    });
    expect(await rs.json()).toEqual([{ s: nasty, ids: ["a'b", 'c\\d'], u: '61f0c404-5cb3-11e7-907b-a6006ad3dba0', n: 42, tt: 'DateTime64(3)' }]);
    // A value that does not parse as its declared type is the engine's BAD_QUERY_PARAMETER (457);
    // a placeholder without its param_ is UNKNOWN_QUERY_PARAMETER (456).
    await expect(client.query({ query: 'SELECT {n:UInt32}', query_params: { n: 'abc' } })).rejects.toMatchObject({ code: '457', type: 'BAD_QUERY_PARAMETER' });
    await expect(client.query({ query: 'SELECT {n:UInt32}' })).rejects.toMatchObject({ code: '456', type: 'UNKNOWN_QUERY_PARAMETER' });
    expect((await (await client.query({ query: 'SELECT count() FROM fx.metrics', format: 'JSONCompactEachRow' })).json())).toEqual([[0]]);
  });

  it('takes parameters in a URI far over 16 KiB, as ClickHouse does up to http_max_uri_size (HTTP: queries with parameters)', async () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `61f0c404-5cb3-11e7-907b-${String(i).padStart(12, '0')}`); // ~80 KiB in the URL
    const rs = await client.query({ query: 'SELECT length({ids:Array(UUID)})', format: 'JSONCompactEachRow', query_params: { ids } });
    expect(await rs.json()).toEqual([[2000]]);
  });

  it('applies URL settings to that request only and refuses an unknown one (HTTP: settings as URL parameters)', async () => {
    const get = async (settings?: Record<string, unknown>) =>
      (await (await client.query({ query: "SELECT getSetting('max_execution_time') AS m, getSetting('log_comment') AS c", format: 'JSONEachRow', clickhouse_settings: settings as never })).json());
    expect(await get({ max_execution_time: 7, log_comment: 'tag', wait_end_of_query: 1 })).toEqual([{ m: 7, c: 'tag' }]);
    // Every session of the fixture, several times over: none keeps the earlier request's settings.
    for (let i = 0; i < 8; i++) expect(await get()).toEqual([{ m: 0, c: '' }]);
    await expect(client.query({ query: 'SELECT 1', clickhouse_settings: { no_such_setting: 1 } as never })).rejects.toMatchObject({ code: '115', type: 'UNKNOWN_SETTING' });
    await expect(client.query({ query: 'SELECT sleepEachRow(0.3) FROM numbers(10)', clickhouse_settings: { max_execution_time: 1 } })).rejects.toMatchObject({ code: '159', type: 'TIMEOUT_EXCEEDED' });
  });

  it('reads Native and JSONEachRow insert bodies with the engine, Native columns matched by name (HTTP: insert data in the POST body)', async () => {
    const ch = new ClickHouseStore({ client: createClient({ url: fx.url, password: 'pw', database: 'fx' }), kind: 'http' }, { maxExecutionSeconds: 5, maxMemoryBytes: 1e9 });
    try {
      const a = '00000000-0000-4000-8000-00000000000a';
      // The writer's own path: Native blocks, concatenated, as the body of INSERT … FORMAT Native.
      await insertNative(ch, 'metrics', [
        nativeBlock([['v', 'Float64'], ['name', 'String'], ['id', 'UUID'], ['at', "DateTime64(6, 'UTC')"]], [[1.5, 'loss', a, 1_700_000_000_000_001]]),
        nativeBlock([['id', 'UUID'], ['name', 'String'], ['v', 'Float64'], ['at', "DateTime64(6, 'UTC')"]], [[a, 'acc', -0, 1_700_000_000_000_002]]),
      ]);
      await ch.client.insert({ table: 'metrics', format: 'JSONEachRow', values: [{ name: 'lr', id: a, v: 0.25, at: '2023-11-14 22:13:20.000003' }] });
      const rs = await ch.client.query({ query: 'SELECT name, v, toUnixTimestamp64Micro(at) FROM metrics WHERE id = {id:UUID} ORDER BY at', query_params: { id: a }, format: 'JSONCompactEachRow' });
      const rows = await rs.json();
      // UInt64 as a JSON number: output_format_json_quote_64bit_integers defaults to 0 in this engine (26.x).
      expect(rows).toEqual([['loss', 1.5, 1700000000000001], ['acc', -0, 1700000000000002], ['lr', 0.25, 1700000000000003]]);
      // A malformed body is the input format's error, raised by the engine.
      await expect(ch.client.exec({ query: 'INSERT INTO metrics FORMAT Native', values: Buffer.from([1, 1, 2, 0x69]) as never })).rejects.toMatchObject({ code: expect.stringMatching(/^\d+$/) });
    } finally {
      await ch.close();
    }
  });

  it('answers errors as ClickHouse does: status, X-ClickHouse-Exception-Code, "Code: N. DB::Exception: … (NAME) (version …)" (HTTP: response codes)', async () => {
    const r = await q('SELECT * FROM fx.nope', {}, PW);
    expect(r.status).toBe(404); // exceptionCodeToHTTPStatus: UNKNOWN_TABLE → 404
    expect(r.headers.get('x-clickhouse-exception-code')).toBe('60');
    expect(await r.text()).toMatch(/^Code: 60\. DB::Exception: .*\(UNKNOWN_TABLE\) \(version [^)]+\)\)?\n$/);
    const syntax = await q('SELEC 1', {}, PW);
    expect([syntax.status, syntax.headers.get('x-clickhouse-exception-code')]).toEqual([400, '62']);
    await expect(client.query({ query: 'SELECT * FROM fx.nope' })).rejects.toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
    // What the fixture does not implement is refused, never half-done: NOT_IMPLEMENTED → 501.
    const session = await q('SELECT 1', {}, { ...PW, session_id: 's1' });
    expect([session.status, session.headers.get('x-clickhouse-exception-code')]).toEqual([501, '48']);
    // HTTP: "requests using GET are readonly".
    const get = await fetch(`${fx.url}/?${new URLSearchParams({ query: 'CREATE TABLE fx.x (a UInt8) ENGINE = Memory', password: 'pw' })}`);
    expect([get.status, get.headers.get('x-clickhouse-exception-code')]).toEqual([500, '164']);
  });

  it('authenticates by Basic, X-ClickHouse-User/Key or URL parameters, and refuses a wrong password (HTTP: authentication)', async () => {
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    expect((await q('SELECT 1', { headers: basic('default', 'pw') })).status).toBe(200);
    expect((await q('SELECT 1', { headers: { 'x-clickhouse-user': 'default', 'x-clickhouse-key': 'pw' } })).status).toBe(200);
    const wrong = await q('SELECT 1', { headers: basic('default', 'nope') });
    expect([wrong.status, wrong.headers.get('x-clickhouse-exception-code')]).toEqual([403, '516']);
    const none = await q('SELECT 1'); // no credentials: user default without a password
    expect(none.status).toBe(403);
  });

  it('runs a request in its `database` and refuses one that does not exist (HTTP: the database parameter)', async () => {
    const inFx = createClient({ url: fx.url, password: 'pw', database: 'fx' });
    const missing = createClient({ url: fx.url, password: 'pw', database: 'not_there' });
    try {
      expect(await (await inFx.query({ query: 'SELECT currentDatabase()', format: 'JSONCompactEachRow' })).json()).toEqual([['fx']]);
      await expect(missing.command({ query: 'SELECT 1' })).rejects.toMatchObject({ code: '81', type: 'UNKNOWN_DATABASE' });
      expect(await (await client.query({ query: 'SELECT currentDatabase()', format: 'JSONCompactEachRow' })).json()).toEqual([['default']]);
    } finally {
      await inFx.close();
      await missing.close();
    }
  });

  it('formats results as the FORMAT clause or default_format asks, TabSeparated otherwise (HTTP: formats)', async () => {
    expect(await (await q('SELECT 1 AS a, \'x\' AS b', {}, PW)).text()).toBe('1\tx\n');
    expect(await (await q('SELECT 1 AS a', { headers: { 'x-clickhouse-key': 'pw' } })).text()).toBe('1\n');
    const json = await (await client.query({ query: 'SELECT 1 AS a', format: 'JSON' })).json<{ a: number }>();
    expect([json.meta, json.data, json.rows]).toEqual([[{ name: 'a', type: 'UInt8' }], [{ a: 1 }], 1]);
    const r = await fetch(`${fx.url}/?${new URLSearchParams({ query: 'SELECT 2 AS a', default_format: 'JSONCompactEachRow', password: 'pw' })}`);
    expect(await r.text()).toBe('[2]\n');
  });

  it('runs statements side by side, each answer its own, and stop() removes its data dir', async () => {
    const t0 = Date.now();
    const slow = await Promise.all([0, 1, 2, 3].map((i) => client.query({ query: `SELECT ${i} + sleepEachRow(0.5) FROM numbers(1)`, format: 'JSONCompactEachRow' }).then((rs) => rs.json())));
    expect(slow).toEqual([[[0]], [[1]], [[2]], [[3]]]);
    expect(Date.now() - t0).toBeLessThan(1800); // four 0.5 s statements, not one after another
    const bound = await Promise.all(Array.from({ length: 12 }, (_, i) => client.query({ query: 'SELECT {i:UInt8} * 2', format: 'JSONCompactEachRow', query_params: { i } }).then((rs) => rs.json())));
    expect(bound).toEqual(Array.from({ length: 12 }, (_, i) => [[i * 2]]));

    const other = await startClickHouseHttpFixture();
    expect(fs.existsSync(other.dataDir)).toBe(true);
    await other.stop();
    expect(fs.existsSync(other.dataDir)).toBe(false);
    expect(() => process.kill(other.pid, 0)).toThrow();
  });
});
